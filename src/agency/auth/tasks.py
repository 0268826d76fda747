"""A person's sessions ended in every agency, after their password changed."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from agency.auth.repository import SessionSweepRepository
from agency.kernel.db import utcnow
from agency.kernel.jobs import job
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import bind_system

END_SESSIONS = "auth.end_sessions"


@job(END_SESSIONS)
async def end_sessions(session: AsyncSession, runtime: Runtime, user_id: str, keep: str) -> None:
    """Revoke the person's sessions in the agencies the request could not reach (the one it
    was in revoked them at once). ``keep``: the session that changed the password, or ""."""
    await bind_system(session)
    await SessionSweepRepository(session).end_sessions_of(
        uuid.UUID(user_id), uuid.UUID(keep) if keep else None, utcnow()
    )
