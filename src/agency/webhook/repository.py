from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Select, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agency.kernel.repository import TenantRepository
from agency.webhook.models import WebhookDelivery, WebhookEvent, WebhookSubscription


class SubscriptionRepository(TenantRepository[WebhookSubscription]):
    model = WebhookSubscription
    noun = "webhook subscription"

    async def any_enabled(self) -> bool:
        stmt = self.select().where(WebhookSubscription.enabled.is_(True)).limit(1)
        return (await self.session.execute(stmt)).first() is not None

    async def interested_in(self, event_type: str) -> list[WebhookSubscription]:
        stmt = self.select().where(WebhookSubscription.enabled.is_(True))
        found = (await self.session.execute(stmt)).scalars().all()
        # An agency has a handful of subscriptions: filtering the JSON list here is simplest.
        return [s for s in found if not s.event_types or event_type in s.event_types]


class EventRepository(TenantRepository[WebhookEvent]):
    model = WebhookEvent
    noun = "webhook event"


class DeliveryRepository(TenantRepository[WebhookDelivery]):
    model = WebhookDelivery
    noun = "webhook delivery"

    def of_subscription(
        self, subscription_id: uuid.UUID, status: str | None = None
    ) -> Select[WebhookDelivery]:
        stmt = self.select().where(WebhookDelivery.subscription_id == subscription_id)
        if status is not None:
            stmt = stmt.where(WebhookDelivery.status == status)
        return stmt

    async def get_for_update(self, delivery_id: uuid.UUID) -> WebhookDelivery | None:
        # populate_existing: the row as it is now, not as this session last saw it.
        stmt = (
            self.select()
            .where(WebhookDelivery.id == delivery_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        found: WebhookDelivery | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found


async def claim_due_deliveries(
    session: AsyncSession, now: datetime, lease: timedelta, limit: int
) -> Sequence[tuple[uuid.UUID, uuid.UUID, int]]:
    """Across agencies (system session): lock due deliveries, lease them, return their ids.

    ``(agency_id, delivery_id, attempts)`` per row; the lease keeps other scheduler replicas
    and later ticks off them while their message waits in the broker.
    """
    due = (
        await session.execute(
            select(WebhookDelivery.agency_id, WebhookDelivery.id, WebhookDelivery.attempts)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    if due:
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_([row.id for row in due]))
            .values(next_attempt_at=now + lease)
        )
    return [(row.agency_id, row.id, row.attempts) for row in due]


async def purge_events(session: AsyncSession, before: datetime) -> int:
    """Across agencies: forget events older than ``before`` with their deliveries (cascade)."""
    result = await session.execute(delete(WebhookEvent).where(WebhookEvent.created_at < before))
    return int(getattr(result, "rowcount", 0) or 0)
