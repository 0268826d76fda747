"""The publishing jobs and the scheduler's claim of due publications."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from agency.kernel.jobs import job, poll_promptly
from agency.kernel.runtime import Runtime
from agency.kernel.scheduling import claimer
from agency.publication.claiming import claim_due
from agency.publication.dispatch import dispatcher, first_due
from agency.publication.pipeline import Publisher
from agency.publication.reconciling import Reconciler
from agency.publication.staging import Discarder, claim_staging

# Publishing has its own queue so that webhooks and token refreshes never delay a post.
QUEUE = "publishing"
MEDIA_QUEUE = "publishing_media"
# The groups of a burst (a whole group or more due at one instant): a queue of their own,
# and a lower priority, so that the groups of the posts due around it never wait behind them.
BURST_QUEUE = "publishing_burst"
poll_promptly(QUEUE)
poll_promptly(MEDIA_QUEUE)
poll_promptly(BURST_QUEUE)


@claimer("publications")
async def claim_publications(session: AsyncSession, runtime: Runtime, now: datetime) -> int:
    return await claim_due(session, now, runtime)


@claimer("media_staging")
async def claim_media_staging(session: AsyncSession, runtime: Runtime, now: datetime) -> int:
    return await claim_staging(session, now, runtime)


@job("publication.stage_media", queue=MEDIA_QUEUE, max_retries=0)
async def stage_media(
    session: AsyncSession, runtime: Runtime, agency_id: str, variant_ids: list[str]
) -> None:
    """Media of claimed posts uploaded ahead of their time, by this process's dispatcher (the
    Dramatiq thread is not held by the uploads); a lost message is claimed again when its
    lease ends."""
    dispatcher(runtime).stage(uuid.UUID(agency_id), [uuid.UUID(v) for v in variant_ids])


@job("publication.discard_staged_media", queue=MEDIA_QUEUE, max_retries=0)
async def discard_staged_media(
    session: AsyncSession, runtime: Runtime, agency_id: str, staging_ids: list[str]
) -> None:
    """Uploads made ahead that no post will name (canceled, unscheduled, edited since),
    deleted where the network can; a lost message is claimed again when its lease ends."""
    ids = [uuid.UUID(s) for s in staging_ids]
    await Discarder(session, uuid.UUID(agency_id), runtime).discard(ids)


@job("publication.publish", queue=QUEUE, max_retries=0)
async def publish(session: AsyncSession, runtime: Runtime, agency_id: str, variant_id: str) -> None:
    """No Dramatiq retry: the row decides what happens next, and the claimer re-sends."""
    await dispatcher(runtime).take(uuid.UUID(agency_id), [uuid.UUID(variant_id)], first_due(None))


@job("publication.publish_many", queue=QUEUE, max_retries=0)
async def publish_many(
    session: AsyncSession,
    runtime: Runtime,
    agency_id: str,
    variant_ids: list[str],
    due: str | None = None,
    burst: bool = False,
) -> None:
    """A claimed batch of one agency, handed to this process's dispatcher: it waits for the
    batch's first due time, re-checks and releases each call at its instant (``burst``: a
    group of a burst, served after the other posts)."""
    ids = [uuid.UUID(v) for v in variant_ids]
    await dispatcher(runtime).take(uuid.UUID(agency_id), ids, first_due(due), burst=burst)


# A group of a burst: the same work, from its own queue, which a worker's threads take after
# the others (a lower priority), so that the posts due around a burst never wait behind it.
job("publication.publish_burst", queue=BURST_QUEUE, max_retries=0, priority=10)(publish_many)


@job("publication.publish_media", queue=MEDIA_QUEUE, max_retries=0)
async def publish_media(
    session: AsyncSession,
    runtime: Runtime,
    agency_id: str,
    variant_ids: list[str],
    due: str | None = None,
) -> None:
    """As ``publish_many``, for posts with media: their long uploads have slots of their
    own, so that they never hold up the short posts."""
    ids = [uuid.UUID(v) for v in variant_ids]
    await dispatcher(runtime).take(uuid.UUID(agency_id), ids, first_due(due), media=True)


@job("publication.first_comment", queue=QUEUE, max_retries=0)
async def post_first_comment(
    session: AsyncSession, runtime: Runtime, agency_id: str, variant_id: str
) -> None:
    """A first comment a crisis held, released by a person: posted once under its post (a
    lost message is claimed again when its lease ends)."""
    await Publisher(session, uuid.UUID(agency_id), runtime).post_released_comment(
        uuid.UUID(variant_id)
    )


@job("publication.reconcile", queue=QUEUE, max_retries=0)
async def reconcile(
    session: AsyncSession, runtime: Runtime, agency_id: str, variant_id: str
) -> None:
    reconciler = Reconciler(session, uuid.UUID(agency_id), runtime)
    await reconciler.reconcile(uuid.UUID(variant_id))


@job("publication.settle", queue=QUEUE, max_retries=3)
async def settle(
    session: AsyncSession, runtime: Runtime, agency_id: str, variant_id: str, event_type: str
) -> None:
    reconciler = Reconciler(session, uuid.UUID(agency_id), runtime)
    await reconciler.settle(uuid.UUID(variant_id), event_type)
