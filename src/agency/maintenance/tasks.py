"""Periodic purge of expired idempotency keys, credentials and invitations."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, or_
from sqlalchemy.ext.asyncio import AsyncSession

from agency.auth.models import Credential
from agency.kernel.db import utcnow
from agency.kernel.idempotency import IdempotencyKey
from agency.kernel.jobs import job
from agency.kernel.runtime import Runtime
from agency.kernel.scheduling import periodic
from agency.kernel.tenancy import bind_system
from agency.member.models import Invitation

IDEMPOTENCY_RETENTION = timedelta(hours=24)
EXPIRED_RETENTION = timedelta(days=30)

periodic("maintenance.purge_expired", every=timedelta(minutes=10))


@job("maintenance.purge_expired", max_retries=0)
async def purge_expired(session: AsyncSession, runtime: Runtime) -> None:
    now = utcnow()
    await bind_system(session)
    await session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < now - IDEMPOTENCY_RETENTION)
    )
    cutoff = now - EXPIRED_RETENTION
    await session.execute(
        delete(Credential).where(
            or_(Credential.expires_at < cutoff, Credential.revoked_at < cutoff)
        )
    )
    await session.execute(
        delete(Invitation).where(
            or_(Invitation.expires_at < cutoff, Invitation.revoked_at < cutoff)
        )
    )
