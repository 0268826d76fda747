"""The inbox as due work: channels followed, pulls claimed, answers sent.

- ``inbox.follow`` (periodic, every minute): connected channels on networks that give
  comments start being read.
- The ``inbox_pulls`` claim leases due channels (``FOR UPDATE SKIP LOCKED``) and enqueues
  them per agency in batches (``inbox.pull``); a lost message is claimed again when its
  lease ends, a duplicate finds its channels no longer due.
- The ``inbox_answers`` claim re-sends queued answers a lost message left behind, answers in
  doubt to reconcile, and calls whose worker died (``sending`` past their lease).
- The ``inbox_moderations`` claim brings back hides and deletes due again (after a 429 or a
  5xx) or whose worker died mid-call (``inbox.moderate``, :mod:`agency.inbox.moderating`).
- The ``inbox_deadlines`` claim tells the team of answer deadlines near and past, once each
  (:mod:`agency.inbox.deadlines`), in its own transaction.
- They run on their own queue, ``inbox``: reading comments never delays a post.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from agency.connector.base import Capability
from agency.inbox.answering import Sender
from agency.inbox.collecting import Collector
from agency.inbox.deadlines import watch
from agency.inbox.moderating import Moderator
from agency.inbox.repository import InboxSweepRepository
from agency.kernel.db import utcnow
from agency.kernel.jobs import enqueue, job
from agency.kernel.runtime import Runtime
from agency.kernel.scheduling import backlog, claimer, periodic
from agency.kernel.tenancy import bind_system

QUEUE = "inbox"
FOLLOW_EVERY = timedelta(minutes=1)
FOLLOW_BATCH = 2000

periodic("inbox.follow", every=FOLLOW_EVERY)


@claimer("inbox_pulls")
async def claim_pulls(session: AsyncSession, runtime: Runtime, now: datetime) -> int:
    settings = runtime.settings.inbox
    lease = now + timedelta(seconds=settings.lease_seconds)
    rows = await InboxSweepRepository(session).claim_pulls(now, lease, settings.claim_batch)
    if len(rows) >= settings.claim_batch:
        backlog("inbox_pulls")
    by_agency: dict[uuid.UUID, list[str]] = defaultdict(list)
    for agency_id, channel_id in rows:
        by_agency[agency_id].append(str(channel_id))
    for agency_id, ids in by_agency.items():
        for start in range(0, len(ids), settings.pull_batch):
            enqueue("inbox.pull", str(agency_id), ids[start : start + settings.pull_batch])
    return len(rows)


@claimer("inbox_answers")
async def claim_answers(session: AsyncSession, runtime: Runtime, now: datetime) -> int:
    settings = runtime.settings.inbox
    lease = now + timedelta(seconds=settings.lease_seconds)
    rows = await InboxSweepRepository(session).claim_answers(now, lease, settings.claim_batch)
    if len(rows) >= settings.claim_batch:
        backlog("inbox_answers")
    for agency_id, answer_id, _ in rows:
        enqueue("inbox.send_answer", str(agency_id), str(answer_id))
    return len(rows)


@claimer("inbox_moderations")
async def claim_moderations(session: AsyncSession, runtime: Runtime, now: datetime) -> int:
    settings = runtime.settings.inbox
    lease = now + timedelta(seconds=settings.lease_seconds)
    rows = await InboxSweepRepository(session).claim_moderations(now, lease, settings.claim_batch)
    if len(rows) >= settings.claim_batch:
        backlog("inbox_moderations")
    for agency_id, moderation_id in rows:
        enqueue("inbox.moderate", str(agency_id), str(moderation_id))
    return len(rows)


@claimer("inbox_deadlines")
async def claim_deadlines(session: AsyncSession, runtime: Runtime, now: datetime) -> int:
    batch = runtime.settings.inbox.claim_batch
    told = await watch(session, runtime, now, batch)
    if told >= batch:
        backlog("inbox_deadlines")
    return told


@job("inbox.pull", queue=QUEUE, max_retries=0)
async def pull(
    session: AsyncSession, runtime: Runtime, agency_id: str, channel_ids: list[str]
) -> None:
    """No Dramatiq retry: the rows say what is due, and the claim sends it again."""
    collector = Collector(session, uuid.UUID(agency_id), runtime)
    await collector.pull([uuid.UUID(c) for c in channel_ids])


@job("inbox.send_answer", queue=QUEUE, max_retries=0)
async def send_answer(
    session: AsyncSession, runtime: Runtime, agency_id: str, answer_id: str
) -> None:
    """No Dramatiq retry either: a retry could answer twice; the row decides."""
    await Sender(session, uuid.UUID(agency_id), runtime).run(uuid.UUID(answer_id))


@job("inbox.moderate", queue=QUEUE, max_retries=0)
async def moderate(
    session: AsyncSession, runtime: Runtime, agency_id: str, moderation_id: str
) -> None:
    """No Dramatiq retry: the row says what is due, and the claim brings it back."""
    await Moderator(session, uuid.UUID(agency_id), runtime).run(uuid.UUID(moderation_id))


@job("inbox.follow", max_retries=0)
async def follow(session: AsyncSession, runtime: Runtime) -> None:
    await follow_new(session, runtime, utcnow())


async def follow_new(session: AsyncSession, runtime: Runtime, now: datetime) -> int:
    """Connected channels whose network gives comments start being read now."""
    await bind_system(session)
    networks = [
        name
        for name, connector in runtime.connectors.items()
        if Capability.COMMENTS in connector.capabilities
    ]
    if not networks:
        return 0
    sweep = InboxSweepRepository(session)
    rows = await sweep.channels_unfollowed(networks, FOLLOW_BATCH)
    await sweep.follow(
        [
            {
                "id": channel_id,
                "agency_id": agency_id,
                "brand_id": brand_id,
                "network": network,
                "next_pull_at": now,
                "created_at": now,
            }
            for agency_id, channel_id, brand_id, network in rows
        ]
    )
    return len(rows)
