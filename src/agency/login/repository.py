from __future__ import annotations

import uuid
from datetime import datetime
from typing import TypeVar

from agency.kernel.repository import TenantRepository
from agency.kernel.tenancy import scoped_update
from agency.login.models import LoginAttempt, LoginProvider, SignInLink

Spendable = TypeVar("Spendable", SignInLink, LoginAttempt)


class _SingleUse(TenantRepository[Spendable]):
    async def use(self, row_id: uuid.UUID, secret_hash: str, now: datetime) -> Spendable | None:
        """Mark the row used, if it is unused, unexpired and its secret matches: in one
        statement, so two requests racing with the same secret cannot both win."""
        model = self.model
        stmt = (
            scoped_update(model, self.subject)
            .where(
                model.id == row_id,
                model.secret_hash == secret_hash,
                model.used_at.is_(None),
                model.expires_at > now,
            )
            .values(used_at=now)
            .returning(model)
        )
        found: Spendable | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found


class SignInLinkRepository(_SingleUse[SignInLink]):
    model = SignInLink
    noun = "sign-in link"


class LoginAttemptRepository(_SingleUse[LoginAttempt]):
    model = LoginAttempt
    noun = "sign-in"


class LoginProviderRepository(TenantRepository[LoginProvider]):
    model = LoginProvider
    noun = "sign-in provider"

    async def of_brand(self, brand_id: uuid.UUID | None) -> LoginProvider | None:
        column = LoginProvider.brand_id
        where = column.is_(None) if brand_id is None else column == brand_id
        return (await self.session.execute(self.select().where(where))).scalar_one_or_none()
