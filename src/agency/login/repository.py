from __future__ import annotations

import uuid
from datetime import datetime

from agency.kernel.repository import TenantRepository
from agency.kernel.tenancy import scoped_update
from agency.login.models import SignInLink


class SignInLinkRepository(TenantRepository[SignInLink]):
    model = SignInLink
    noun = "sign-in link"

    async def use(self, link_id: uuid.UUID, secret_hash: str, now: datetime) -> SignInLink | None:
        """Mark a link used, if it is unused, unexpired and its secret matches: in one
        statement, so two redemptions racing for the same link cannot both win."""
        stmt = (
            scoped_update(SignInLink, self.subject)
            .where(
                SignInLink.id == link_id,
                SignInLink.secret_hash == secret_hash,
                SignInLink.used_at.is_(None),
                SignInLink.expires_at > now,
            )
            .values(used_at=now)
            .returning(SignInLink)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()
