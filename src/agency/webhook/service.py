"""Webhook subscriptions and their delivery log. Every change to a subscription is audited.

The secret is generated here, shown once (creation, rotation) and otherwise only decrypted
by the delivery job to sign. A rotation keeps the previous secret signing for a day, so
receivers switch without losing a message.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from agency.audit.repository import AuditRepository
from agency.kernel.db import utcnow
from agency.kernel.errors import Conflict, InvalidInput
from agency.kernel.http import check_if_match
from agency.kernel.pagination import PageRequest
from agency.kernel.runtime import Runtime
from agency.kernel.secrets import SecretBox
from agency.kernel.tenancy import Subject
from agency.webhook.events import EVENT_TYPES, PING, PingData, new_event, queue_delivery
from agency.webhook.models import WebhookDelivery, WebhookEvent, WebhookSubscription
from agency.webhook.repository import DeliveryRepository, EventRepository, SubscriptionRepository
from agency.webhook.schemas import WebhookCreate, WebhookUpdate
from agency.webhook.targets import target_problems

SECRET_PREFIX = "whsec_"
ROTATION_OVERLAP = timedelta(hours=24)


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def live_secrets(subscription: WebhookSubscription, box: SecretBox, now: datetime) -> list[str]:
    """The secrets that sign a delivery now: the current one, and the previous one for a day."""
    live = [box.decrypt(subscription.secret)]
    expires = subscription.previous_secret_expires_at
    if subscription.previous_secret and expires is not None and expires > now:
        live.append(box.decrypt(subscription.previous_secret))
    return live


def _event_types(chosen: Sequence[str]) -> list[str]:
    """Known order, no duplicates (the schema already refused unknown types)."""
    return [t for t in EVENT_TYPES if t in set(chosen)]


class WebhookService:
    def __init__(self, session: AsyncSession, subject: Subject, runtime: Runtime) -> None:
        self.session = session
        self.subject = subject
        self.box = runtime.secrets
        self.settings = runtime.settings.webhooks
        self.outbound = runtime.outbound
        self.repo = SubscriptionRepository(session, subject)
        self.deliveries = DeliveryRepository(session, subject)
        self.events = EventRepository(session, subject)
        self.audit = AuditRepository(session, subject)

    def _check_url(self, url: str, doing: str) -> None:
        problems = target_problems(url, self.outbound)
        if problems:
            raise InvalidInput(
                f"The webhook cannot be {doing} as sent.",
                errors=[{"field": "url", "message": f"The URL {p}."} for p in problems],
            )

    async def create(self, data: WebhookCreate) -> tuple[WebhookSubscription, str]:
        """The new subscription and its secret, in plain text for this answer only."""
        self._check_url(data.url, "created")
        secret = new_secret()
        subscription = WebhookSubscription(
            url=data.url,
            description=data.description,
            event_types=_event_types(data.event_types),
            enabled=data.enabled,
            secret=self.box.encrypt(secret),
        )
        await self.repo.add(subscription)
        self.audit.record(
            "webhook.created", "webhook", subscription.id, {"host": urlsplit(data.url).hostname}
        )
        return subscription, secret

    async def list(self, page: PageRequest) -> tuple[Sequence[WebhookSubscription], str | None]:
        return await self.repo.page(page)

    async def get(self, webhook_id: uuid.UUID) -> WebhookSubscription:
        return await self.repo.get(webhook_id)

    async def update(
        self, webhook_id: uuid.UUID, data: WebhookUpdate, if_match: str | None
    ) -> WebhookSubscription:
        subscription = await self.repo.get(webhook_id)
        check_if_match(if_match, subscription.version)
        changes: dict[str, Any] = {}
        for name, value in msgspec.structs.asdict(data).items():
            if value is msgspec.UNSET:
                continue
            if name == "url":
                self._check_url(value, "changed")
            new = _event_types(value) if name == "event_types" else value
            if getattr(subscription, name) != new:
                changes[name] = new
                setattr(subscription, name, new)
        if changes:
            await self.repo.flush()
            self.audit.record(
                "webhook.updated", "webhook", subscription.id, {"fields": sorted(changes)}
            )
        return subscription

    async def delete(self, webhook_id: uuid.UUID) -> None:
        """The subscription goes with its delivery log; pending deliveries are dropped."""
        await self.repo.delete(webhook_id)
        self.audit.record("webhook.deleted", "webhook", webhook_id, {})

    async def rotate_secret(self, webhook_id: uuid.UUID) -> tuple[WebhookSubscription, str]:
        subscription = await self.repo.get(webhook_id)
        secret = new_secret()
        subscription.previous_secret = subscription.secret
        subscription.previous_secret_expires_at = utcnow() + ROTATION_OVERLAP
        subscription.secret = self.box.encrypt(secret)
        await self.repo.flush()
        self.audit.record("webhook.secret_rotated", "webhook", subscription.id, {})
        return subscription, secret

    async def ping(self, webhook_id: uuid.UUID) -> WebhookDelivery:
        """A ``webhook.ping`` event for this subscription alone, delivered like any other."""
        subscription = self._sendable(await self.repo.get(webhook_id))
        event = new_event(
            self.subject.agency_id,
            PING,
            PingData(webhook_id=subscription.id, message="Your endpoint receives our events."),
        )
        self.session.add(event)
        return queue_delivery(self.session, event, subscription, self.settings)

    async def list_deliveries(
        self, webhook_id: uuid.UUID, page: PageRequest, status: str | None
    ) -> tuple[Sequence[WebhookDelivery], str | None]:
        await self.repo.get(webhook_id)
        return await self.deliveries.page(page, self.deliveries.of_subscription(webhook_id, status))

    async def get_delivery(self, delivery_id: uuid.UUID) -> tuple[WebhookDelivery, WebhookEvent]:
        delivery = await self.deliveries.get(delivery_id)
        return delivery, await self.events.get(delivery.event_id)

    async def replay(self, delivery_id: uuid.UUID) -> WebhookDelivery:
        """A new delivery of the same event (same ``webhook-id``), whatever the first became."""
        delivery, event = await self.get_delivery(delivery_id)
        subscription = self._sendable(await self.repo.get(delivery.subscription_id))
        replayed = queue_delivery(
            self.session, event, subscription, self.settings, replay_of=delivery.id
        )
        self.audit.record(
            "webhook.delivery_replayed",
            "webhook",
            subscription.id,
            {"delivery_id": str(delivery.id), "event_id": str(event.id)},
        )
        return replayed

    def _sendable(self, subscription: WebhookSubscription) -> WebhookSubscription:
        if not subscription.enabled:
            raise Conflict("This webhook is disabled; enable it before sending to it.")
        return subscription
