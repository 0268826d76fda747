"""Publishing domain events to the agency's webhook subscriptions (transactional outbox).

:func:`emit` writes the event and one delivery per interested subscription in the caller's
transaction and buffers the delivery jobs, which leave for the broker only once that
transaction commits: a rolled-back change sends nothing, a committed one is delivered even
if its message is lost (the scheduler finds the pending delivery again).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from agency.config import WebhookSettings
from agency.kernel.db import new_id, utcnow
from agency.kernel.jobs import enqueue
from agency.kernel.tenancy import Subject
from agency.webhook.models import WebhookDelivery, WebhookEvent, WebhookSubscription
from agency.webhook.repository import SubscriptionRepository


class EventType(StrEnum):
    PUBLICATION_SCHEDULED = "publication.scheduled"
    PUBLICATION_PUBLISHED = "publication.published"
    PUBLICATION_FAILED = "publication.failed"
    PUBLICATION_UNKNOWN = "publication.unknown"
    PUBLICATION_MISSED = "publication.missed"
    PUBLICATION_CANCELED = "publication.canceled"
    CHANNEL_NEEDS_RECONNECT = "channel.needs_reconnect"
    REPORT_SENT = "report.sent"
    REPORT_FAILED = "report.failed"
    CRISIS_STARTED = "crisis.started"
    CRISIS_ENDED = "crisis.ended"
    APPROVAL_REQUESTED = "approval.requested"
    APPROVAL_DECIDED = "approval.decided"
    APPROVAL_OVERDUE = "approval.overdue"


EVENT_TYPES: tuple[str, ...] = tuple(t.value for t in EventType)
# Sent by ``POST /webhooks/{id}/ping`` to that subscription alone; not a type to subscribe to.
PING = "webhook.ping"

DELIVER_JOB = "webhook.deliver"


def lease(settings: WebhookSettings) -> timedelta:
    """How long a delivery in flight (queued or calling) is left alone by the scheduler."""
    return timedelta(seconds=settings.timeout_seconds + 30)


async def emit(
    session: AsyncSession,
    agency_id: uuid.UUID,
    event_type: str,
    data: Mapping[str, Any],
    webhooks: WebhookSettings,
) -> None:
    """Record ``event_type`` for the agency in the current transaction (delivered after commit).

    Works in a session bound to the agency or to the system. ``data`` must be JSON-encodable
    (str, numbers, bools, None, lists, dicts; UUIDs and aware datetimes are written as
    strings). Call it inside a request, a job or a claimer: their transaction sends the jobs.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}; add it to EventType")
    # Built first: data that is not JSON fails here, whether or not anyone subscribed.
    event = new_event(agency_id, EventType(event_type).value, data)
    targets = await SubscriptionRepository(session, Subject(agency_id, "system")).interested_in(
        event.type
    )
    if not targets:
        return
    session.add(event)
    for subscription in targets:
        queue_delivery(session, event, subscription, webhooks)


async def has_subscribers(session: AsyncSession, agency_id: uuid.UUID) -> bool:
    """Whether the agency has any enabled subscription (a batch asks once, not per event)."""
    return await SubscriptionRepository(session, Subject(agency_id, "system")).any_enabled()


def new_event(agency_id: uuid.UUID, event_type: str, data: Mapping[str, Any]) -> WebhookEvent:
    now = utcnow()
    body = msgspec.json.encode({"type": event_type, "timestamp": now, "data": dict(data)})
    return WebhookEvent(
        id=new_id(), agency_id=agency_id, type=event_type, body=body.decode(), created_at=now
    )


def queue_delivery(
    session: AsyncSession,
    event: WebhookEvent,
    subscription: WebhookSubscription,
    webhooks: WebhookSettings,
    replay_of: uuid.UUID | None = None,
) -> WebhookDelivery:
    """A new pending delivery of ``event``, whose first attempt is sent after the commit."""
    now = utcnow()
    delivery = WebhookDelivery(
        id=new_id(),
        agency_id=event.agency_id,
        subscription_id=subscription.id,
        event_id=event.id,
        event_type=event.type,
        replay_of=replay_of,
        status="pending",
        attempts=0,
        # The message is on its way: the scheduler re-sends it only if it was lost.
        next_attempt_at=now + lease(webhooks),
        created_at=now,
    )
    session.add(delivery)
    enqueue(DELIVER_JOB, str(event.agency_id), str(delivery.id), 0)
    return delivery
