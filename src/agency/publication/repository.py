from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    Integer,
    Select,
    String,
    Text,
    Uuid,
    and_,
    bindparam,
    cast,
    column,
    func,
    insert,
    inspect,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.types import TypeEngine

from agency.brand.models import Brand
from agency.kernel.errors import NotFound
from agency.kernel.repository import TenantRepository, one_of
from agency.kernel.system import SystemRepository
from agency.kernel.tenancy import Subject, scoped_delete, scoped_select, scoped_update
from agency.publication.models import Attempt, Publication, PublicationVersion, QueueSlot, Variant
from agency.publication.states import AttemptOutcome, Delivery, FirstCommentStatus


class PublicationRepository(TenantRepository[Publication]):
    model = Publication
    noun = "publication"

    async def get_for_update(self, publication_id: uuid.UUID) -> Publication:
        """The publication, locked: edits and the pipeline take this lock first, then variants."""
        found = await self.lock(publication_id)
        if found is None:
            await self.get(publication_id)  # the same 404 as a read
        assert found is not None
        return found

    async def with_variants(self, publication_id: uuid.UUID) -> tuple[Publication, list[Variant]]:
        """The publication and its variants from one statement, so from one snapshot: the
        pipeline changes both in one transaction, and two reads could straddle its commit."""
        stmt = (
            self.select()
            .add_columns(Variant)
            .outerjoin(
                Variant,
                and_(
                    Variant.publication_id == Publication.id,
                    Variant.agency_id == Publication.agency_id,
                ),
            )
            .where(Publication.id == publication_id)
            .order_by(Variant.id)
            .execution_options(populate_existing=True)
        )
        rows = (await self.session.execute(stmt)).all()
        if not rows:
            raise NotFound(f"No publication with id {publication_id} in this agency.")
        return rows[0][0], [row[1] for row in rows if row[1] is not None]

    async def lock(self, publication_id: uuid.UUID) -> Publication | None:
        stmt = (
            self.select()
            .where(Publication.id == publication_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        found: Publication | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found

    async def lock_many(self, publication_ids: set[uuid.UUID]) -> list[Publication]:
        """Locked in id order: two batches sharing publications never wait on each other."""
        if not publication_ids:
            return []
        stmt = (
            self.select()
            .where(one_of(Publication.id, publication_ids))
            .order_by(Publication.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    def listing(
        self,
        brand_id: uuid.UUID | None,
        status: str | None,
        campaign: str | None,
    ) -> Select[Publication]:
        stmt = self.select()
        if brand_id is not None:
            stmt = stmt.where(Publication.brand_id == brand_id)
        if status is not None:
            stmt = stmt.where(Publication.status == status)
        if campaign is not None:
            stmt = stmt.where(Publication.campaign == campaign)
        return stmt

    async def set_statuses(self, changes: Sequence[tuple[Publication, str]]) -> None:
        """:meth:`set_status` for many: one statement per new status, not per publication."""
        by_status: dict[str, list[Publication]] = {}
        for publication, status in changes:
            by_status.setdefault(status, []).append(publication)
        for status, publications in by_status.items():
            await self.session.execute(
                scoped_update(Publication, self.subject)
                .where(one_of(Publication.id, [p.id for p in publications]))
                .values(status=status)
                .execution_options(synchronize_session=False)
            )
            for publication in publications:
                set_committed_value(publication, "status", status)


class VariantRepository(TenantRepository[Variant]):
    model = Variant
    noun = "variant"

    async def of_publication(
        self, publication_id: uuid.UUID, *, lock: bool = False
    ) -> list[Variant]:
        stmt = self.select().where(Variant.publication_id == publication_id).order_by(Variant.id)
        if lock:
            stmt = stmt.with_for_update()
        return list((await self.session.execute(stmt)).scalars().all())

    async def of_publications(self, ids: Sequence[uuid.UUID]) -> list[Variant]:
        if not ids:
            return []
        stmt = self.select().where(one_of(Variant.publication_id, ids)).order_by(Variant.id)
        return list((await self.session.execute(stmt)).scalars().all())

    async def many(self, variant_ids: Sequence[uuid.UUID]) -> list[Variant]:
        if not variant_ids:
            return []
        stmt = self.select().where(one_of(Variant.id, variant_ids))
        stmt = stmt.execution_options(populate_existing=True)
        return list((await self.session.execute(stmt)).scalars().all())

    async def lock_many(
        self, variant_ids: Sequence[uuid.UUID], *, skip_locked: bool
    ) -> list[Variant]:
        if not variant_ids:
            return []
        stmt = (
            self.select()
            .where(one_of(Variant.id, variant_ids))
            .order_by(Variant.id)
            .with_for_update(skip_locked=skip_locked)
            .execution_options(populate_existing=True)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def mark_publishing(self, variants: Sequence[Variant], lease: datetime) -> None:
        """Variants whose call is about to leave, in one statement: ``publishing`` under
        the call's lease, with their attempt count and content hash as the objects say."""
        await update_rows(
            self.session,
            self.subject,
            Variant,
            {"attempt_count": Integer(), "content_hash": String()},
            [(v.id, v.attempt_count, v.content_hash) for v in variants],
            status=Delivery.PUBLISHING,
            lease_until=lease,
        )

    async def mark_published(self, variants: Sequence[Variant], now: datetime) -> None:
        """Variants out on their network, in one statement: the post's id, address and
        time as the objects say, the rest as every published variant has it."""
        await update_rows(
            self.session,
            self.subject,
            Variant,
            {"post_id": String(), "post_url": String(), "published_at": DateTime(timezone=True)},
            [(v.id, v.post_id, v.post_url, v.published_at) for v in variants],
            status=Delivery.PUBLISHED,
            finished_at=now,
            lease_until=None,
            not_before=None,
            hold_reason=None,
            last_error=None,
        )

    async def publications_of(self, variant_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        if not variant_ids:
            return {}
        stmt = (
            self.select()
            .with_only_columns(Variant.id, Variant.publication_id)
            .where(one_of(Variant.id, variant_ids))
        )
        return {row[0]: row[1] for row in (await self.session.execute(stmt)).all()}

    async def statuses_of(self, publication_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
        found: dict[uuid.UUID, list[str]] = {}
        if not publication_ids:
            return found
        stmt = (
            self.select()
            .with_only_columns(Variant.publication_id, Variant.status)
            .where(one_of(Variant.publication_id, publication_ids))
        )
        for publication_id, status in (await self.session.execute(stmt)).all():
            found.setdefault(publication_id, []).append(status)
        return found

    async def channel_times(
        self,
        channel_id: uuid.UUID,
        start: datetime,
        end: datetime,
        exclude: Sequence[uuid.UUID] = (),
    ) -> list[datetime]:
        """When the channel publishes (or published) between ``start`` and ``end``."""
        when = func.coalesce(Variant.published_at, Variant.due_at)
        stmt = (
            scoped_select(Variant, self.subject)
            .with_only_columns(when)
            .where(
                Variant.channel_id == channel_id,
                Variant.status.in_(
                    [Delivery.SCHEDULED, Delivery.PUBLISHING, Delivery.PUBLISHED, Delivery.UNKNOWN]
                ),
                when >= start,
                when < end,
            )
        )
        if exclude:
            stmt = stmt.where(Variant.id.not_in(exclude))
        return [r[0] for r in (await self.session.execute(stmt)).all()]

    async def taken_times(self, channel_id: uuid.UUID, start: datetime) -> set[datetime]:
        stmt = (
            scoped_select(Variant, self.subject)
            .with_only_columns(Variant.due_at)
            .where(
                Variant.channel_id == channel_id,
                Variant.due_at >= start,
                or_(
                    Variant.status == Delivery.SCHEDULED,
                    Variant.status == Delivery.PUBLISHING,
                ),
            )
        )
        return {r[0] for r in (await self.session.execute(stmt)).all() if r[0] is not None}

    async def using_media(self, media_id: uuid.UUID) -> int:
        stmt = (
            scoped_select(Variant, self.subject)
            .with_only_columns(func.count())
            .where(
                cast(Variant.media_ids, Text).contains(str(media_id)),
                Variant.status.not_in([Delivery.PUBLISHED, Delivery.CANCELED, Delivery.MISSED]),
            )
        )
        return int((await self.session.execute(stmt)).scalar_one())


class AttemptRepository(TenantRepository[Attempt]):
    model = Attempt
    noun = "attempt"

    async def add_started(self, attempts: Sequence[Attempt]) -> None:
        """A group's new attempts (built with their ids) in one statement, then kept in the
        session as saved rows: a later change to one (its answer) is written as an update.
        The unit of work would compile an ``INSERT`` of every row's values per group."""
        await insert_rows(
            self.session,
            Attempt,
            STARTED_COLUMNS,
            [tuple(getattr(a, name) for name in STARTED_COLUMNS) for a in attempts],
        )
        for attempt in attempts:
            make_transient_to_detached(attempt)
            self.session.add(attempt)

    async def finish_published(self, attempts: Sequence[Attempt], now: datetime) -> None:
        """Attempts answered with a post, in one statement (``post_id`` as each says)."""
        await update_rows(
            self.session,
            self.subject,
            Attempt,
            {"post_id": String()},
            [(attempt.id, attempt.post_id) for attempt in attempts],
            outcome=AttemptOutcome.PUBLISHED,
            finished_at=now,
        )

    async def of_publication(self, publication_id: uuid.UUID) -> list[Attempt]:
        stmt = (
            self.select()
            .where(Attempt.publication_id == publication_id)
            .order_by(Attempt.started_at, Attempt.number)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def first_started(self, variant_id: uuid.UUID) -> datetime | None:
        stmt = (
            scoped_select(Attempt, self.subject)
            .with_only_columns(func.min(Attempt.started_at))
            .where(Attempt.variant_id == variant_id, Attempt.kind == "publish")
        )
        found: datetime | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found

    async def pending(self, variant_id: uuid.UUID) -> list[Attempt]:
        stmt = self.select().where(Attempt.variant_id == variant_id, Attempt.outcome == "pending")
        return list((await self.session.execute(stmt)).scalars().all())


class VersionRepository(TenantRepository[PublicationVersion]):
    model = PublicationVersion
    noun = "version"

    async def of_publication(self, publication_id: uuid.UUID) -> list[PublicationVersion]:
        stmt = (
            self.select()
            .where(PublicationVersion.publication_id == publication_id)
            .order_by(PublicationVersion.number, PublicationVersion.at)
        )
        return list((await self.session.execute(stmt)).scalars().all())


class QueueSlotRepository(TenantRepository[QueueSlot]):
    """A channel's weekly queue slots: "add to queue" places by them, the calendar edits
    them and measures a channel's rhythm against them."""

    model = QueueSlot
    noun = "queue slot"

    async def of_channel(self, channel_id: uuid.UUID) -> list[QueueSlot]:
        stmt = (
            self.select()
            .where(QueueSlot.channel_id == channel_id)
            .order_by(QueueSlot.weekday, QueueSlot.local_time)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def of_channels(self, channel_ids: Sequence[uuid.UUID]) -> list[QueueSlot]:
        if not channel_ids:
            return []
        stmt = self.select().where(one_of(QueueSlot.channel_id, channel_ids))
        return list((await self.session.execute(stmt)).scalars().all())

    async def replace(self, channel_id: uuid.UUID, slots: Sequence[tuple[int, str]]) -> None:
        """The channel's slots become ``slots`` (weekday, local "HH:MM")."""
        # A statement, not ORM deletes: the unit of work would insert before deleting and
        # trip the unique index on a slot that is kept.
        await self.session.execute(
            scoped_delete(QueueSlot, self.subject).where(QueueSlot.channel_id == channel_id)
        )
        self.session.add_all(
            QueueSlot(
                agency_id=self.subject.agency_id,
                channel_id=channel_id,
                weekday=weekday,
                local_time=local_time,
            )
            for weekday, local_time in slots
        )
        await self.flush()


class PublishingSweepRepository(SystemRepository):
    """Variants of every agency as the scheduler claims them (``FOR UPDATE SKIP LOCKED``: two
    schedulers never take the same row), in a session bound to the system."""

    async def due(
        self, now: datetime, horizon: datetime, limit: int, after: datetime | None = None
    ) -> Sequence[Any]:
        """``(id, agency_id, status, due_at, attempt_count, publish_grace_minutes,
        media_ids)`` of variants to publish (scheduled and due by ``horizon``: claimed a
        little ahead), not leased, not held; locked, by due time. With ``after``: only posts
        due after it (the fresh ones)."""
        due = [Variant.status == Delivery.SCHEDULED, Variant.due_at <= horizon]
        if after is not None:
            due.append(Variant.due_at > after)
        return await self._claimable(now, limit, *due)

    async def to_reconcile(self, now: datetime, limit: int) -> Sequence[Any]:
        """As :meth:`due`, the variants whose outcome is unknown, to look for on the network
        (checked again at ``not_before``); apart, so that each query has one status for the
        (status, due time) index."""
        unknown = [Variant.status == Delivery.UNKNOWN, Variant.not_before.is_not(None)]
        return await self._claimable(now, limit, *unknown)

    async def _claimable(self, now: datetime, limit: int, *where: Any) -> Sequence[Any]:
        """The brand's grace is read per row claimed, not joined: PostgreSQL cannot estimate
        the brands the row-level security lets through (one, it guesses), and planned a join
        as one pass over the variants per brand (100 ms a claim with 100 brands)."""
        grace = (
            select(Brand.publish_grace_minutes)
            .where(Brand.id == Variant.brand_id)
            .scalar_subquery()
        )
        stmt = (
            select(
                Variant.id,
                Variant.agency_id,
                Variant.status,
                Variant.due_at,
                Variant.attempt_count,
                grace,
                Variant.media_ids,
            )
            .where(
                *where,
                or_(Variant.not_before.is_(None), Variant.not_before <= now),
                or_(Variant.lease_until.is_(None), Variant.lease_until < now),
                Variant.held_at.is_(None),
            )
            .order_by(Variant.due_at)
            .limit(limit)
            .with_for_update(of=Variant, skip_locked=True)
        )
        return (await self.session.execute(stmt)).all()

    async def comments_due(self, now: datetime, limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """``(id, agency_id)`` of variants whose first comment a person released after a
        crisis (``pending``), not leased; locked."""
        stmt = (
            select(Variant.id, Variant.agency_id)
            .where(
                Variant.first_comment_status == FirstCommentStatus.PENDING,
                or_(Variant.lease_until.is_(None), Variant.lease_until < now),
            )
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [(row[0], row[1]) for row in (await self.session.execute(stmt)).all()]

    async def lease(self, variant_ids: Sequence[uuid.UUID], until: datetime) -> None:
        if not variant_ids:
            return
        await self.session.execute(
            update(Variant)
            .where(one_of(Variant.id, variant_ids))
            .values(lease_until=until)
            .execution_options(synchronize_session=False)
        )

    async def renew(
        self, variant_ids: Sequence[uuid.UUID], until: datetime, waiting_before: datetime
    ) -> None:
        """A worker's heartbeat: the leases of its calls on the wire (``publishing``), and of
        the posts it still holds (``scheduled``: waiting for their instant, or for a turn
        under a backlog) whose claim's lease ends before ``waiting_before``, end at
        ``until``; a held post whose claim ran out would be claimed again and held twice.
        Rows locked by a transaction are skipped (never waited for: the next beat renews
        them). The worker runs this with none of its own re-checks in progress, since a
        re-check takes its posts with ``SKIP LOCKED`` and would pass over one locked here."""
        if not variant_ids:
            return
        held = (
            select(Variant.id)
            .where(
                one_of(Variant.id, variant_ids),
                Variant.lease_until.is_not(None),
                or_(
                    Variant.status == Delivery.PUBLISHING,
                    and_(
                        Variant.status == Delivery.SCHEDULED,
                        Variant.lease_until < waiting_before,
                    ),
                ),
            )
            .with_for_update(skip_locked=True)
        )
        await self.session.execute(
            update(Variant)
            .where(Variant.id.in_(held))
            .values(lease_until=until)
            .execution_options(synchronize_session=False)
        )

    async def miss(self, variant_id: uuid.UUID, now: datetime, message: str) -> None:
        """The variant is ``missed``: its time passed while nothing could publish it."""
        await self.session.execute(
            update(Variant)
            .where(Variant.id == variant_id)
            .values(status=Delivery.MISSED, finished_at=now, lease_until=None, last_error=message)
            .execution_options(synchronize_session=False)
        )

    async def stale_calls(self, now: datetime, limit: int) -> Sequence[Any]:
        """``(id, agency_id)`` of variants still publishing after their lease (their worker
        died during the call); locked."""
        # The status as a literal: under a generic plan (a statement prepared and run often)
        # a parameter left PostgreSQL guessing, and it read the whole table five times a
        # second (30 to 40 ms each at 100,000 posts) for none; named, it reads the index.
        publishing = literal(Delivery.PUBLISHING.value, literal_execute=True)
        stmt = (
            select(Variant.id, Variant.agency_id)
            .where(Variant.status == publishing, Variant.lease_until < now)
            .with_for_update(skip_locked=True)
            .limit(limit)
        )
        return (await self.session.execute(stmt)).all()

    async def outcome_unknown(
        self, variant_ids: Sequence[uuid.UUID], now: datetime, attempt: str, variant: str
    ) -> None:
        """The variants' pending attempts end ``unknown`` (``attempt`` says why), and the
        variants become ``unknown``, to reconcile from ``now`` (``variant`` says why)."""
        await self.session.execute(
            update(Attempt)
            .where(one_of(Attempt.variant_id, variant_ids), Attempt.outcome == "pending")
            .values(outcome="unknown", finished_at=now, message=attempt)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(
            update(Variant)
            .where(one_of(Variant.id, variant_ids))
            .values(status=Delivery.UNKNOWN, not_before=now, lease_until=None, last_error=variant)
            .execution_options(synchronize_session=False)
        )


# The columns of an attempt as it starts (the others are null until it ends).
STARTED_COLUMNS: Mapping[str, TypeEngine[Any]] = {
    "id": Uuid(),
    "agency_id": Uuid(),
    "variant_id": Uuid(),
    "publication_id": Uuid(),
    "number": Integer(),
    "kind": String(),
    "outcome": String(),
    "idempotency_key": String(),
    "started_at": DateTime(timezone=True),
}


def _unnested(columns: Mapping[str, TypeEngine[Any]], rows: Sequence[tuple[Any, ...]]) -> Any:
    """``unnest($column, ...) AS new(column, ...)``: the rows as one array per column, so
    that a statement reading them is one text whatever the number of rows (compiled once by
    SQLAlchemy, prepared once per connection by asyncpg; a ``VALUES`` list was a new
    statement for each length)."""
    arrays = list(zip(*rows, strict=True))
    return (
        func.unnest(
            *(
                bindparam(f"new_{name}", list(array), type_=ARRAY(kind))
                for (name, kind), array in zip(columns.items(), arrays, strict=True)
            )
        )
        .table_valued(*(column(name, kind) for name, kind in columns.items()))
        .render_derived(name="new")
    )


async def insert_rows(
    session: AsyncSession,
    model: type[Any],
    columns: Mapping[str, TypeEngine[Any]],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """Many new rows of ``model`` in one statement: each of ``rows`` gives the values of
    ``columns``. On PostgreSQL ``INSERT ... SELECT FROM unnest($column, ...)``; on SQLite
    one statement run for each row."""
    if not rows:
        return
    table = model.__table__
    if session.get_bind().dialect.name != "postgresql":
        await session.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    new = _unnested(columns, rows)
    await session.execute(
        insert(table).from_select(list(columns), select(*(new.c[name] for name in columns)))
    )


async def update_rows(
    session: AsyncSession,
    subject: Subject,
    model: type[Any],
    columns: Mapping[str, TypeEngine[Any]],
    rows: Sequence[tuple[Any, ...]],
    **same: Any,
) -> None:
    """Many rows of ``model`` in one statement instead of one per row: each of ``rows`` is
    an id, then its values of ``columns``; ``same`` is set on every row. On PostgreSQL
    ``UPDATE ... FROM unnest($ids, $column, ...)``."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        # SQLite (the embedded default) has no arrays: a statement per row, few rows there.
        for row_id, *row in rows:
            await session.execute(
                scoped_update(model, subject)
                .where(model.id == row_id)
                .values(**dict(zip(columns, row, strict=True)), **same)
                .execution_options(synchronize_session=False)
            )
        return
    new = _unnested({"id": Uuid(), **columns}, rows)
    await session.execute(
        scoped_update(model, subject)
        .where(model.id == new.c.id)
        .values(**{name: new.c[name] for name in columns}, **same)
        .execution_options(synchronize_session=False)
    )


async def insert_built(session: AsyncSession, objects: Sequence[Any]) -> None:
    """Insert objects built in memory and never added to the session, one statement for
    all (they are of one class and set the same attributes). Each object's attributes are
    its row; the columns' defaults fill the rest. The unit of work would not do: it starts
    ``Publication.version`` at 1 whatever the object says, and tracks every object after.
    """
    if not objects:
        return
    mapper = inspect(type(objects[0]))
    columns = {a.key: a.columns[0].key for a in mapper.column_attrs}
    rows = [{columns[k]: v for k, v in vars(o).items() if k in columns} for o in objects]
    await session.execute(insert(mapper.local_table), rows)
