"""Publishing domain events to the agency's webhook subscriptions (transactional outbox).

:func:`emit` writes the event and one delivery per interested subscription in the caller's
transaction and buffers the delivery jobs, which leave for the broker only once that
transaction commits: a rolled-back change sends nothing, a committed one is delivered even
if its message is lost (the scheduler finds the pending delivery again).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum
from typing import TypeVar

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
    # The media could not be uploaded ahead: they go up with the post at its time.
    PUBLICATION_MEDIA_STAGING_FAILED = "publication.media_staging_failed"
    CHANNEL_NEEDS_RECONNECT = "channel.needs_reconnect"
    REPORT_SENT = "report.sent"
    REPORT_FAILED = "report.failed"
    CRISIS_STARTED = "crisis.started"
    CRISIS_ENDED = "crisis.ended"
    APPROVAL_REQUESTED = "approval.requested"
    APPROVAL_DECIDED = "approval.decided"
    APPROVAL_OVERDUE = "approval.overdue"
    INBOX_DEADLINE_NEAR = "inbox.deadline_near"
    INBOX_DEADLINE_BREACHED = "inbox.deadline_breached"


EVENT_TYPES: tuple[str, ...] = tuple(t.value for t in EventType)
# Sent by ``POST /webhooks/{id}/ping`` to that subscription alone; not a type to subscribe to.
PING = "webhook.ping"


class DeliveredEventType(StrEnum):
    """What a delivery can carry: every :class:`EventType`, and the ping (a test holds the
    two together)."""

    PUBLICATION_SCHEDULED = EventType.PUBLICATION_SCHEDULED.value
    PUBLICATION_PUBLISHED = EventType.PUBLICATION_PUBLISHED.value
    PUBLICATION_FAILED = EventType.PUBLICATION_FAILED.value
    PUBLICATION_UNKNOWN = EventType.PUBLICATION_UNKNOWN.value
    PUBLICATION_MISSED = EventType.PUBLICATION_MISSED.value
    PUBLICATION_CANCELED = EventType.PUBLICATION_CANCELED.value
    PUBLICATION_MEDIA_STAGING_FAILED = EventType.PUBLICATION_MEDIA_STAGING_FAILED.value
    CHANNEL_NEEDS_RECONNECT = EventType.CHANNEL_NEEDS_RECONNECT.value
    CRISIS_STARTED = EventType.CRISIS_STARTED.value
    CRISIS_ENDED = EventType.CRISIS_ENDED.value
    APPROVAL_REQUESTED = EventType.APPROVAL_REQUESTED.value
    APPROVAL_DECIDED = EventType.APPROVAL_DECIDED.value
    APPROVAL_OVERDUE = EventType.APPROVAL_OVERDUE.value
    INBOX_DEADLINE_NEAR = EventType.INBOX_DEADLINE_NEAR.value
    INBOX_DEADLINE_BREACHED = EventType.INBOX_DEADLINE_BREACHED.value
    REPORT_SENT = EventType.REPORT_SENT.value
    REPORT_FAILED = EventType.REPORT_FAILED.value
    WEBHOOK_PING = PING


DELIVER_JOB = "webhook.deliver"

S = TypeVar("S", bound=type[msgspec.Struct])
# What ``data`` holds for each event type: the OpenAPI document's ``webhooks`` section is
# written from it, and :func:`emit` refuses data of another shape.
PAYLOADS: dict[str, type[msgspec.Struct]] = {}


def payload_of(*event_types: str) -> Callable[[S], S]:
    """Declare a Struct as the ``data`` of ``event_types``."""

    def register(struct: S) -> S:
        for event_type in event_types:
            if PAYLOADS.get(event_type, struct) is not struct:
                raise ValueError(f"{event_type} already has a payload: {PAYLOADS[event_type]}")
            PAYLOADS[event_type] = struct
        return struct

    return register


@payload_of(PING)
class PingData(msgspec.Struct, kw_only=True):
    """``webhook.ping``: a test of the receiving endpoint."""

    webhook_id: uuid.UUID
    message: str


def lease(settings: WebhookSettings) -> timedelta:
    """How long a delivery in flight (queued or calling) is left alone by the scheduler."""
    return timedelta(seconds=settings.timeout_seconds + 30)


async def emit(
    session: AsyncSession,
    agency_id: uuid.UUID,
    event_type: str,
    data: msgspec.Struct,
    webhooks: WebhookSettings,
) -> None:
    """Record ``event_type`` for the agency in the current transaction (delivered after commit).

    Works in a session bound to the agency or to the system. ``data`` is the Struct declared
    for the type with :func:`payload_of`. Call it inside a request, a job or a claimer: their
    transaction sends the jobs.
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


def new_event(agency_id: uuid.UUID, event_type: str, data: msgspec.Struct) -> WebhookEvent:
    declared = PAYLOADS.get(event_type)
    if type(data) is not declared:
        raise TypeError(f"{event_type} carries {declared}, not {type(data)}: see payload_of")
    now = utcnow()
    body = msgspec.json.encode({"type": event_type, "timestamp": now, "data": data})
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
