"""Publications, their per-channel variants, publishing attempts, versions and queue slots.

A publication is what the team writes and approves; a *variant* is its adaptation for one
channel, and the unit the pipeline publishes: each variant has its own due time, state,
attempts and result, because networks succeed and fail independently.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ColumnElement, ForeignKey, Index, String, Text, select, text
from sqlalchemy.orm import Mapped, mapped_column

from agency.channel.models import Channel
from agency.kernel.db import Base, Choice, IdMixin, TimestampMixin
from agency.kernel.tenancy import Subject, TenantMixin
from agency.publication.states import (
    AttemptKind,
    AttemptOutcome,
    Delivery,
    FirstCommentStatus,
    Staging,
    Status,
)


def _of_brand_publications(column: Any, subject: Subject) -> ColumnElement[bool]:
    """Rows of a client member's brands, found through the publication they belong to."""
    return column.in_(  # type: ignore[no-any-return]
        select(Publication.id).where(Publication.brand_id.in_(subject.brand_ids or ()))
    )


class Publication(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "publications"
    __tenant_indexes__ = (
        Index("ix_publications_agency_brand_scheduled", "agency_id", "brand_id", "scheduled_at"),
        Index("ix_publications_agency_scheduled", "agency_id", "scheduled_at"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    # draft | in_review | approved | scheduled | publishing | published | failed | unknown
    # | missed | canceled (see agency.publication.states)
    status: Mapped[str] = mapped_column(Choice(Status), default=Status.DRAFT)
    scheduled_at: Mapped[datetime | None]
    campaign: Mapped[str | None] = mapped_column(String(100))
    reporting_line: Mapped[str | None] = mapped_column(String(30))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    utm: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # An RFC 5545 RRULE: each occurrence becomes a publication of its own when it is next.
    recurrence: Mapped[str | None] = mapped_column(String(500))
    series_id: Mapped[uuid.UUID | None]
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime | None]
    approved_at: Mapped[datetime | None]
    approved_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    canceled_at: Mapped[datetime | None]
    # The crisis during which the brand's decision makers approved this version: only such
    # content leaves while that crisis lasts (the worker checks; docs/crisis.md).
    crisis_cleared: Mapped[uuid.UUID | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


PENDING_COMMENT = "first_comment_status = 'pending'"
# Variants with media: the few whose media the scheduler stages ahead.
WITH_MEDIA = "json_array_length(media_ids) > 0"
# Staging rows still holding uploads: those the scheduler sweeps (deleted or settled).
HOLDING = 'json_array_length("references") > 0'


class Variant(IdMixin, TenantMixin, TimestampMixin, Base):
    """The publication adapted to one channel; published on its own."""

    __tablename__ = "publication_variants"
    __tenant_indexes__ = (
        Index(
            "uq_publication_variants_channel",
            "agency_id",
            "publication_id",
            "channel_id",
            unique=True,
        ),
        Index("ix_publication_variants_agency_channel_due", "agency_id", "channel_id", "due_at"),
        # The scheduler's claim runs across agencies: scheduled rows by due time.
        Index("ix_publication_variants_status_due", "status", "due_at"),
        # ... and the first comments a person released after a crisis (few, and brief).
        Index(
            "ix_publication_variants_comment_pending",
            "lease_until",
            postgresql_where=text(PENDING_COMMENT),
            sqlite_where=text(PENDING_COMMENT),
        ),
        # ... and the posts with media, staged ahead (2 % of posts, say).
        Index(
            "ix_publication_variants_media_due",
            "status",
            "due_at",
            postgresql_where=text(WITH_MEDIA),
            sqlite_where=text(WITH_MEDIA),
        ),
    )

    publication_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("publications.id", ondelete="CASCADE")
    )
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    network: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str | None] = mapped_column(String(2000))
    title: Mapped[str | None] = mapped_column(String(300))
    first_comment: Mapped[str | None] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    media_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    # pending | scheduled | publishing | published | failed | unknown | missed | canceled
    status: Mapped[str] = mapped_column(Choice(Delivery), default=Delivery.PENDING)
    due_at: Mapped[datetime | None]
    # Not before this time (Retry-After, backoff, a held channel checked again later).
    not_before: Mapped[datetime | None]
    # A claimed row is not claimed again before the lease ends (a lost message is re-sent).
    lease_until: Mapped[datetime | None]
    hold_reason: Mapped[str | None] = mapped_column(String(500))
    # Held by a crisis: neither claimed nor missed until a person re-confirms or reschedules.
    held_at: Mapped[datetime | None]
    # Content changes bump this; the pipeline publishes only the approved content version.
    content_version: Mapped[int] = mapped_column(default=1)
    approved_version: Mapped[int | None]
    content_hash: Mapped[str | None] = mapped_column(String(64))
    attempt_count: Mapped[int] = mapped_column(default=0)
    post_id: Mapped[str | None] = mapped_column(String(300))
    post_url: Mapped[str | None] = mapped_column(String(2000))
    published_at: Mapped[datetime | None]
    first_comment_status: Mapped[str | None] = mapped_column(Choice(FirstCommentStatus))
    last_error: Mapped[str | None] = mapped_column(String(2000))
    finished_at: Mapped[datetime | None]


class MediaStaging(IdMixin, TenantMixin, TimestampMixin, Base):
    """A variant's media uploaded ahead of its post (docs/publishing.md, "Media staged
    ahead"): one row per variant, for the content version it was uploaded for."""

    __tablename__ = "publication_media_stagings"
    __tenant_indexes__ = (
        Index("uq_publication_media_stagings_variant", "agency_id", "variant_id", unique=True),
        # The rows that still hold uploads: few (posts staged and not yet out, or canceled
        # since), swept for deleting or settling.
        Index(
            "ix_publication_media_stagings_holding",
            "id",
            postgresql_where=text(HOLDING),
            sqlite_where=text(HOLDING),
        ),
    )

    variant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("publication_variants.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(Choice(Staging), default=Staging.CLAIMED)
    # What was uploaded: the variant's content version and media then.
    content_version: Mapped[int] = mapped_column(default=0)
    media_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The network's reference for each of them, in order.
    references: Mapped[list[str]] = mapped_column(JSON, default=list)
    staged_at: Mapped[datetime | None]
    # Until when they can be named (a little before the network drops the first of them);
    # uploaded again from ``renew_at`` when that falls before the post's time.
    expires_at: Mapped[datetime | None]
    renew_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    not_before: Mapped[datetime | None]
    attempt_count: Mapped[int] = mapped_column(default=0)
    reported_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(2000))
    updated_at: Mapped[datetime | None]

    @classmethod
    def brand_scope(cls, subject: Subject) -> ColumnElement[bool]:
        return cls.variant_id.in_(
            select(Variant.id).where(Variant.brand_id.in_(subject.brand_ids or ()))
        )


class Attempt(IdMixin, TenantMixin, Base):
    """One call to the network for a variant, committed *before* the call is made."""

    __tablename__ = "publication_attempts"
    __tenant_indexes__ = (
        Index("ix_publication_attempts_agency_variant", "agency_id", "variant_id", "number"),
        # Attempts left pending by a dead worker are found across agencies.
        Index("ix_publication_attempts_outcome_started", "outcome", "started_at"),
    )

    variant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("publication_variants.id", ondelete="CASCADE")
    )
    publication_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("publications.id", ondelete="CASCADE")
    )
    number: Mapped[int]
    kind: Mapped[str] = mapped_column(Choice(AttemptKind))
    outcome: Mapped[str] = mapped_column(Choice(AttemptOutcome), default=AttemptOutcome.PENDING)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    http_status: Mapped[int | None]
    message: Mapped[str | None] = mapped_column(String(2000))
    retry_after_seconds: Mapped[float | None]
    post_id: Mapped[str | None] = mapped_column(String(300))

    @classmethod
    def brand_scope(cls, subject: Subject) -> ColumnElement[bool]:
        return _of_brand_publications(cls.publication_id, subject)


class PublicationVersion(IdMixin, TenantMixin, Base):
    """Who changed what, when: one row per change of a publication or its variants."""

    __tablename__ = "publication_versions"
    __tenant_indexes__ = (
        Index(
            "ix_publication_versions_agency_publication",
            "agency_id",
            "publication_id",
            "number",
        ),
    )

    publication_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("publications.id", ondelete="CASCADE")
    )
    number: Mapped[int]
    action: Mapped[str] = mapped_column(String(40))
    actor_kind: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[uuid.UUID | None]
    at: Mapped[datetime]
    # {"title": [old, new], "variants.<channel_id>.text": [old, new], ...}
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    @classmethod
    def brand_scope(cls, subject: Subject) -> ColumnElement[bool]:
        return _of_brand_publications(cls.publication_id, subject)


class QueueSlot(IdMixin, TenantMixin, TimestampMixin, Base):
    """A weekly posting slot of a channel, in the brand's time zone."""

    __tablename__ = "queue_slots"
    __tenant_indexes__ = (
        Index(
            "uq_queue_slots_channel_time",
            "agency_id",
            "channel_id",
            "weekday",
            "local_time",
            unique=True,
        ),
    )

    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    weekday: Mapped[int]  # 0 = Monday ... 6 = Sunday (ISO weekday - 1)
    local_time: Mapped[str] = mapped_column(String(5))  # "HH:MM"

    @classmethod
    def brand_scope(cls, subject: Subject) -> ColumnElement[bool]:
        return cls.channel_id.in_(
            select(Channel.id).where(Channel.brand_id.in_(subject.brand_ids or ()))
        )
