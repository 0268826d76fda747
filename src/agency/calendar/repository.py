"""The calendar's SQL: one statement per view, joined, read through (agency_id, due_at)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agency.brand.models import Brand
from agency.calendar.models import CalendarFeed, PublicationSeries
from agency.calendar.schemas import CalendarFilter
from agency.channel.models import Channel
from agency.kernel.repository import TenantRepository
from agency.kernel.system import SystemRepository
from agency.kernel.tenancy import Subject, scoped_select
from agency.media.models import MediaAsset
from agency.publication.models import Publication, Variant
from agency.publication.states import Delivery, Status

# Posts that are (or will be) on the channel: what a rhythm is made of.
ON_CHANNEL = (Delivery.SCHEDULED, Delivery.PUBLISHING, Delivery.PUBLISHED, Delivery.UNKNOWN)


ENTRY_COLUMNS = (
    Variant.id,
    Variant.publication_id,
    Variant.channel_id,
    Variant.network,
    Variant.status,
    Variant.due_at,
    Variant.published_at,
    Variant.post_url,
    Publication.title,
    Publication.status.label("publication_status"),
    Publication.campaign,
    Publication.reporting_line,
    Publication.series_id,
    Publication.version,
    Publication.created_at,
    Publication.updated_at,
    Variant.brand_id,
    Brand.name.label("brand_name"),
    Brand.timezone,
    Channel.name.label("channel_name"),
)


class CalendarRepository:
    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.session = session
        self.subject = subject

    def _with_publication(self, *columns: Any) -> Any:
        """Variants of this agency joined to their publications, reading ``columns``."""
        return (
            scoped_select(Variant, self.subject)
            .with_only_columns(*columns, maintain_column_froms=False)
            .select_from(Variant)
            .join(
                Publication,
                and_(
                    Publication.id == Variant.publication_id,
                    Publication.agency_id == Variant.agency_id,
                ),
            )
        )

    def _joined(self, *extra: Any) -> Any:
        return (
            self._with_publication(*ENTRY_COLUMNS, *extra)
            .join(Brand, and_(Brand.id == Variant.brand_id, Brand.agency_id == Variant.agency_id))
            .join(
                Channel,
                and_(Channel.id == Variant.channel_id, Channel.agency_id == Variant.agency_id),
            )
        )

    async def entries(
        self,
        start: datetime,
        end: datetime,
        where: CalendarFilter,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
        *,
        with_text: bool = False,
    ) -> Sequence[Any]:
        """Variants due in ``[start, end)``, by due time, one page of ``limit`` (+1)."""
        stmt = self._joined(*((Variant.text,) if with_text else ())).where(
            Variant.due_at >= start, Variant.due_at < end
        )
        if where.brand_ids:
            stmt = stmt.where(Variant.brand_id.in_(where.brand_ids))
        if where.channel_ids:
            stmt = stmt.where(Variant.channel_id.in_(where.channel_ids))
        if where.networks:
            stmt = stmt.where(Variant.network.in_(where.networks))
        if where.statuses:
            stmt = stmt.where(Variant.status.in_(where.statuses))
        if where.reporting_line is not None:
            stmt = stmt.where(Publication.reporting_line == where.reporting_line)
        if where.campaign is not None:
            stmt = stmt.where(Publication.campaign == where.campaign)
        if after is not None:
            due, last_id = after
            stmt = stmt.where(
                (Variant.due_at > due) | (and_(Variant.due_at == due, Variant.id > last_id))
            )
        stmt = stmt.order_by(Variant.due_at, Variant.id).limit(limit + 1)
        return (await self.session.execute(stmt)).all()

    async def channel_posts(
        self, channel_id: uuid.UUID, start: datetime, end: datetime
    ) -> Sequence[Any]:
        """What the channel publishes in ``[start, end)``: the posts a rhythm is made of."""
        stmt = (
            self._with_publication(
                Variant.id,
                Variant.publication_id,
                Variant.status,
                Variant.due_at,
                Publication.title,
            )
            .where(
                Variant.channel_id == channel_id,
                Variant.status.in_(ON_CHANNEL),
                Variant.due_at >= start,
                Variant.due_at < end,
            )
            .order_by(Variant.due_at, Variant.id)
        )
        return (await self.session.execute(stmt)).all()


class SeriesRepository(TenantRepository[PublicationSeries]):
    model = PublicationSeries
    noun = "series"

    async def get_for_update(self, series_id: uuid.UUID) -> PublicationSeries:
        stmt = self.select().where(PublicationSeries.id == series_id).with_for_update()
        found: PublicationSeries | None = (await self.session.execute(stmt)).scalar_one_or_none()
        if found is None:
            return await self.get(series_id)  # the same 404 as a read
        return found

    async def occurrences(self, series_id: uuid.UUID) -> list[Publication]:
        stmt = (
            scoped_select(Publication, self.subject)
            .where(Publication.series_id == series_id)
            .order_by(Publication.scheduled_at.nulls_last(), Publication.id)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def upcoming(self, series_id: uuid.UUID, now: datetime) -> list[datetime]:
        """When the occurrences still to come are due (on the calendar or awaiting approval)."""
        stmt = (
            scoped_select(Publication, self.subject)
            .with_only_columns(Publication.scheduled_at)
            .where(
                Publication.series_id == series_id,
                Publication.status.in_([Status.SCHEDULED, Status.IN_REVIEW]),
                Publication.scheduled_at > now,
            )
            .order_by(Publication.scheduled_at)
        )
        return [r[0] for r in (await self.session.execute(stmt)).all() if r[0] is not None]


class SeriesSweepRepository(SystemRepository):
    """Series of every agency whose next occurrence fell due (the scheduler's claim, ``FOR
    UPDATE SKIP LOCKED``: two schedulers never take the same series)."""

    async def claim_due(
        self, now: datetime, until: datetime, limit: int
    ) -> Sequence[tuple[uuid.UUID, uuid.UUID]]:
        """``(series_id, agency_id)`` of up to ``limit`` series due at ``now``, by due time;
        each is not due again before ``until`` (a lost message is sent again then)."""
        stmt = (
            select(PublicationSeries.id, PublicationSeries.agency_id)
            .where(PublicationSeries.refill_at <= now)
            .order_by(PublicationSeries.refill_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = [(row[0], row[1]) for row in (await self.session.execute(stmt)).all()]
        if rows:
            await self.session.execute(
                update(PublicationSeries)
                .where(PublicationSeries.id.in_([series_id for series_id, _ in rows]))
                .values(refill_at=until)
                .execution_options(synchronize_session=False)
            )
        return rows


class FeedRepository(TenantRepository[CalendarFeed]):
    model = CalendarFeed
    noun = "calendar feed"

    def of_brand(self, brand_id: uuid.UUID) -> Select[CalendarFeed]:
        return self.select().where(CalendarFeed.brand_id == brand_id)


class ImportRepository:
    """What an import resolves its rows against, read once for the whole file."""

    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.session = session
        self.subject = subject

    async def channels_of_brand(self, brand_id: uuid.UUID) -> list[Channel]:
        stmt = scoped_select(Channel, self.subject).where(Channel.brand_id == brand_id)
        return list((await self.session.execute(stmt)).scalars().all())

    async def channel_ids(self, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Which of ``ids`` are channels of this agency (of any brand)."""
        if not ids:
            return set()
        stmt = (
            scoped_select(Channel, self.subject)
            .with_only_columns(Channel.id)
            .where(Channel.id.in_(ids))
        )
        return {r[0] for r in (await self.session.execute(stmt)).all()}

    async def media_brands(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        """Media id -> its brand, for the ids that are media of this agency."""
        if not ids:
            return {}
        stmt = (
            scoped_select(MediaAsset, self.subject)
            .with_only_columns(MediaAsset.id, MediaAsset.brand_id)
            .where(MediaAsset.id.in_(ids))
        )
        return {r[0]: r[1] for r in (await self.session.execute(stmt)).all()}
