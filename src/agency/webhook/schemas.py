from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec

from agency.kernel.http import etag
from agency.kernel.schemas import Input, Output
from agency.webhook.events import DeliveredEventType, EventType
from agency.webhook.models import DeliveryStatus as DeliveryStatus
from agency.webhook.models import WebhookDelivery, WebhookSubscription
from agency.webhook.targets import MAX_URL_LENGTH

WebhookUrl = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description="Public https:// endpoint that receives the events.",
    ),
]
EventTypes = Annotated[
    list[EventType],
    msgspec.Meta(max_length=50, description="Only these event types; empty: every type."),
]
Description = Annotated[str, msgspec.Meta(max_length=500)]


class WebhookCreate(Input):
    url: WebhookUrl
    event_types: EventTypes = []
    description: Description = ""
    enabled: bool = True


class WebhookUpdate(Input):
    """Only the fields present change."""

    url: WebhookUrl | msgspec.UnsetType = msgspec.UNSET
    event_types: EventTypes | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET


class WebhookOut(Output):
    id: uuid.UUID
    url: str
    description: str
    event_types: list[EventType]
    enabled: bool
    created_at: datetime
    # Until then the secret replaced by the last rotation signs too.
    previous_secret_expires_at: datetime | None
    # What an edit sends in If-Match (the ETag its GET answers with), so a list can edit.
    etag: str

    @classmethod
    def fields_of(cls, s: WebhookSubscription) -> dict[str, Any]:
        return {
            "id": s.id,
            "url": s.url,
            "description": s.description,
            "event_types": [EventType(t) for t in s.event_types],
            "enabled": s.enabled,
            "created_at": s.created_at,
            "previous_secret_expires_at": s.previous_secret_expires_at,
            "etag": etag(s.version),
        }

    @classmethod
    def of(cls, s: WebhookSubscription) -> WebhookOut:
        return cls(**cls.fields_of(s))


class WebhookWithSecret(WebhookOut):
    """The answer of creation and rotation: the only times the secret is shown."""

    secret: str

    @classmethod
    def with_secret(cls, s: WebhookSubscription, secret: str) -> WebhookWithSecret:
        return cls(**cls.fields_of(s), secret=secret)


class WebhookPage(Output):
    items: list[WebhookOut]
    next_cursor: str | None


class DeliveryOut(Output):
    id: uuid.UUID
    webhook_id: uuid.UUID
    event_id: uuid.UUID  # the webhook-id header: the same for every delivery of the event
    event_type: DeliveredEventType
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    last_duration_ms: int | None
    delivered_at: datetime | None
    replay_of: uuid.UUID | None
    created_at: datetime

    @classmethod
    def fields_of(cls, d: WebhookDelivery) -> dict[str, Any]:
        return {
            "id": d.id,
            "webhook_id": d.subscription_id,
            "event_id": d.event_id,
            "event_type": DeliveredEventType(d.event_type),
            "status": DeliveryStatus(d.status),
            "attempts": d.attempts,
            "next_attempt_at": d.next_attempt_at,
            "last_attempt_at": d.last_attempt_at,
            "last_status_code": d.last_status_code,
            "last_error": d.last_error,
            "last_duration_ms": d.last_duration_ms,
            "delivered_at": d.delivered_at,
            "replay_of": d.replay_of,
            "created_at": d.created_at,
        }

    @classmethod
    def of(cls, d: WebhookDelivery) -> DeliveryOut:
        return cls(**cls.fields_of(d))


class DeliveryDetail(DeliveryOut):
    payload: dict[str, Any]  # the body sent: {"type", "timestamp", "data"}

    @classmethod
    def with_payload(cls, d: WebhookDelivery, body: str) -> DeliveryDetail:
        return cls(**cls.fields_of(d), payload=msgspec.json.decode(body))


class DeliveryPage(Output):
    items: list[DeliveryOut]
    next_cursor: str | None
