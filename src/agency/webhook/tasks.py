"""Delivering webhooks: the job, the scheduler's claim of due deliveries, the retention purge.

The database decides. A delivery is sent by ``webhook.deliver`` as soon as its event is
committed; a failed attempt sets ``next_attempt_at`` and the scheduler's claimer enqueues the
delivery again when that time comes. The claimer also re-sends deliveries whose message was
lost, once their lease has run out. The job re-reads the row and acts only when the row is
still pending at the attempt its message names, so a duplicate message does nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from agency.kernel.db import utcnow
from agency.kernel.jobs import enqueue, job
from agency.kernel.runtime import Runtime
from agency.kernel.scheduling import claimer, periodic
from agency.kernel.tenancy import Subject, bind_system, bind_tenant
from agency.webhook.delivery import Attempt, give_up, send, settle
from agency.webhook.events import DELIVER_JOB, lease
from agency.webhook.repository import (
    DeliveryRepository,
    EventRepository,
    SubscriptionRepository,
    claim_due_deliveries,
    purge_events,
)
from agency.webhook.service import live_secrets

CLAIM_BATCH = 500
# Events and their delivery log are kept this long.
RETENTION = timedelta(days=30)

periodic("webhook.purge", every=timedelta(hours=1))


@claimer("webhook.deliveries")
async def claim_deliveries(session: AsyncSession, runtime: Runtime, now: datetime) -> int:
    settings = runtime.settings.webhooks
    claimed = await claim_due_deliveries(session, now, lease(settings), CLAIM_BATCH)
    for agency_id, delivery_id, attempts in claimed:
        enqueue(DELIVER_JOB, str(agency_id), str(delivery_id), attempts)
    return len(claimed)


@job(DELIVER_JOB, queue="webhooks", max_retries=0)
async def deliver(
    session: AsyncSession, runtime: Runtime, agency_id: str, delivery_id: str, attempt: int
) -> None:
    """Attempt number ``attempt + 1`` of one delivery, unless the row says it is not due."""
    settings = runtime.settings.webhooks
    agency = uuid.UUID(agency_id)
    subject = Subject(agency_id=agency, kind="system")
    deliveries = DeliveryRepository(session, subject)

    await bind_tenant(session, agency)
    delivery = await deliveries.get_for_update(uuid.UUID(delivery_id))
    if delivery is None or delivery.status != "pending" or delivery.attempts != attempt:
        return  # delivered, given up, or another message already made this attempt
    subscription = await SubscriptionRepository(session, subject).find(delivery.subscription_id)
    now = utcnow()
    if subscription is None or not subscription.enabled:
        give_up(delivery, "Not sent: the subscription was disabled.")
        return
    if delivery.attempts > len(settings.retry_delays_seconds):
        # Attempts whose outcome was never recorded (workers dying mid-call) count too.
        give_up(delivery, "Given up: no outcome could be recorded for the last attempts.")
        return
    event = await EventRepository(session, subject).get(delivery.event_id)
    target = Attempt(
        subscription.url, event.id, event.body, live_secrets(subscription, runtime.secrets, now)
    )
    delivery.attempts += 1
    delivery.last_attempt_at = now
    # Should this worker die mid-call, the scheduler tries again once the lease is over.
    delivery.next_attempt_at = now + lease(settings)
    await session.commit()  # no transaction stays open while the receiver answers

    outcome = await send(target, settings, runtime.outbound)

    await bind_tenant(session, agency)
    delivery = await deliveries.get_for_update(uuid.UUID(delivery_id))
    if delivery is None or delivery.status != "pending" or delivery.attempts != attempt + 1:
        return  # our lease ran out and another attempt took over: it records its own outcome
    settle(delivery, outcome, settings, utcnow())


@job("webhook.purge", max_retries=0)
async def purge(session: AsyncSession, runtime: Runtime) -> None:
    await bind_system(session)
    await purge_events(session, utcnow() - RETENTION)
