"""Report e-mails, exactly once per schedule and period: the scheduler's claim, the job that
renders a run into one e-mail per recipient, and the job told when each e-mail is settled.

1. The claimer locks due schedules (``FOR UPDATE SKIP LOCKED``), inserts one run for the
   latest firing (the database refuses a second run of a schedule for the same period, so
   replicas and restarts cannot double it; after downtime only the latest missed firing is
   sent), and moves the schedule to its next firing. In the same transaction it leases the
   pending runs whose time has come and enqueues them; a lost message is re-sent when the
   lease ends.
2. ``report_mail.render`` locks the run: only a ``pending`` run at the attempt its message
   names is rendered. A run whose figures are still being collected waits (``not_before``
   moves on). Otherwise the report is read once, rendered once per language, and one
   e-mail per recipient is queued with a delivery row, and the run becomes ``queued``, all
   in one transaction: a worker that dies before the commit leaves nothing behind and the
   run is claimed again; after it, the e-mails exist once and the mail path sends each at
   most once (docs/mail.md).
3. ``report_mail.delivery_settled`` copies each e-mail's outcome to its delivery; the last
   one settles the run (``sent`` or ``failed``) and emits ``report.sent`` or
   ``report.failed``, under the run's lock so that the event is emitted once.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from agency.brand.repository import BrandRepository
from agency.kernel.db import utcnow
from agency.kernel.jobs import enqueue, job
from agency.kernel.runtime import Runtime
from agency.kernel.scheduling import backlog, claimer
from agency.kernel.tenancy import Subject, bind_tenant
from agency.mail.models import MAIL_FINAL
from agency.mail.repository import MailRepository
from agency.mail.service import queue_message
from agency.report_mail.letters import editions, write_letter
from agency.report_mail.models import DeliveryState, ReportDelivery, ReportRun, RunState
from agency.report_mail.recipients import receiving, recipients_of
from agency.report_mail.repository import (
    CollectionRepository,
    DeliveryRepository,
    ReportSweepRepository,
    RunRepository,
    ScheduleRepository,
)
from agency.report_mail.schemas import PeriodData, RecipientData, RecipientKind, ReportData
from agency.report_mail.service import RENDER_JOB
from agency.report_mail.timing import (
    last_firing,
    local_day,
    next_firing,
    period_end_instant,
    period_of,
    rule_of,
)
from agency.webhook.events import emit

logger = logging.getLogger("agency.report_mail")
SETTLED_JOB = "report_mail.delivery_settled"
CLAIM_BATCH = 200


@claimer("report_mail")
async def claim_reports(session: AsyncSession, runtime: Runtime, now: datetime) -> int:
    settings = runtime.settings.report_mail
    sweep = ReportSweepRepository(session)
    schedules = await sweep.due_schedules(now, CLAIM_BATCH)
    for schedule, timezone, archived in schedules:
        zone = ZoneInfo(timezone)
        try:
            rule = rule_of(schedule.rule, schedule.starts_on, zone)
        except Exception:  # a rule valid when saved that no longer expands: stop it, say so
            logger.warning("report schedule %s: its rule no longer expands", schedule.id)
            schedule.next_run_at = None
            continue
        fired = last_firing(rule, now, zone) or schedule.next_run_at
        schedule.next_run_at = next_firing(rule, now, zone)
        if archived or fired is None:
            continue  # an archived brand's reports are not sent; its schedule stays
        start, end = period_of(schedule.period, local_day(fired, zone))
        ready = period_end_instant(end, zone) + timedelta(hours=schedule.data_delay_hours)
        run = ReportRun(
            agency_id=schedule.agency_id,
            schedule_id=schedule.id,
            brand_id=schedule.brand_id,
            schedule_name=schedule.name,
            key=f"schedule:{start}/{end}",
            trigger="schedule",
            period_start=start,
            period_end=end,
            not_before=max(fired, ready),
        )
        await sweep.add_run(run)  # False: this period was already sent (or is on its way)
    lease = timedelta(seconds=settings.lease_seconds)
    runs = await sweep.claim_runs(now, lease, CLAIM_BATCH)
    for agency_id, run_id, attempts in runs:
        enqueue(RENDER_JOB, str(agency_id), str(run_id), attempts)
    if len(schedules) >= CLAIM_BATCH or len(runs) >= CLAIM_BATCH:
        backlog("report_mail")
    return len(schedules) + len(runs)


@job(RENDER_JOB, queue="reports", max_retries=0)
async def render(
    session: AsyncSession, runtime: Runtime, agency_id: str, run_id: str, attempt: int
) -> None:
    """Turn a due run into one queued e-mail per recipient, once."""
    agency, key = uuid.UUID(agency_id), uuid.UUID(run_id)
    subject = Subject(agency_id=agency, kind="system")
    runs = RunRepository(session, subject)
    await bind_tenant(session, agency)
    run = await runs.get_for_update(key)
    if run is None or run.status != RunState.PENDING or run.attempts != attempt:
        return  # done, or another message already made this attempt
    try:
        await _render(session, runtime, subject, run)
    except Exception as exc:
        await session.rollback()
        logger.exception("report run %s could not be rendered", run_id)
        await _failed_attempt(session, runtime, subject, key, attempt, exc)


async def _render(
    session: AsyncSession, runtime: Runtime, subject: Subject, run: ReportRun
) -> None:
    settings = runtime.settings.report_mail
    now = utcnow()
    schedule = (
        await ScheduleRepository(session, subject).find(run.schedule_id)
        if run.schedule_id
        else None
    )
    brand = await BrandRepository(session, subject).find(run.brand_id) if run.brand_id else None
    if schedule is None or brand is None or brand.archived_at is not None:
        why = "its schedule was deleted" if schedule is None else "the brand was archived"
        await _finish(session, runtime, run, RunState.CANCELED, f"Not sent: {why}.")
        return
    zone = ZoneInfo(brand.timezone)
    if run.trigger == "schedule":
        end = period_end_instant(run.period_end, zone)
        behind = await CollectionRepository(session, subject).pulls_behind(
            brand.id, run.period_start, end, now
        )
        waited = now - max(run.created_at, end)
        if behind and waited < timedelta(hours=settings.max_wait_hours):
            run.not_before = now + timedelta(minutes=settings.recheck_minutes)
            run.lease_until = None
            run.note = f"Waiting for the metrics still being collected ({behind} pulls due)."
            return
        if behind:
            run.note = f"Sent after {settings.max_wait_hours:g} h with {behind} pulls still due."
    people = receiving(await recipients_of(session, subject, schedule))
    if not people:
        await _finish(
            session,
            runtime,
            run,
            RunState.CANCELED,
            "Not sent: nobody receives it (none confirmed, or all unsubscribed).",
        )
        return
    found, branding = await editions(
        session,
        subject.agency_id,
        runtime,
        schedule,
        brand,
        (run.period_start, run.period_end),
        [p.locale for p in people],
    )
    deliveries = DeliveryRepository(session, subject)
    for person in people:
        message = write_letter(
            runtime, subject.agency_id, schedule, run.id, found[person.locale], person, branding
        )
        mail = await queue_message(
            session,
            subject,
            runtime.secrets,
            message,
            template="report",
            locale=person.locale,
            settings=runtime.settings.mail,
            on_settled=SETTLED_JOB,
        )
        await deliveries.add(
            ReportDelivery(
                run_id=run.id,
                schedule_id=schedule.id,
                mail_id=mail.id,
                email=person.email,
                name=person.name,
                kind=person.kind,
                locale=person.locale,
            )
        )
    run.attempts += 1
    run.status, run.lease_until = RunState.QUEUED, None


async def _failed_attempt(
    session: AsyncSession,
    runtime: Runtime,
    subject: Subject,
    key: uuid.UUID,
    attempt: int,
    exc: Exception,
) -> None:
    """Count the attempt; the scheduler tries again after the lease, up to the limit."""
    await bind_tenant(session, subject.agency_id)
    run = await RunRepository(session, subject).get_for_update(key)
    if run is None or run.status != RunState.PENDING or run.attempts != attempt:
        return
    run.attempts += 1
    run.note = f"Could not be rendered: {type(exc).__name__}: {exc}"[:2000]
    if run.attempts >= runtime.settings.report_mail.max_attempts:
        await _finish(session, runtime, run, RunState.FAILED, run.note)


async def _finish(
    session: AsyncSession, runtime: Runtime, run: ReportRun, status: str, note: str | None
) -> None:
    run.status, run.note, run.finished_at, run.lease_until = status, note, utcnow(), None
    deliveries = await DeliveryRepository(
        session, Subject(agency_id=run.agency_id, kind="system")
    ).of_run(run.id)
    event = "report.sent" if status == RunState.SENT else "report.failed"
    await emit(
        session,
        run.agency_id,
        event,
        ReportData(
            run_id=run.id,
            schedule_id=run.schedule_id,
            brand_id=run.brand_id,
            schedule=run.schedule_name,
            trigger=run.trigger,
            period=PeriodData(start=run.period_start, end=run.period_end),
            status=RunState(status),
            note=note,
            deliveries=[
                RecipientData(
                    email=d.email,
                    kind=RecipientKind(d.kind),
                    status=DeliveryState(d.status),
                    detail=d.detail,
                )
                for d in deliveries
            ],
        ),
        runtime.settings.webhooks,
    )


@job(SETTLED_JOB, queue="reports", max_retries=3)
async def delivery_settled(
    session: AsyncSession, runtime: Runtime, agency_id: str, mail_id: str
) -> None:
    """One e-mail of a run is settled: note it; the last one settles the run."""
    agency = uuid.UUID(agency_id)
    subject = Subject(agency_id=agency, kind="system")
    await bind_tenant(session, agency)
    deliveries = DeliveryRepository(session, subject)
    delivery = await deliveries.of_mail(uuid.UUID(mail_id))
    if delivery is None:
        return
    run = await RunRepository(session, subject).get_for_update(delivery.run_id)
    mail = await MailRepository(session, subject).find(uuid.UUID(mail_id))
    if run is None or mail is None or mail.status not in MAIL_FINAL:
        return
    if delivery.status == "queued":
        delivery.status, delivery.detail, delivery.settled_at = (
            mail.status,
            mail.last_error,
            utcnow(),
        )
        await deliveries.flush()
    if run.status != RunState.QUEUED or await deliveries.unsettled(run.id):
        return
    outcomes = {d.status for d in await deliveries.of_run(run.id)}
    if outcomes == {"canceled"}:
        await _finish(
            session,
            runtime,
            run,
            RunState.CANCELED,
            "Not sent: every recipient unsubscribed before it left.",
        )
    elif outcomes <= {"sent", "canceled"}:
        await _finish(session, runtime, run, RunState.SENT, run.note)
    else:
        await _finish(
            session,
            runtime,
            run,
            RunState.FAILED,
            "Some recipients did not get it: see the deliveries.",
        )
