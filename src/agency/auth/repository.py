from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func

from agency.auth.models import Credential
from agency.kernel.errors import NotFound
from agency.kernel.repository import TenantRepository
from agency.kernel.tenancy import scoped_update
from agency.member.models import Membership


class CredentialRepository(TenantRepository[Credential]):
    model = Credential
    noun = "API token"

    def api_tokens(self) -> Select[Credential]:
        return self.select().where(Credential.kind == "api_token")

    async def get_api_token(self, token_id: object) -> Credential:
        found = (
            await self.session.execute(self.api_tokens().where(Credential.id == token_id))
        ).scalar_one_or_none()
        if found is None:
            raise NotFound(f"No API token with id {token_id} in this agency.")
        return found

    def _with_holder_role(self) -> Select[Any]:
        """Credentials with the current role of the member they act for, in one statement.

        A session acts for its user, an API token for its creator; the role is None when that
        person is no longer a member (or for tokens nobody created: the system's).
        """
        holder = func.coalesce(Credential.user_id, Credential.created_by)
        return (
            self.select()
            .add_columns(Membership.role)
            .outerjoin(
                Membership,
                (Membership.agency_id == Credential.agency_id) & (Membership.user_id == holder),
            )
        )

    async def find_with_holder_role(
        self, credential_id: uuid.UUID
    ) -> tuple[Credential, str | None] | None:
        """A credential being authenticated, with its holder's role read in the same trip."""
        row = (
            await self.session.execute(
                self._with_holder_role().where(Credential.id == credential_id)
            )
        ).one_or_none()
        return None if row is None else (row[0], row[1])

    async def get_api_token_with_creator_role(
        self, token_id: uuid.UUID
    ) -> tuple[Credential, str | None]:
        row = (
            await self.session.execute(
                self._with_holder_role().where(
                    Credential.id == token_id, Credential.kind == "api_token"
                )
            )
        ).one_or_none()
        if row is None:
            raise NotFound(f"No API token with id {token_id} in this agency.")
        return row[0], row[1]

    async def revoke_descendants(self, token_id: uuid.UUID, at: datetime) -> list[uuid.UUID]:
        """Revoke every token created, directly or not, by ``token_id``; their ids."""
        revoked: list[uuid.UUID] = []
        frontier = [token_id]
        while frontier:
            stmt = (
                scoped_update(Credential, self.subject)
                .where(Credential.parent_id.in_(frontier), Credential.revoked_at.is_(None))
                .values(revoked_at=at)
                .returning(Credential.id)
            )
            frontier = list((await self.session.execute(stmt)).scalars().all())
            revoked += frontier
        return revoked

    async def mark_used(self, credential_id: uuid.UUID, at: datetime) -> None:
        await self.session.execute(
            scoped_update(Credential, self.subject)
            .where(Credential.id == credential_id)
            .values(last_used_at=at)
        )
