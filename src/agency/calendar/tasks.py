"""The scheduler's claim of series running short, and the job that tops them up."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from agency.access.permissions import ALL_PERMISSIONS
from agency.calendar.repository import SeriesSweepRepository
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
    rows = await SeriesSweepRepository(session).claim_due(now, now + LEASE, BATCH)
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
