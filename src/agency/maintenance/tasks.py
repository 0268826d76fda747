"""Periodic purge of expired idempotency keys, credentials and invitations."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from agency.kernel.db import utcnow
from agency.kernel.jobs import job
from agency.kernel.runtime import Runtime
from agency.kernel.scheduling import periodic
from agency.kernel.tenancy import bind_system
from agency.maintenance.repository import ExpiredRowsRepository

IDEMPOTENCY_RETENTION = timedelta(hours=24)
EXPIRED_RETENTION = timedelta(days=30)

periodic("maintenance.purge_expired", every=timedelta(minutes=10))


@job("maintenance.purge_expired", max_retries=0)
async def purge_expired(session: AsyncSession, runtime: Runtime) -> None:
    now = utcnow()
    await bind_system(session)
    expired = ExpiredRowsRepository(session)
    await expired.purge_idempotency_keys(now - IDEMPOTENCY_RETENTION)
    await expired.purge_credentials(now - EXPIRED_RETENTION)
    await expired.purge_invitations(now - EXPIRED_RETENTION)
