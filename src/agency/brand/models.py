from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ColumnElement, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from agency.kernel.db import Base, Choice, IdMixin, TimestampMixin
from agency.kernel.tenancy import ActorKind, Subject, TenantMixin


class Brand(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "brands"
    __tenant_indexes__ = (Index("uq_brands_agency_slug", "agency_id", "slug", unique=True),)

    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(8))
    reporting_line: Mapped[str] = mapped_column(String(30))
    editorial_charter: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    community_charter: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # network -> {"objectives": [...], "target_audience": str, "kpis": [...]}
    network_objectives: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # After downtime, a publication later than this is marked missed instead of published.
    publish_grace_minutes: Mapped[int] = mapped_column(default=60)
    # none | (the approvals issue adds the reporting-line policies)
    approval_policy: Mapped[str] = mapped_column(String(30), default="none")
    archived_at: Mapped[datetime | None]
    # The crisis under way (agency.crisis); None: the brand speaks normally. Read by the
    # scheduler's claim and again by the worker before each call (docs/crisis.md).
    crisis_id: Mapped[uuid.UUID | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    @classmethod
    def brand_scope(cls, subject: Subject) -> ColumnElement[bool]:
        return cls.id.in_(subject.brand_ids or ())


class TimelineKind(StrEnum):
    """What a line of a crisis's timeline records."""

    STARTED = "started"
    HELD = "held"  # a post the pause kept from going out
    FIRST_COMMENT_HELD = "first_comment_held"
    PUBLISHED = "published"  # already in flight when the crisis began
    NOTIFIED = "notified"  # the decision makers were e-mailed
    DECIDED = "decided"  # someone approved, asked for changes or rejected, during the crisis
    RELEASED = "released"
    RESCHEDULED = "rescheduled"
    FIRST_COMMENT_RELEASED = "first_comment_released"  # a person let a held comment go
    FIRST_COMMENT_DISCARDED = "first_comment_discarded"  # a person dropped a held comment
    ENDED = "ended"
    ANSWER_HELD = "answer_held"  # an answer in the inbox, held until a decision maker's word
    ANSWER_DECIDED = "answer_decided"  # a decision maker let a held answer leave


class Crisis(IdMixin, TenantMixin, TimestampMixin, Base):
    """One crisis of a brand (*bad buzz*): who switched it on and off, when, and why.

    Its state lives with the brand (``Brand.crisis_id``) and so does its timeline
    (:class:`CrisisEvent`), because the publishing worker, below the crisis package, reads
    the one and writes the other in its own transaction.
    """

    __tablename__ = "crises"
    __tenant_indexes__ = (
        Index("ix_crises_agency_brand", "agency_id", "brand_id", "started_at"),
        # At most one crisis under way per brand.
        Index(
            "uq_crises_open_per_brand",
            "agency_id",
            "brand_id",
            unique=True,
            postgresql_where=text("ended_at IS NULL"),
            sqlite_where=text("ended_at IS NULL"),
        ),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    started_at: Mapped[datetime]
    started_by_kind: Mapped[str] = mapped_column(Choice(ActorKind))
    started_by: Mapped[uuid.UUID | None]
    started_by_name: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(String(2000))
    ended_at: Mapped[datetime | None]
    ended_by_kind: Mapped[str | None] = mapped_column(Choice(ActorKind))
    ended_by: Mapped[uuid.UUID | None]
    ended_by_name: Mapped[str | None] = mapped_column(String(320))
    end_reason: Mapped[str | None] = mapped_column(String(2000))


class CrisisEvent(IdMixin, TenantMixin, TimestampMixin, Base):
    """One line of a crisis timeline: switched on, held, decided, published, switched off.

    Append-only: the post-mortem reads what happened, in order, with who did it.
    """

    __tablename__ = "crisis_events"
    __tenant_indexes__ = (Index("ix_crisis_events_agency_crisis", "agency_id", "crisis_id", "at"),)

    crisis_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("crises.id", ondelete="CASCADE"))
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    # started | held | released | rescheduled | published | first_comment_held | decided
    # | notified | ended
    kind: Mapped[str] = mapped_column(Choice(TimelineKind, 30))
    actor_kind: Mapped[str] = mapped_column(Choice(ActorKind))
    actor_id: Mapped[uuid.UUID | None]
    actor_name: Mapped[str | None] = mapped_column(String(320))
    publication_id: Mapped[uuid.UUID | None]
    variant_id: Mapped[uuid.UUID | None]
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
