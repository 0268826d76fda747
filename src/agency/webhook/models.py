from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from agency.kernel.db import Base, Choice, IdMixin, TimestampMixin
from agency.kernel.secrets import Encrypted
from agency.kernel.tenancy import TenantMixin


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class WebhookSubscription(IdMixin, TenantMixin, TimestampMixin, Base):
    """An agency's endpoint that receives its events, signed with its own secret."""

    __tablename__ = "webhook_subscriptions"

    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(500), default="")
    # Event types sent to this endpoint; empty means every type.
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    # ``whsec_<base64>``, encrypted at rest; shown once, at creation and rotation.
    secret: Mapped[str] = mapped_column(Encrypted)
    # After a rotation the old secret signs too, until receivers have switched.
    previous_secret: Mapped[str | None] = mapped_column(Encrypted)
    previous_secret_expires_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class WebhookEvent(IdMixin, TenantMixin, TimestampMixin, Base):
    """One occurrence of an event; its id is the ``webhook-id`` of every delivery of it."""

    __tablename__ = "webhook_events"
    # The retention purge runs across agencies, by age.
    __tenant_indexes__ = (Index("ix_webhook_events_created_at", "created_at"),)

    type: Mapped[str] = mapped_column(String(100))
    # The exact JSON body sent, so that retries and replays carry the same bytes.
    body: Mapped[str] = mapped_column(Text)


class WebhookDelivery(IdMixin, TenantMixin, TimestampMixin, Base):
    """One event on its way to one subscription: pending until it succeeds or gives up."""

    __tablename__ = "webhook_deliveries"
    __tenant_indexes__ = (
        Index("ix_webhook_deliveries_subscription", "agency_id", "subscription_id", "id"),
        # The scheduler's claim runs across agencies, by due time (NULL once finished).
        Index("ix_webhook_deliveries_next_attempt_at", "next_attempt_at"),
    )

    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_events.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(100))
    replay_of: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="SET NULL")
    )
    # pending | succeeded | failed
    status: Mapped[str] = mapped_column(Choice(DeliveryStatus), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    # Due time of the next attempt, and the lease of the one in flight; NULL once finished.
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(1000))
    last_duration_ms: Mapped[int | None]
    delivered_at: Mapped[datetime | None]

    # Never loaded (lazy="raise"): they tell the unit of work to insert the event first.
    event: Mapped[WebhookEvent] = relationship(lazy="raise")
    subscription: Mapped[WebhookSubscription] = relationship(lazy="raise")
