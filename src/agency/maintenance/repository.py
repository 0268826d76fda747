"""What the periodic purge deletes, across every agency (a system-scope repository)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_

from agency.auth.models import Credential
from agency.kernel.idempotency import IdempotencyKey
from agency.kernel.system import SystemRepository
from agency.member.models import Invitation


class ExpiredRowsRepository(SystemRepository):
    async def purge_idempotency_keys(self, created_before: datetime) -> None:
        await self.session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.created_at < created_before)
        )

    async def purge_credentials(self, ended_before: datetime) -> None:
        """Credentials that expired or were revoked before ``ended_before``."""
        await self.session.execute(
            delete(Credential).where(
                or_(Credential.expires_at < ended_before, Credential.revoked_at < ended_before)
            )
        )

    async def purge_invitations(self, ended_before: datetime) -> None:
        """Invitations that expired or were revoked before ``ended_before``."""
        await self.session.execute(
            delete(Invitation).where(
                or_(Invitation.expires_at < ended_before, Invitation.revoked_at < ended_before)
            )
        )
