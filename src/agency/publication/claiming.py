"""The scheduler's side of publishing: claim due variants, hand them to the workers.

A claim takes variants due within the look-ahead (``AGENCY_PUBLISHING__LOOKAHEAD_SECONDS``,
a few seconds: the worker then releases each call at its exact instant) with ``FOR UPDATE SKIP
LOCKED`` (two schedulers never take the same row), gives each a lease and enqueues them per
agency in batches, in due order, with the first due time (``publication.publish_many``, or
``publication.publish_media`` for posts with media); a lost message is re-sent when the lease
ends, a duplicate finds the row already taken. Calls whose worker died (still ``publishing``
after their lease, which the worker renews while it lives) become ``unknown`` and go to
reconciliation. What the worker does is in :mod:`agency.publication.pipeline`.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from agency.kernel.jobs import enqueue
from agency.kernel.scheduling import backlog
from agency.publication.repository import PublishingSweepRepository
from agency.publication.staging.repository import StagingSweepRepository
from agency.publication.states import Delivery

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime

STALE_BATCH = 500
# Posts of one batch are due within this span of its first (prepared together).
BATCH_SPAN = timedelta(seconds=1)
# Posts due less than this long ago are claimed before any older backlog.
FRESH = timedelta(seconds=1)
MISSED = "Not published: the system was down past the brand's grace period."
INTERRUPTED = "The worker stopped during the call; the network may have published."
UNKNOWN = "The outcome is unknown (the call was interrupted); checking the account."


async def claim_due(session: AsyncSession, now: datetime, runtime: Runtime) -> int:
    """One batch of due work, in the caller's (system-bound) transaction."""
    settings = runtime.settings.publishing
    sweep = PublishingSweepRepository(session)
    claimed = await _expire_stale_attempts(sweep, now)
    horizon = now + timedelta(seconds=settings.lookahead_seconds)
    # The posts coming due now first, then any backlog (a burst already late), so that a
    # burst being claimed never holds up the posts due just after it.
    fresh = now - FRESH
    rows = [*await sweep.due(now, horizon, settings.claim_batch, after=fresh)]
    if len(rows) < settings.claim_batch:
        rows += await sweep.due(now, fresh, settings.claim_batch - len(rows))
    if len(rows) < settings.claim_batch:  # calls in doubt, to look for on the network
        rows += await sweep.to_reconcile(now, settings.claim_batch - len(rows))
    if len(rows) >= settings.claim_batch:
        backlog("publications")  # more is due: the scheduler claims again at once
    take: list[uuid.UUID] = []
    missed: list[tuple[uuid.UUID, uuid.UUID]] = []
    batches = Batches(settings.publish_batch)
    # A burst: a whole group or more due at one instant.
    at_once = Counter(row[3] for row in rows)
    crowded = {due for due, count in at_once.items() if count >= settings.publish_batch}
    # Media uploaded ahead make a small call: such posts go with the others.
    staged = await StagingSweepRepository(session).staged_among(
        [row[0] for row in rows if row[6] and row[2] == Delivery.SCHEDULED]
    )
    for variant_id, agency_id, status, due_at, attempts, grace, media_ids in rows:
        late = now - due_at if due_at else timedelta(0)
        if status == Delivery.SCHEDULED and attempts == 0 and late > timedelta(minutes=grace):
            missed.append((agency_id, variant_id))
            continue
        take.append(variant_id)
        if status == Delivery.SCHEDULED:
            media = bool(media_ids) and variant_id not in staged
            batches.add(agency_id, variant_id, due_at or now, media, due_at in crowded)
        else:
            enqueue("publication.reconcile", str(agency_id), str(variant_id))
    batches.send_all()
    # First comments a person released after a crisis: each to a worker, under its post.
    comments = await sweep.comments_due(now, settings.claim_batch)
    for variant_id, agency_id in comments:
        enqueue("publication.first_comment", str(agency_id), str(variant_id))
    take += [variant_id for variant_id, _ in comments]
    await sweep.lease(take, now + timedelta(seconds=settings.lease_seconds))
    for agency_id, variant_id in missed:
        # Settled by a job: it takes the publication's lock, which a claim never waits for.
        await sweep.miss(variant_id, now, MISSED)
        enqueue("publication.settle", str(agency_id), str(variant_id), "publication.missed")
    return claimed + len(rows) + len(comments)


class Batches:
    """Claimed posts grouped per agency and lane, in due order, each group sent with its
    first due time (the worker waits for it): posts with media go to their own queue, so
    that their long uploads never hold up the short posts, and so do the posts of a burst
    (``burst``: a whole group or more due at one instant), so that the posts due around it
    are neither grouped with it nor queued behind its messages."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.open: dict[tuple[uuid.UUID, bool, bool], tuple[datetime, list[str]]] = {}

    def add(
        self,
        agency_id: uuid.UUID,
        variant_id: uuid.UUID,
        due: datetime,
        media: bool,
        burst: bool = False,
    ) -> None:
        key = (agency_id, media, burst and not media)
        first, ids = self.open.setdefault(key, (due, []))
        if ids and due - first > BATCH_SPAN:
            # The batch is prepared just before its first post: the later ones would wait.
            self._send(key)
            first, ids = self.open.setdefault(key, (due, []))
        ids.append(str(variant_id))
        if len(ids) >= self.size:
            self._send(key)

    def send_all(self) -> None:
        for key in list(self.open):
            self._send(key)

    def _send(self, key: tuple[uuid.UUID, bool, bool]) -> None:
        first, ids = self.open.pop(key)
        _, media, burst = key
        if media:
            actor = "publication.publish_media"
        else:
            actor = "publication.publish_burst" if burst else "publication.publish_many"
        enqueue(actor, str(key[0]), ids, first.isoformat(), **({"burst": True} if burst else {}))


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
