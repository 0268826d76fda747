"""The scheduler's claim of series running short, and the job that tops them up."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agency.access.permissions import ALL_PERMISSIONS
from agency.calendar.models import PublicationSeries
from agency.calendar.series import SeriesService
from agency.kernel.jobs import enqueue, job
from agency.kernel.runtime import Runtime
from agency.kernel.scheduling import claimer
from agency.kernel.tenancy import Subject, bind_tenant

REFILL_JOB = "publication.refill_series"
# A claimed series is not claimed again before this (a lost message is sent again then).
LEASE = timedelta(minutes=5)
BATCH = 500


@claimer("publication_series")
async def claim_series(session: AsyncSession, runtime: Runtime, now: datetime) -> int:
    """Series whose next occurrence fell due: each gets a job that materializes the next."""
    stmt = (
        select(PublicationSeries.id, PublicationSeries.agency_id)
        .where(PublicationSeries.refill_at <= now)
        .order_by(PublicationSeries.refill_at)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    )
    rows = (await session.execute(stmt)).all()
    if rows:
        await session.execute(
            update(PublicationSeries)
            .where(PublicationSeries.id.in_([r.id for r in rows]))
            .values(refill_at=now + LEASE)
            .execution_options(synchronize_session=False)
        )
    for series_id, agency_id in rows:
        enqueue(REFILL_JOB, str(agency_id), str(series_id))
    return len(rows)


@job(REFILL_JOB, max_retries=3)
async def refill_series(
    session: AsyncSession, runtime: Runtime, agency_id: str, series_id: str
) -> None:
    """The series re-read under its lock: a canceled or already full one does nothing."""
    agency = uuid.UUID(agency_id)
    await bind_tenant(session, agency)
    subject = Subject(agency_id=agency, kind="system", permissions=ALL_PERMISSIONS)
    await SeriesService(session, subject, runtime).refill(uuid.UUID(series_id))
