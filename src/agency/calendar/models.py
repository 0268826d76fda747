"""Recurring series and calendar feeds; the indexes the calendar reads through.

The calendar reads variants by due time across channels, and a series finds its
occurrences: both need an index on the core tables, declared here next to the queries that
use them (an :class:`Index` built from columns joins its table's metadata).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from agency.kernel.db import Base, IdMixin, TimestampMixin
from agency.kernel.tenancy import TenantMixin
from agency.publication.models import Publication, Variant

Index("ix_publication_variants_agency_due", Variant.agency_id, Variant.due_at)
Index("ix_publications_agency_series", Publication.agency_id, Publication.series_id)


class PublicationSeries(IdMixin, TenantMixin, TimestampMixin, Base):
    """A recurring publication: an RFC 5545 rule expanded in the brand's wall-clock time.

    Each occurrence is a publication of its own (``Publication.series_id``), copied from the
    latest one when it is materialized; only the next few are on the calendar at a time.
    """

    __tablename__ = "publication_series"
    __tenant_indexes__ = (
        # The scheduler's refill claim runs across agencies, by the time a series runs short.
        Index("ix_publication_series_refill_at", "refill_at"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    origin_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("publications.id", ondelete="SET NULL")
    )
    rule: Mapped[str] = mapped_column(String(500))
    # Wall-clock "YYYY-MM-DDTHH:MM:SS" in the brand's zone: the rule's DTSTART.
    dtstart: Mapped[str] = mapped_column(String(19))
    # channel id -> seconds after the occurrence's wall-clock time (variants at other times).
    offsets: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    # The latest occurrence materialized: its wall-clock start and its publication.
    last_start: Mapped[str] = mapped_column(String(19))
    last_publication_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("publications.id", ondelete="SET NULL")
    )
    occurrences: Mapped[int] = mapped_column(default=1)
    # When the series next runs short of upcoming occurrences (None: nothing to do).
    refill_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    canceled_at: Mapped[datetime | None]
    canceled_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    last_error: Mapped[str | None] = mapped_column(String(1000))


class CalendarFeed(IdMixin, TenantMixin, TimestampMixin, Base):
    """A secret URL serving a brand's iCalendar feed to apps that cannot send a token."""

    __tablename__ = "calendar_feeds"
    __tenant_indexes__ = (Index("ix_calendar_feeds_agency_brand", "agency_id", "brand_id"),)

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
