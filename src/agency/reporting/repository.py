"""All SQL of reporting: snapshots written once, rollups added to, and a report's reads.

Writes go through ``INSERT ... ON CONFLICT``: a snapshot whose key exists is not written
again (and then nothing is added to a rollup), and a rollup row is created or added to in
one statement, safe against another worker adding to the same day at the same time.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Select,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from agency.brand.models import Brand, Crisis
from agency.channel.models import Channel
from agency.client.models import ClientMember
from agency.inbox.models import InboxChannel, Message
from agency.kernel.repository import TenantRepository, rows_stamp
from agency.kernel.system import SystemRepository
from agency.kernel.tenancy import Subject, scoped_select
from agency.publication.models import Attempt, Publication, QueueSlot, Variant
from agency.publication.states import Delivery
from agency.reporting.kpis import SUMMED
from agency.reporting.models import (
    BrandDay,
    CampaignResult,
    ChannelDay,
    ChannelMetric,
    Cost,
    MetricSnapshot,
    PostMetric,
    PressCoverage,
    SavedReport,
)
from agency.reporting.posts import COLUMNS as POST_COLUMNS

ROLLUP_SUMS = (*SUMMED, "followers_change")
_DAY = timedelta(days=1)
T = TypeVar("T")


def _insert(session: AsyncSession, model: type[Any]) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (PostgreSQL and SQLite alike)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def _added(table: Any, excluded: Any, name: str) -> ColumnElement[Any]:
    """``row.name + new.name`` where NULL (not available) plus NULL stays NULL."""
    current, new = getattr(table, name), getattr(excluded, name)
    return case(
        (new.is_(None), current),
        else_=func.coalesce(current, 0) + new,
    )


@dataclass(frozen=True)
class DayChange:
    """What one event adds to one channel's day (and so to its brand's day)."""

    channel_id: uuid.UUID
    brand_id: uuid.UUID
    network: str
    day: date
    posts: int = 0
    values: Mapping[str, int | None] | None = None
    followers_change: int | None = None
    # Set the day's follower count (the last one counted that day).
    followers: int | None = None
    gap: str | None = None

    @property
    def key(self) -> tuple[uuid.UUID, date]:
        return (self.channel_id, self.day)


# Months whose partition this process has seen exist, per database (a cache of this month
# and the last, which retention never drops; asking again costs one round trip only).
_MONTHS: set[tuple[str, date]] = set()
_ENSURE_MONTH = text("SELECT metric_snapshot_partition(:day)")
_DROP_BEFORE = text("SELECT metric_snapshot_drop_before(:cutoff)")


class SnapshotRepository:
    """Raw snapshots: written once per pull, never read on the request path."""

    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.session = session
        self.subject = subject

    async def ensure_month(self, moment: datetime) -> None:
        """The partition of ``moment``'s month exists (PostgreSQL; created by the owner's
        function when missing)."""
        bind = self.session.get_bind()
        if bind.dialect.name != "postgresql":
            return
        month = moment.astimezone(UTC).date().replace(day=1)
        key = (str(bind.engine.url), month)
        if key not in _MONTHS:
            await self.session.execute(_ENSURE_MONTH, {"day": month})
            # Retention may drop a month two months back or older: those are asked every time.
            if month >= datetime.now(UTC).date().replace(day=1) - timedelta(days=31):
                _MONTHS.add(key)

    async def insert(self, **fields: Any) -> bool:
        """Write one snapshot; False when this pull was already written (nothing changes)."""
        await self.ensure_month(fields["due_at"])
        stmt = (
            _insert(self.session, MetricSnapshot)
            .values(agency_id=self.subject.agency_id, **fields)
            .on_conflict_do_nothing(index_elements=["agency_id", "kind", "target_id", "due_at"])
            .returning(MetricSnapshot.due_at)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def of_target(self, kind: str, target_id: uuid.UUID) -> Sequence[MetricSnapshot]:
        """A post's or an account's snapshots in pull order (tests, support)."""
        stmt = (
            scoped_select(MetricSnapshot, self.subject)
            .where(MetricSnapshot.kind == kind, MetricSnapshot.target_id == target_id)
            .order_by(MetricSnapshot.due_at)
        )
        return (await self.session.execute(stmt)).scalars().all()


class RollupRepository:
    """The daily rollups, added to as snapshots land."""

    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.session = session
        self.subject = subject

    async def apply(self, changes: Sequence[DayChange]) -> None:
        """Add ``changes`` to their channel days, then to their brand days.

        Rows are touched in one order (channel days by key, then brand days by key) by every
        transaction, so two workers adding to the same days wait for each other rather than
        deadlock. One statement for the channel days and one for the brand days, built once
        per database kind and run for every row (a statement built per row, its values in
        its text, was compiled again each time: a quarter of a worker under a burst of
        posts to follow).
        """
        merged: dict[tuple[uuid.UUID, date], list[DayChange]] = {}
        for item in changes:
            merged.setdefault(item.key, []).append(item)
        if not merged:
            return
        agency = {"agency_id": self.subject.agency_id}
        channel_rows: list[dict[str, Any]] = []
        brand_rows: dict[tuple[uuid.UUID, date], dict[str, Any]] = {}
        for key in sorted(merged):
            row = self._row(merged[key])
            channel_rows.append(agency | row)
            brand = brand_rows.setdefault(
                (row["brand_id"], row["day"]),
                agency
                | {"brand_id": row["brand_id"], "day": row["day"], "posts": 0}
                | dict.fromkeys(ROLLUP_SUMS),
            )
            brand["posts"] += row["posts"]
            for name in ROLLUP_SUMS:
                brand[name] = _plus(brand[name], row[name])
        dialect = self.session.get_bind().dialect.name
        await self.session.execute(_day_upsert(dialect, ChannelDay), channel_rows)
        await self.session.execute(
            _day_upsert(dialect, BrandDay), [brand_rows[key] for key in sorted(brand_rows)]
        )

    @staticmethod
    def _row(items: Sequence[DayChange]) -> dict[str, Any]:
        first = items[0]
        row: dict[str, Any] = {
            "channel_id": first.channel_id,
            "brand_id": first.brand_id,
            "network": first.network,
            "day": first.day,
            "posts": 0,
            "followers": None,
            "gap": None,
        } | dict.fromkeys(ROLLUP_SUMS)
        for item in items:
            row["posts"] += item.posts
            for name, value in (item.values or {}).items():
                row[name] = _plus(row[name], value)
            row["followers_change"] = _plus(row["followers_change"], item.followers_change)
            if item.followers is not None:
                row["followers"] = item.followers
            if item.gap is not None:
                row["gap"] = item.gap
        return row


def _upsert_into(dialect: str, table: Any) -> Any:
    """The dialect's INSERT into ``table`` (a Core table: many rows are one executemany)."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


@lru_cache(maxsize=8)
def _day_upsert(dialect: str, model: type[Any]) -> Any:
    """Add a row to its day of ``model`` (``ChannelDay`` or ``BrandDay``); a channel's day
    also keeps the day's follower count and says a gap."""
    stmt = _upsert_into(dialect, model.__table__)
    table, new = model.__table__.c, stmt.excluded
    update = {name: _added(table, new, name) for name in ROLLUP_SUMS}
    update["posts"] = table.posts + new.posts
    key = "brand_id"
    if model is ChannelDay:
        key = "channel_id"
        update["followers"] = func.coalesce(new.followers, table.followers)
        # A day with figures is not a gap any more; a gap is said once and kept otherwise.
        update["gap"] = case(
            (new.followers.is_not(None), None), else_=func.coalesce(new.gap, table.gap)
        )
    return stmt.on_conflict_do_update(index_elements=["agency_id", key, "day"], set_=update)


# Rows per multi-row INSERT: PostgreSQL takes at most 32,767 parameters in one statement.
CHUNK = 1000


def _chunks(rows: Sequence[T]) -> list[Sequence[T]]:
    return [rows[start : start + CHUNK] for start in range(0, len(rows), CHUNK)]


def _plus(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


class PostMetricRepository(TenantRepository[PostMetric]):
    model = PostMetric
    noun = "followed post"

    async def enrol(self, rows: Sequence[Mapping[str, Any]]) -> list[uuid.UUID]:
        """Follow these published variants; the ids not followed before."""
        added: list[uuid.UUID] = []
        for chunk in _chunks(rows):
            stmt = (
                _insert(self.session, PostMetric)
                .values([{"agency_id": self.subject.agency_id, **row} for row in chunk])
                .on_conflict_do_nothing(index_elements=["id"])
                .returning(PostMetric.id)
            )
            added += (await self.session.execute(stmt)).scalars().all()
        return added

    async def lock_many(self, ids: Sequence[uuid.UUID]) -> list[PostMetric]:
        stmt = (
            self.select()
            .where(PostMetric.id.in_(ids))
            .order_by(PostMetric.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def period_rows(self, brand_id: uuid.UUID, start: date, end: date) -> Sequence[Any]:
        """The period's posts as rows of ``columns`` (no ORM objects: they are only read)."""
        stmt = self._of_period(brand_id, start, end).with_only_columns(
            *[getattr(PostMetric, name) for name in POST_COLUMNS]
        )
        return (await self.session.execute(stmt)).all()

    def _of_period(self, brand_id: uuid.UUID, start: date, end: date) -> Any:
        return self.select().where(
            PostMetric.brand_id == brand_id, PostMetric.day >= start, PostMetric.day <= end
        )


class ChannelMetricRepository(TenantRepository[ChannelMetric]):
    model = ChannelMetric
    noun = "followed channel"

    async def lock(self, channel_id: uuid.UUID) -> ChannelMetric | None:
        stmt = self.select().where(ChannelMetric.id == channel_id).with_for_update()
        found: ChannelMetric | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found

    async def lock_many(self, ids: Sequence[uuid.UUID]) -> list[ChannelMetric]:
        stmt = (
            self.select()
            .where(ChannelMetric.id.in_(ids))
            .order_by(ChannelMetric.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def add_many(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Follow these channels (those followed already are left as they are)."""
        for chunk in _chunks(rows):
            await self.session.execute(
                _insert(self.session, ChannelMetric)
                .values([{"agency_id": self.subject.agency_id, **row} for row in chunk])
                .on_conflict_do_nothing(index_elements=["id"])
            )

    async def publishing_waits(
        self, channel_ids: Sequence[uuid.UUID], since: datetime
    ) -> Sequence[Any]:
        """``(channel_id, started_at, retry_after_seconds)`` of publishing calls since
        ``since`` that the network rate limited: their Retry-After holds pulls back too."""
        if not channel_ids:
            return []
        stmt = (
            scoped_select(Attempt, self.subject)
            .join(Variant, Variant.id == Attempt.variant_id)
            .with_only_columns(Variant.channel_id, Attempt.started_at, Attempt.retry_after_seconds)
            .where(
                Attempt.outcome == "rate_limited",
                Attempt.started_at >= since,
                Variant.channel_id.in_(channel_ids),
            )
        )
        return (await self.session.execute(stmt)).all()


class ReportRepository:
    """What a report reads: rollup rows of a period, never raw snapshots."""

    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.session = session
        self.subject = subject

    async def channels(self, brand_id: uuid.UUID) -> list[Channel]:
        """The brand's channels, disconnected ones too (their history stays in reports)."""
        stmt = (
            scoped_select(Channel, self.subject)
            .where(Channel.brand_id == brand_id)
            .order_by(Channel.network, Channel.name, Channel.id)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def channel_periods(
        self, brand_id: uuid.UUID, previous_start: date, start: date, end: date
    ) -> Sequence[Any]:
        """Per channel and per period (``current`` true/false) from ``previous_start`` to
        ``end``: channel_id, current, posts, gap days, then the sums of ROLLUP_SUMS."""
        current = (ChannelDay.day >= start).label("current")
        gap_days = func.count(ChannelDay.gap)
        stmt = (
            scoped_select(ChannelDay, self.subject)
            .with_only_columns(
                ChannelDay.channel_id,
                current,
                func.sum(ChannelDay.posts),
                gap_days,
                *[func.sum(getattr(ChannelDay, name)) for name in ROLLUP_SUMS],
            )
            .where(
                ChannelDay.brand_id == brand_id,
                ChannelDay.day >= previous_start,
                ChannelDay.day <= end,
            )
            .group_by(ChannelDay.channel_id, current)
        )
        return (await self.session.execute(stmt)).all()

    async def brand_periods(self, previous_start: date, start: date, end: date) -> Sequence[Any]:
        """Per brand of the agency and per period (``current``) from ``previous_start`` to
        ``end``: brand_id, current, posts, then the sums of ROLLUP_SUMS (brand rollups)."""
        current = (BrandDay.day >= start).label("current")
        stmt = (
            scoped_select(BrandDay, self.subject)
            .with_only_columns(
                BrandDay.brand_id,
                current,
                func.sum(BrandDay.posts),
                *[func.sum(getattr(BrandDay, name)) for name in ROLLUP_SUMS],
            )
            .where(BrandDay.day >= previous_start, BrandDay.day <= end)
            .group_by(BrandDay.brand_id, current)
        )
        return (await self.session.execute(stmt)).all()

    async def brand_names(self) -> dict[uuid.UUID, str]:
        """Every brand of the agency (archived too: their history is the agency's)."""
        stmt = scoped_select(Brand, self.subject).with_only_columns(Brand.id, Brand.name)
        return {row[0]: row[1] for row in (await self.session.execute(stmt)).all()}

    async def followers_at(
        self, brand_id: uuid.UUID, days: Sequence[date], window: timedelta
    ) -> dict[tuple[int, uuid.UUID], int]:
        """``{(index of the day, channel): count}``: each channel's last follower count
        read on or before each of ``days``, within ``window`` before it.

        One statement: per channel and day, a correlated probe of the primary key
        ``(agency_id, channel_id, day)`` backwards, which stops at the first count.
        """
        if not days:
            return {}
        parts = []
        for index, day in enumerate(days):
            last = (
                scoped_select(ChannelDay, self.subject)
                .with_only_columns(ChannelDay.followers)
                .where(
                    ChannelDay.channel_id == Channel.id,
                    ChannelDay.followers.is_not(None),
                    ChannelDay.day <= day,
                    ChannelDay.day > day - window,
                )
                .order_by(ChannelDay.day.desc())
                .limit(1)
                .correlate(Channel)
                .scalar_subquery()
            )
            parts.append(
                scoped_select(Channel, self.subject)
                .with_only_columns(literal(index), Channel.id, last)
                .where(Channel.brand_id == brand_id)
            )
        rows = (await self.session.execute(union_all(*parts))).all()
        return {
            (int(k), channel_id): int(found) for k, channel_id, found in rows if found is not None
        }

    async def gaps(self, brand_id: uuid.UUID, start: date, end: date) -> Sequence[Any]:
        """``(channel_id, day, reason)`` of the days a channel could not be read."""
        stmt = (
            scoped_select(ChannelDay, self.subject)
            .with_only_columns(ChannelDay.channel_id, ChannelDay.day, ChannelDay.gap)
            .where(
                ChannelDay.brand_id == brand_id,
                ChannelDay.day >= start,
                ChannelDay.day <= end,
                ChannelDay.gap.is_not(None),
            )
            .order_by(ChannelDay.day, ChannelDay.channel_id)
        )
        return (await self.session.execute(stmt)).all()

    async def stamp(
        self, brand_id: uuid.UUID, first_day: date, start: date, end: date
    ) -> tuple[str, ...] | None:
        """What a brand's report of ``start``-``end`` is computed from, as numbers that change
        whenever any of it does: per table, its rows' count and row versions
        (:func:`~agency.kernel.repository.rows_stamp`). Rollup days from ``first_day`` (the
        previous period and the follower window before it). None off PostgreSQL, or when the
        brand is not the subject's.
        """
        if self.session.get_bind().dialect.name != "postgresql":
            return None
        stmt = self.stamp_statement(brand_id, first_day, start, end)
        found = tuple(str(value) for value in (await self.session.execute(stmt)).one())
        return None if found[0].startswith("0:") else found

    def stamp_statement(
        self, brand_id: uuid.UUID, first_day: date, start: date, end: date
    ) -> Select[Any]:
        """The one statement of :meth:`stamp` (PostgreSQL only)."""
        channel_ids = (
            scoped_select(Channel, self.subject)
            .with_only_columns(Channel.id)
            .where(Channel.brand_id == brand_id)
        )
        parts: list[tuple[Any, Sequence[ColumnElement[bool]]]] = [
            (Brand, [Brand.id == brand_id]),
            (Channel, [Channel.brand_id == brand_id]),
            (
                ChannelDay,
                [
                    ChannelDay.brand_id == brand_id,
                    ChannelDay.day >= first_day,
                    ChannelDay.day <= end,
                ],
            ),
            (
                PostMetric,
                [PostMetric.brand_id == brand_id, PostMetric.day >= start, PostMetric.day <= end],
            ),
            (QueueSlot, [QueueSlot.channel_id.in_(channel_ids)]),
            (Crisis, [Crisis.brand_id == brand_id]),
            (CampaignResult, [CampaignResult.brand_id == brand_id]),
            (Cost, [Cost.brand_id == brand_id]),
            (PressCoverage, [PressCoverage.brand_id == brand_id]),
            (SavedReport, [SavedReport.brand_id == brand_id]),
            (ClientMember, [ClientMember.brand_id == brand_id]),
            (InboxChannel, [InboxChannel.brand_id == brand_id]),
            # Comments of the period, with a day's slack either side for the brand's zone.
            (
                Message,
                [
                    Message.brand_id == brand_id,
                    Message.received_at >= datetime.combine(start, time(), UTC) - _DAY,
                    Message.received_at < datetime.combine(end, time(), UTC) + 2 * _DAY,
                ],
            ),
        ]
        columns = []
        for model, where in parts:
            columns.append(
                scoped_select(model, self.subject)
                .with_only_columns(rows_stamp(model.__tablename__))
                .where(*where)
                .scalar_subquery()
            )
        return select(*columns)

    async def comments(
        self, brand_id: uuid.UUID, start: datetime, end: datetime
    ) -> Sequence[Any] | None:
        """``(network, kind, response_seconds, due_at, answered_at)`` of the comments the
        brand received from ``start`` to ``end`` (deleted ones left out); None when the inbox
        reads none of the brand's channels (then nothing is known, not zero)."""
        followed = (
            scoped_select(InboxChannel, self.subject)
            .with_only_columns(InboxChannel.id)
            .where(InboxChannel.brand_id == brand_id)
            .exists()
        )
        stmt = (
            scoped_select(Message, self.subject)
            .with_only_columns(
                Message.network,
                Message.kind,
                Message.response_seconds,
                Message.due_at,
                Message.answered_at,
                followed,
            )
            .where(
                Message.brand_id == brand_id,
                Message.received_at >= start,
                Message.received_at < end,
                Message.deleted_at.is_(None),
            )
        )
        rows = (await self.session.execute(stmt)).all()
        if not rows:
            probe = select(followed)
            return [] if await self.session.scalar(probe) else None
        return [row[:5] for row in rows]

    async def crises(self, brand_id: uuid.UUID, start: datetime, end: datetime) -> Sequence[Any]:
        """``(started_at, reason)`` of the brand's crises that overlap ``start``-``end``."""
        stmt = (
            scoped_select(Crisis, self.subject)
            .with_only_columns(Crisis.started_at, Crisis.reason)
            .where(
                Crisis.brand_id == brand_id,
                Crisis.started_at < end,
                or_(Crisis.ended_at.is_(None), Crisis.ended_at >= start),
            )
            .order_by(Crisis.started_at)
        )
        return (await self.session.execute(stmt)).all()

    async def zones(self, brand_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        """Each brand's time zone."""
        if not brand_ids:
            return {}
        stmt = (
            scoped_select(Brand, self.subject)
            .with_only_columns(Brand.id, Brand.timezone)
            .where(Brand.id.in_(set(brand_ids)))
        )
        return {row[0]: row[1] for row in (await self.session.execute(stmt)).all()}


class MetricSweepRepository(SystemRepository):
    """Across agencies: posts and channels to start following, and the pulls that are due
    (the scheduler's claims, ``FOR UPDATE SKIP LOCKED``: two schedulers never take a row)."""

    async def published_unfollowed(self, since: datetime, limit: int) -> Sequence[Any]:
        """``(Variant, Publication, brand time zone)`` of variants published since ``since``
        that reporting does not follow yet."""
        # The brand's zone read per row, not joined: under RLS the planner took a join with
        # brands for one matching brand and scanned the variants once per brand (the
        # publishing claim had the same plan; benchmarks.md, 2026-12-04).
        timezone = select(Brand.timezone).where(Brand.id == Variant.brand_id).scalar_subquery()
        stmt = (
            select(Variant, Publication, timezone)
            .join(Publication, Publication.id == Variant.publication_id)
            .where(
                Variant.status == Delivery.PUBLISHED,
                Variant.due_at >= since,
                Variant.published_at >= since,
                Variant.post_id.is_not(None),
                ~exists().where(PostMetric.id == Variant.id),
            )
            .order_by(Variant.published_at)
            .limit(limit)
        )
        return (await self.session.execute(stmt)).all()

    async def channels_unfollowed(self, limit: int) -> Sequence[Any]:
        """``(agency_id, channel_id, brand_id, network)`` of connected channels without
        account pulls yet (a disconnected one is not followed)."""
        stmt = (
            select(Channel.agency_id, Channel.id, Channel.brand_id, Channel.network)
            .where(
                Channel.health != "revoked",
                ~exists().where(ChannelMetric.id == Channel.id),
            )
            .limit(limit)
        )
        return (await self.session.execute(stmt)).all()

    async def claim_posts(self, now: datetime, lease: datetime, limit: int) -> Sequence[Any]:
        """``(agency_id, post id)`` of due post pulls, leased until ``lease``; a channel
        waiting out a Retry-After is passed over."""
        blocked = exists().where(
            ChannelMetric.id == PostMetric.channel_id, ChannelMetric.blocked_until > now
        )
        stmt = (
            select(PostMetric.agency_id, PostMetric.id)
            .where(
                PostMetric.next_pull_at <= now,
                or_(PostMetric.lease_until.is_(None), PostMetric.lease_until < now),
                ~blocked,
            )
            .order_by(PostMetric.next_pull_at)
            .limit(limit)
            .with_for_update(of=PostMetric, skip_locked=True)
        )
        rows = (await self.session.execute(stmt)).all()
        if rows:
            await self.session.execute(
                update(PostMetric)
                .where(PostMetric.id.in_([row[1] for row in rows]))
                .values(lease_until=lease)
                .execution_options(synchronize_session=False)
            )
        return rows

    async def claim_accounts(self, now: datetime, lease: datetime, limit: int) -> Sequence[Any]:
        """``(agency_id, channel_id)`` of due account pulls, leased until ``lease``."""
        stmt = (
            select(ChannelMetric.agency_id, ChannelMetric.id)
            .where(
                ChannelMetric.next_pull_at <= now,
                or_(ChannelMetric.lease_until.is_(None), ChannelMetric.lease_until < now),
                or_(ChannelMetric.blocked_until.is_(None), ChannelMetric.blocked_until <= now),
            )
            .order_by(ChannelMetric.next_pull_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = (await self.session.execute(stmt)).all()
        if rows:
            await self.session.execute(
                update(ChannelMetric)
                .where(ChannelMetric.id.in_([row[1] for row in rows]))
                .values(lease_until=lease)
                .execution_options(synchronize_session=False)
            )
        return rows

    async def drop_months_before(self, cutoff: date) -> list[str]:
        """Drop the raw table's monthly partitions wholly before ``cutoff``'s month (the
        owner's function, PostgreSQL); the names of those dropped."""
        if self.session.get_bind().dialect.name != "postgresql":
            return []
        found = await self.session.execute(_DROP_BEFORE, {"cutoff": cutoff})
        return [str(name) for name in found.scalars().all()]

    async def ensure_months(self, days: Sequence[date]) -> None:
        """The raw table's partitions for these months exist (PostgreSQL)."""
        if self.session.get_bind().dialect.name != "postgresql":
            return
        for day in days:
            await self.session.execute(_ENSURE_MONTH, {"day": day.replace(day=1)})
