"""The publishing jobs and the scheduler's claim of due publications."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from agency.kernel.jobs import job
from agency.kernel.runtime import Runtime
from agency.kernel.scheduling import claimer
from agency.publication.claiming import claim_due
from agency.publication.pipeline import Publisher
from agency.publication.reconciling import Reconciler

# Publishing has its own queue so that webhooks and token refreshes never delay a post.
QUEUE = "publishing"


@claimer("publications")
async def claim_publications(session: AsyncSession, runtime: Runtime, now: datetime) -> int:
    return await claim_due(session, now, runtime)


@job("publication.publish", queue=QUEUE, max_retries=0)
async def publish(session: AsyncSession, runtime: Runtime, agency_id: str, variant_id: str) -> None:
    """No Dramatiq retry: the row decides what happens next, and the claimer re-sends."""
    publisher = Publisher(session, uuid.UUID(agency_id), runtime)
    await publisher.publish(uuid.UUID(variant_id))


@job("publication.publish_many", queue=QUEUE, max_retries=0)
async def publish_many(
    session: AsyncSession, runtime: Runtime, agency_id: str, variant_ids: list[str]
) -> None:
    """A claimed batch of one agency: its calls go out side by side."""
    publisher = Publisher(session, uuid.UUID(agency_id), runtime)
    await publisher.publish_many([uuid.UUID(v) for v in variant_ids])


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
