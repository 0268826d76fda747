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

from sqlalchemy.ext.asyncio import AsyncSession

from agency.kernel.jobs import enqueue
from agency.kernel.scheduling import backlog
from agency.publication.repository import PublishingSweepRepository
from agency.publication.states import Delivery

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime

STALE_BATCH = 500
MISSED = "Not published: the system was down past the brand's grace period."
INTERRUPTED = "The worker stopped during the call; the network may have published."
UNKNOWN = "The outcome is unknown (the call was interrupted); checking the account."


async def claim_due(session: AsyncSession, now: datetime, runtime: Runtime) -> int:
    """One batch of due work, in the caller's (system-bound) transaction."""
    settings = runtime.settings.publishing
    sweep = PublishingSweepRepository(session)
    claimed = await _expire_stale_attempts(sweep, now)
    rows = await sweep.due(now, settings.claim_batch)
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
    await sweep.lease(take, now + timedelta(seconds=settings.lease_seconds))
    for agency_id, variant_id in missed:
        # Settled by a job: it takes the publication's lock, which a claim never waits for.
        await sweep.miss(variant_id, now, MISSED)
        enqueue("publication.settle", str(agency_id), str(variant_id), "publication.missed")
    return claimed + len(rows)


async def _expire_stale_attempts(sweep: PublishingSweepRepository, now: datetime) -> int:
    """Calls whose worker died (lease over, still publishing) become unknown: reconcile."""
    stale = await sweep.stale_calls(now, STALE_BATCH)
    if not stale:
        return 0
    if len(stale) >= STALE_BATCH:
        backlog("publications")
    await sweep.outcome_unknown([row[0] for row in stale], now, INTERRUPTED, UNKNOWN)
    for variant_id, agency_id in stale:
        enqueue("publication.settle", str(agency_id), str(variant_id), "publication.unknown")
    return len(stale)
