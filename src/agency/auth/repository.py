from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Row,
    Select,
    String,
    Uuid,
    func,
    null,
    text,
    type_coerce,
    update,
)

from agency.auth.models import Credential
from agency.kernel.db import RequestSession, UTCDateTime
from agency.kernel.errors import NotFound
from agency.kernel.repository import TenantRepository
from agency.kernel.system import SystemRepository
from agency.kernel.tenancy import bind_tenant, scoped_update
from agency.member.models import Membership, User

# What authentication reads of a credential, and its holder's current role.
_HELD = (
    Credential.id,
    Credential.kind,
    Credential.user_id,
    Credential.created_by,
    Credential.system_issued,
    Credential.scopes,
    Credential.secret_hash,
    Credential.expires_at,
    Credential.revoked_at,
    Credential.last_used_at,
)
# On PostgreSQL one call binds the agency for the transaction, then reads its access version
# and the credential as ``_with_holder_role`` does, under RLS (migrations 0022 and 0029).
# Built once, as is the binding alone: one of them runs on every request.
_AUTHENTICATE = text("SELECT * FROM authenticate_credential(:agency, :credential)").columns(
    access_version=BigInteger(),
    id=Uuid(),
    kind=String(),
    user_id=Uuid(),
    created_by=Uuid(),
    system_issued=Boolean(),
    scopes=JSON(),
    secret_hash=String(),
    expires_at=UTCDateTime(),
    revoked_at=UTCDateTime(),
    last_used_at=UTCDateTime(),
    role=String(),
    locale=String(),
)
_BIND = text("SELECT bind_agency(:agency)")


SESSION_KINDS = ("session", "client_session")


class SessionSweepRepository(SystemRepository):
    """A person's sessions in every agency (their password changed: all of them end)."""

    async def end_sessions_of(
        self, user_id: uuid.UUID, keep: uuid.UUID | None, at: datetime
    ) -> None:
        stmt = update(Credential).where(
            Credential.user_id == user_id,
            Credential.kind.in_(SESSION_KINDS),
            Credential.revoked_at.is_(None),
        )
        if keep is not None:
            stmt = stmt.where(Credential.id != keep)
        await self.session.execute(stmt.values(revoked_at=at))


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

    async def bind_and_read_version(self) -> int | None:
        """Bind this agency for the transaction and read its access version (migration 0029):
        one round trip, for a request whose credential the process keeps. None off PostgreSQL
        (no versions there) and when the agency is not there."""
        if self.session.get_bind().dialect.name != "postgresql":
            return None
        params = {"agency": self.subject.agency_id}
        if isinstance(self.session, RequestSession):
            version: int | None = await self.session.begin_with(_BIND, params)
            return version
        return (await self.session.execute(_BIND, params)).scalar()

    async def bind_and_find_held(self, credential_id: uuid.UUID) -> Row[Any] | None:
        """Bind this agency for the transaction, then read a credential being authenticated
        with its holder's current role: one round trip on PostgreSQL.

        The row has ``access_version`` (the agency's, read before the credential in the same
        snapshot; None off PostgreSQL), the columns of ``_HELD`` (all None when the
        credential is not there), ``role`` (None when the holder is no longer a member, or
        for tokens nobody created) and ``locale``, the language the person of a session chose
        (None if they chose none, and for API tokens). None when the agency is not there.
        """
        agency_id = self.subject.agency_id
        if self.session.get_bind().dialect.name == "postgresql":
            params = {"agency": agency_id, "credential": credential_id}
            return (await self.session.execute(_AUTHENTICATE, params)).one_or_none()
        await bind_tenant(self.session, agency_id)  # a no-op off PostgreSQL, said for clarity
        stmt = (
            self._with_holder_role()
            .outerjoin(User, User.id == Credential.user_id)
            .with_only_columns(
                type_coerce(null(), BigInteger).label("access_version"),
                *_HELD,
                Membership.role,
                User.locale,
            )
            .where(Credential.id == credential_id)
        )
        return (await self.session.execute(stmt)).one_or_none()

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

    async def end_sessions_of(
        self, user_id: uuid.UUID, keep: uuid.UUID | None, at: datetime
    ) -> None:
        """Revoke every live session of a person in this agency but ``keep``."""
        stmt = scoped_update(Credential, self.subject).where(
            Credential.user_id == user_id,
            Credential.kind.in_(SESSION_KINDS),
            Credential.revoked_at.is_(None),
        )
        if keep is not None:
            stmt = stmt.where(Credential.id != keep)
        await self.session.execute(stmt.values(revoked_at=at))

    async def mark_used(self, credential_id: uuid.UUID, at: datetime) -> None:
        await self.session.execute(
            scoped_update(Credential, self.subject)
            .where(Credential.id == credential_id)
            .values(last_used_at=at)
        )
