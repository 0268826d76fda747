"""The scheduler's side of publishing: claim due variants, hand them to the workers.

A claim takes due variants with ``FOR UPDATE SKIP LOCKED`` (two schedulers never take the same
row), gives each a lease and enqueues them per agency in batches (``publication.publish_many``);
a lost message is re-sent when the lease ends, a duplicate finds the row already taken. Calls
whose worker died (still ``publishing`` after their lease) become ``unknown`` and go to
reconciliation. What the worker does is in :mod:`agency.publication.pipeline`.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agency.brand.models import Brand
from agency.kernel.jobs import enqueue
from agency.kernel.scheduling import backlog
from agency.publication.models import Attempt, Variant
from agency.publication.states import Delivery

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime

STALE_BATCH = 500


async def claim_due(session: AsyncSession, now: datetime, runtime: Runtime) -> int:
    """One batch of due work, in the caller's (system-bound) transaction."""
    settings = runtime.settings.publishing
    claimed = await _expire_stale_attempts(session, now)
    stmt = (
        select(
            Variant.id,
            Variant.agency_id,
            Variant.status,
            Variant.due_at,
            Variant.attempt_count,
            Brand.publish_grace_minutes,
        )
        .join(Brand, Brand.id == Variant.brand_id)
        .where(
            or_(
                and_(Variant.status == Delivery.SCHEDULED, Variant.due_at <= now),
                and_(Variant.status == Delivery.UNKNOWN, Variant.not_before.is_not(None)),
            ),
            or_(Variant.not_before.is_(None), Variant.not_before <= now),
            or_(Variant.lease_until.is_(None), Variant.lease_until < now),
            Variant.held_at.is_(None),
        )
        .order_by(Variant.due_at)
        .limit(settings.claim_batch)
        .with_for_update(of=Variant, skip_locked=True)
    )
    rows = (await session.execute(stmt)).all()
    if len(rows) >= settings.claim_batch:
        backlog("publications")  # more is due: the scheduler claims again at once
    take: list[uuid.UUID] = []
    missed: list[tuple[uuid.UUID, uuid.UUID]] = []
    batches: dict[uuid.UUID, list[str]] = {}
    for variant_id, agency_id, status, due_at, attempts, grace in rows:
        late = now - due_at if due_at else timedelta(0)
        if status == Delivery.SCHEDULED and attempts == 0 and late > timedelta(minutes=grace):
            missed.append((agency_id, variant_id))
            continue
        take.append(variant_id)
        if status == Delivery.SCHEDULED:
            batch = batches.setdefault(agency_id, [])
            batch.append(str(variant_id))
            if len(batch) >= settings.publish_batch:
                enqueue("publication.publish_many", str(agency_id), batches.pop(agency_id))
        else:
            enqueue("publication.reconcile", str(agency_id), str(variant_id))
    for agency_id, batch in batches.items():
        enqueue("publication.publish_many", str(agency_id), batch)
    if take:
        lease = now + timedelta(seconds=settings.lease_seconds)
        await session.execute(
            update(Variant)
            .where(Variant.id.in_(take))
            .values(lease_until=lease)
            .execution_options(synchronize_session=False)
        )
    for agency_id, variant_id in missed:
        # Settled by a job: it takes the publication's lock, which a claim never waits for.
        await session.execute(
            update(Variant)
            .where(Variant.id == variant_id)
            .values(
                status=Delivery.MISSED,
                finished_at=now,
                lease_until=None,
                last_error="Not published: the system was down past the brand's grace period.",
            )
            .execution_options(synchronize_session=False)
        )
        enqueue("publication.settle", str(agency_id), str(variant_id), "publication.missed")
    return claimed + len(rows)


async def _expire_stale_attempts(session: AsyncSession, now: datetime) -> int:
    """Calls whose worker died (lease over, still publishing) become unknown: reconcile."""
    stale = (
        await session.execute(
            select(Variant.id, Variant.agency_id)
            .where(Variant.status == Delivery.PUBLISHING, Variant.lease_until < now)
            .with_for_update(skip_locked=True)
            .limit(STALE_BATCH)
        )
    ).all()
    if not stale:
        return 0
    if len(stale) >= STALE_BATCH:
        backlog("publications")
    ids = [row[0] for row in stale]
    await session.execute(
        update(Attempt)
        .where(Attempt.variant_id.in_(ids), Attempt.outcome == "pending")
        .values(
            outcome="unknown",
            finished_at=now,
            message="The worker stopped during the call; the network may have published.",
        )
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Variant)
        .where(Variant.id.in_(ids))
        .values(
            status=Delivery.UNKNOWN,
            not_before=now,
            lease_until=None,
            last_error="The outcome is unknown (the call was interrupted); checking the account.",
        )
        .execution_options(synchronize_session=False)
    )
    for variant_id, agency_id in stale:
        enqueue("publication.settle", str(agency_id), str(variant_id), "publication.unknown")
    return len(stale)
