"""The statements of media staged ahead (:mod:`agency.publication.staging`): the scheduler's
claim across agencies, and a worker's reads and locks within one agency."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, insert, or_, select, text, update

from agency.kernel.db import new_id
from agency.kernel.repository import TenantRepository, one_of
from agency.kernel.system import SystemRepository
from agency.publication.models import HOLDING, WITH_MEDIA, MediaStaging, Variant
from agency.publication.states import Delivery, Staging


class MediaStagingRepository(TenantRepository[MediaStaging]):
    model = MediaStaging
    noun = "media staging"

    async def of_variants(
        self, variant_ids: Sequence[uuid.UUID], *, lock: bool = False
    ) -> dict[uuid.UUID, MediaStaging]:
        """The staging rows of ``variant_ids`` by variant; ``lock``: locked, those another
        transaction holds left out (never waited for)."""
        if not variant_ids:
            return {}
        stmt = self.select().where(one_of(MediaStaging.variant_id, variant_ids))
        if lock:
            stmt = stmt.with_for_update(skip_locked=True).execution_options(populate_existing=True)
        rows = (await self.session.execute(stmt)).scalars().all()
        return {row.variant_id: row for row in rows}

    async def locked(self, staging_ids: Sequence[uuid.UUID]) -> list[MediaStaging]:
        """The staging rows ``staging_ids``, locked (those another transaction holds left
        out)."""
        if not staging_ids:
            return []
        stmt = (
            self.select()
            .where(one_of(MediaStaging.id, staging_ids))
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        return list((await self.session.execute(stmt)).scalars().all())


# A staging row and its variant (one agency's).
OF_VARIANT = and_(
    MediaStaging.variant_id == Variant.id, MediaStaging.agency_id == Variant.agency_id
)

# Variants that name, or may have named, what was staged for them: never discarded.
NAMED = (Delivery.PUBLISHING, Delivery.PUBLISHED, Delivery.UNKNOWN)


def no_post_will_name() -> ColumnElement[bool]:
    """Staged uploads their variant will never name: it is no longer scheduled (canceled,
    back to draft, failed, missed) or was edited since (another content version), and has
    not gone out nor may have."""
    edited = MediaStaging.content_version != Variant.content_version
    return and_(
        Variant.status.not_in(NAMED),
        or_(Variant.status != Delivery.SCHEDULED, edited),
    )


class StagingSweepRepository(SystemRepository):
    """Variants of every agency whose media are due to go up ahead, as the scheduler claims
    them: the variant row locked (``SKIP LOCKED``: two schedulers never take the same one)."""

    async def due(
        self,
        now: datetime,
        after: datetime,
        horizons: Mapping[str, datetime],
        limit: int,
    ) -> Sequence[tuple[uuid.UUID, uuid.UUID, uuid.UUID | None]]:
        """``(variant id, agency id, staging id or None)`` of scheduled, approved variants
        with media, due after ``after`` and by their network's horizon, whose media were
        never staged, or staged for another content version, or expire before the post
        (from their ``renew_at``), or failed and are due for another try, or whose claim or
        upload outlived its lease (a lost message, a dead worker); by due time."""
        if not horizons:
            return []
        staging = MediaStaging
        lease_free = or_(staging.lease_until.is_(None), staging.lease_until < now)
        again = or_(
            staging.content_version != Variant.content_version,
            staging.status.in_((Staging.CLAIMED, Staging.UPLOADING)),
            and_(
                staging.status == Staging.STAGED,
                staging.expires_at < Variant.due_at,
                staging.renew_at <= now,
            ),
            and_(
                staging.status == Staging.FAILED,
                staging.reported_at.is_(None),
                or_(staging.not_before.is_(None), staging.not_before <= now),
            ),
        )
        networks = [and_(Variant.network == n, Variant.due_at <= h) for n, h in horizons.items()]
        stmt = (
            select(Variant.id, Variant.agency_id, staging.id)
            .outerjoin(staging, OF_VARIANT)
            .where(
                Variant.status == Delivery.SCHEDULED,
                Variant.due_at > after,
                or_(*networks),
                Variant.held_at.is_(None),
                Variant.approved_version == Variant.content_version,
                # As the partial index says it, so that only its rows are read.
                text(WITH_MEDIA.replace("media_ids", "publication_variants.media_ids")),
                or_(staging.id.is_(None), and_(lease_free, again)),
            )
            .order_by(Variant.due_at)
            .limit(limit)
            .with_for_update(of=Variant, skip_locked=True)
        )
        rows = (await self.session.execute(stmt)).all()
        return [(row[0], row[1], row[2]) for row in rows]

    async def claim(
        self,
        rows: Sequence[tuple[uuid.UUID, uuid.UUID, uuid.UUID | None]],
        now: datetime,
        until: datetime,
    ) -> None:
        """Each row ``claimed`` until ``until``: a staging row made where there is none."""
        fresh = [
            {
                "id": new_id(),
                "agency_id": agency_id,
                "variant_id": variant_id,
                "status": Staging.CLAIMED,
                "content_version": 0,
                "media_ids": [],
                "references": [],
                "attempt_count": 0,
                "lease_until": until,
                "created_at": now,
            }
            for variant_id, agency_id, staging_id in rows
            if staging_id is None
        ]
        if fresh:
            await self.session.execute(insert(MediaStaging), fresh)
        known = [staging_id for _, _, staging_id in rows if staging_id is not None]
        if known:
            await self.session.execute(
                update(MediaStaging)
                .where(one_of(MediaStaging.id, known))
                .values(status=Staging.CLAIMED, lease_until=until, updated_at=now)
                .execution_options(synchronize_session=False)
            )

    async def discardable(self, now: datetime, limit: int) -> Sequence[tuple[uuid.UUID, uuid.UUID]]:
        """``(staging id, agency id)`` of rows holding uploads that no post will name (see
        :func:`no_post_will_name`), not leased and not waiting before another try; locked."""
        stmt = (
            select(MediaStaging.id, MediaStaging.agency_id)
            .join(Variant, OF_VARIANT)
            .where(
                text(HOLDING),  # as the partial index says it
                or_(MediaStaging.lease_until.is_(None), MediaStaging.lease_until < now),
                or_(MediaStaging.not_before.is_(None), MediaStaging.not_before <= now),
                no_post_will_name(),
            )
            .limit(limit)
            .with_for_update(of=MediaStaging, skip_locked=True)
        )
        rows = (await self.session.execute(stmt)).all()
        return [(row[0], row[1]) for row in rows]

    async def settle_published(self, now: datetime, limit: int) -> int:
        """Rows whose post went out: what it named is the network's now, never deleted; the
        references are dropped so that the rows leave the sweep's index. How many."""
        published = (
            select(MediaStaging.id)
            .join(Variant, OF_VARIANT)
            .where(text(HOLDING), Variant.status == Delivery.PUBLISHED)
            .limit(limit)
            .with_for_update(of=MediaStaging, skip_locked=True)
        )
        ids = list((await self.session.execute(published)).scalars().all())
        if ids:
            await self.session.execute(
                update(MediaStaging)
                .where(one_of(MediaStaging.id, ids))
                .values(references=[], updated_at=now)
                .execution_options(synchronize_session=False)
            )
        return len(ids)

    async def lease(self, staging_ids: Sequence[uuid.UUID], now: datetime, until: datetime) -> None:
        """The rows ``staging_ids`` leased until ``until`` (a discard job holds them)."""
        if staging_ids:
            await self.session.execute(
                update(MediaStaging)
                .where(one_of(MediaStaging.id, staging_ids))
                .values(lease_until=until, updated_at=now)
                .execution_options(synchronize_session=False)
            )

    async def staged_among(self, variant_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Those of ``variant_ids`` whose media are staged (for any content version)."""
        if not variant_ids:
            return set()
        stmt = select(MediaStaging.variant_id).where(
            one_of(MediaStaging.variant_id, variant_ids), MediaStaging.status == Staging.STAGED
        )
        return set((await self.session.execute(stmt)).scalars().all())
