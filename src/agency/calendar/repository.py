"""The calendar's SQL: one statement per view, joined, read through (agency_id, due_at)."""

from __future__ import annotations

import uuid
from collections.abc import Hashable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    Select,
    String,
    Uuid,
    and_,
    any_,
    bindparam,
    literal_column,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from agency.brand.models import Brand
from agency.calendar.models import CalendarFeed, PublicationSeries
from agency.calendar.schemas import CalendarFilter
from agency.channel.models import Channel
from agency.kernel.repository import HotRead, TenantRepository, rows_stamp
from agency.kernel.system import SystemRepository
from agency.kernel.tenancy import (
    Subject,
    scoped_select,
    scoped_template,
    template_fits,
    template_parameters,
)
from agency.media.models import MediaAsset
from agency.publication.models import Publication, Variant
from agency.publication.states import Delivery, Status

# Posts that are (or will be) on the channel: what a rhythm is made of.
ON_CHANNEL = (Delivery.SCHEDULED, Delivery.PUBLISHING, Delivery.PUBLISHED, Delivery.UNKNOWN)


# What the calendar shows of a variant, in the order of its answer (``CalendarEntry``).
SHOWN = (
    Variant.id,
    Variant.publication_id,
    Publication.title,
    Variant.brand_id,
    Brand.name.label("brand_name"),
    Variant.channel_id,
    Channel.name.label("channel_name"),
    Variant.network,
    Variant.due_at,
    Brand.timezone,
    Variant.status,
    Publication.status.label("publication_status"),
    Publication.campaign,
    Publication.reporting_line,
    Publication.series_id,
    Variant.published_at,
    Variant.post_url,
)
# Where the due time is in a row of SHOWN (a page's cursor names it).
SHOWN_DUE_AT = next(i for i, column in enumerate(SHOWN) if column is Variant.due_at)
# What the iCalendar feed reads besides (with each variant's text, when it asks).
ENTRY_COLUMNS = (*SHOWN, Publication.version, Publication.created_at, Publication.updated_at)
# The filters a calendar read may give, each a list of values or one value.
LIST_FILTERS: tuple[tuple[str, Any, ARRAY[Any]], ...] = (
    ("brand_ids", Variant.brand_id, ARRAY(Uuid())),
    ("channel_ids", Variant.channel_id, ARRAY(Uuid())),
    ("networks", Variant.network, ARRAY(String())),
    ("statuses", Variant.status, ARRAY(String())),
)
ONE_FILTERS = (("reporting_line", Publication.reporting_line), ("campaign", Publication.campaign))


def _with_publication(stmt: Select[Any]) -> Any:
    """``stmt`` over variants joined to their publications."""
    return stmt.select_from(Variant).join(
        Publication,
        and_(Publication.id == Variant.publication_id, Publication.agency_id == Variant.agency_id),
    )


def _joined(stmt: Select[Any]) -> Any:
    """``stmt`` over variants joined to their publications, brands and channels."""
    return (
        _with_publication(stmt)
        .join(Brand, and_(Brand.id == Variant.brand_id, Brand.agency_id == Variant.agency_id))
        .join(
            Channel,
            and_(Channel.id == Variant.channel_id, Channel.agency_id == Variant.agency_id),
        )
    )


def _in_range(shape: Hashable) -> Select[Any]:
    """The calendar's statement for one shape: which filters are given, whether a cursor is.

    Lists are compared with ``= ANY`` of one array parameter, so that a list of any length is
    one statement (PostgreSQL only, as every :class:`HotRead` statement runs).
    """
    assert isinstance(shape, tuple)
    *given, after = shape
    stmt: Select[Any] = _joined(scoped_template(Variant, *SHOWN)).where(
        Variant.due_at >= bindparam("start"), Variant.due_at < bindparam("end")
    )
    lists = given[: len(LIST_FILTERS)]
    for (name, column, kind), on in zip(LIST_FILTERS, lists, strict=True):
        if on:
            stmt = stmt.where(column == any_(bindparam(name, type_=kind)))
    for (name, column), on in zip(ONE_FILTERS, given[len(LIST_FILTERS) :], strict=True):
        if on:
            stmt = stmt.where(column == bindparam(name))
    if after:
        due: Any = bindparam("after_due")
        last: Any = bindparam("after_id")
        stmt = stmt.where((Variant.due_at > due) | and_(Variant.due_at == due, Variant.id > last))
    return stmt.order_by(Variant.due_at, Variant.id).limit(bindparam("rows"))


IN_RANGE = HotRead(_in_range)


def _stamp(shape: Hashable) -> Select[Any]:
    """What a calendar of a range shows is read from, as numbers that change whenever any of
    it does (:func:`~agency.kernel.repository.rows_stamp`): the variants due in the range (of
    the brands asked for, when a request names some), and the publications, channels and
    brands they show. Those are found from the variants, whose own stamp changes when one
    moves to another channel or into or out of the range. The other filters are left out: a
    superset only makes a kept calendar made again more often.
    """
    assert isinstance(shape, tuple)
    (of_brands,) = shape
    window = scoped_template(
        Variant,
        Variant.publication_id,
        Variant.channel_id,
        Variant.brand_id,
        literal_column(f"{Variant.__tablename__}.xmin").label("xmin"),
    ).where(Variant.due_at >= bindparam("start"), Variant.due_at < bindparam("end"))
    if of_brands:
        window = window.where(Variant.brand_id == any_(bindparam("brand_ids", type_=ARRAY(Uuid()))))
    due = window.cte("due")
    parts = [select(rows_stamp(due.name)).select_from(due).scalar_subquery()]
    for model, shown in (
        (Publication, due.c.publication_id),
        (Channel, due.c.channel_id),
        (Brand, due.c.brand_id),
    ):
        stamp = rows_stamp(model.__tablename__)
        parts.append(
            scoped_template(model, stamp).where(model.id.in_(select(shown))).scalar_subquery()
        )
    return select(*parts)


STAMP = HotRead(_stamp)


class CalendarRepository:
    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.session = session
        self.subject = subject

    def _with_publication(self, *columns: Any) -> Any:
        """Variants of this agency joined to their publications, reading ``columns``."""
        return _with_publication(
            scoped_select(Variant, self.subject).with_only_columns(
                *columns, maintain_column_froms=False
            )
        )

    def _joined(self, *columns: Any) -> Any:
        return _joined(
            scoped_select(Variant, self.subject).with_only_columns(
                *columns, maintain_column_froms=False
            )
        )

    async def page(
        self,
        start: datetime,
        end: datetime,
        where: CalendarFilter,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> Sequence[Sequence[Any]]:
        """:meth:`entries` as rows of ``SHOWN``, by position: the calendar a frontend reads."""
        if not template_fits(self.subject) or self.session.get_bind().dialect.name != "postgresql":
            return await self.entries(start, end, where, after, limit, columns=SHOWN)
        lists = {name: list(getattr(where, name)) for name, _, _ in LIST_FILTERS}
        ones = {"reporting_line": where.reporting_line, "campaign": where.campaign}
        shape = (
            *(bool(values) for values in lists.values()),
            *(value is not None for value in ones.values()),
            after is not None,
        )
        params: dict[str, Any] = {
            **template_parameters(self.subject),
            **lists,
            **ones,
            "start": start,
            "end": end,
            "rows": limit + 1,
        }
        if after is not None:
            params["after_due"], params["after_id"] = after
        return await IN_RANGE.rows(self.session, shape, params)

    async def stamp(
        self, start: datetime, end: datetime, where: CalendarFilter
    ) -> tuple[str, ...] | None:
        """The stamp of :meth:`page`'s rows in ``[start, end)`` (:func:`_stamp`); None where
        the hot read does not run (a client member, off PostgreSQL): nothing is kept then."""
        if not template_fits(self.subject) or self.session.get_bind().dialect.name != "postgresql":
            return None
        params: dict[str, Any] = {**template_parameters(self.subject), "start": start, "end": end}
        if where.brand_ids:
            params["brand_ids"] = list(where.brand_ids)
        (row,) = await STAMP.rows(self.session, (bool(where.brand_ids),), params)
        return tuple(row)

    async def entries(
        self,
        start: datetime,
        end: datetime,
        where: CalendarFilter,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
        *,
        with_text: bool = False,
        columns: Sequence[Any] = ENTRY_COLUMNS,
    ) -> Sequence[Any]:
        """Variants due in ``[start, end)``, by due time, one page of ``limit`` (+1)."""
        stmt = self._joined(*columns, *((Variant.text,) if with_text else ())).where(
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
