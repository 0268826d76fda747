"""The scheduler's claim of approval deadlines, and the jobs that act on them.

One claimer, each pass in its transaction: steps whose deadlines were computed for another
publication time get them again; reminders and escalations that are due, and rounds whose
publication's time has come, are marked (so no other scheduler takes them) and handed to a
job. A marked row whose job message is lost is not sent again: a missed reminder is the
price, never a second one.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from agency.approval.deadlines import HELD, Deadlines
from agency.approval.engine import deadlines
from agency.approval.repository import ApprovalSweepRepository
from agency.kernel.jobs import enqueue, job
from agency.kernel.runtime import Runtime
from agency.kernel.scheduling import backlog, claimer
from agency.kernel.tenancy import bind_tenant

BATCH = 200


@claimer("approvals")
async def claim_approval_deadlines(session: AsyncSession, runtime: Runtime, now: datetime) -> int:
    sweep = ApprovalSweepRepository(session)
    untimed = await sweep.untimed(BATCH)
    for step, scheduled_at in untimed:
        deadlines(step, scheduled_at)
        if step.remind_at is None or step.remind_at > now:
            step.reminded_at = None  # moved later: remind again at the new time
    remind = await sweep.to_remind(now, BATCH)
    for step in remind:
        step.reminded_at = now
        enqueue("approval.remind", str(step.agency_id), str(step.id))
    overdue = await sweep.overdue(now, BATCH)
    for step in overdue:
        step.escalated_at = now
        enqueue("approval.escalate", str(step.agency_id), str(step.id))
    given_a_new_time = await sweep.held_with_a_new_time(now, BATCH)
    for round_ in given_a_new_time:
        round_.held_at = None  # held again, and the team told again, if that time passes too
    await sweep.clear_hold([r.publication_id for r in given_a_new_time], HELD)
    late = await sweep.past_their_time(now, BATCH)
    for round_ in late:
        round_.held_at = now
        enqueue("approval.hold", str(round_.agency_id), str(round_.id))
    counts = [len(untimed), len(remind), len(overdue), len(given_a_new_time), len(late)]
    if BATCH in counts:
        backlog("approvals")
    return sum(counts)


@job("approval.remind")
async def remind(session: AsyncSession, runtime: Runtime, agency_id: str, step_id: str) -> None:
    await bind_tenant(session, uuid.UUID(agency_id))
    await Deadlines(session, uuid.UUID(agency_id), runtime).remind(uuid.UUID(step_id))


@job("approval.escalate")
async def escalate(session: AsyncSession, runtime: Runtime, agency_id: str, step_id: str) -> None:
    await bind_tenant(session, uuid.UUID(agency_id))
    await Deadlines(session, uuid.UUID(agency_id), runtime).escalate(uuid.UUID(step_id))


@job("approval.hold")
async def hold(session: AsyncSession, runtime: Runtime, agency_id: str, round_id: str) -> None:
    await bind_tenant(session, uuid.UUID(agency_id))
    await Deadlines(session, uuid.UUID(agency_id), runtime).hold(uuid.UUID(round_id))
