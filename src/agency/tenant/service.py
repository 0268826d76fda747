"""The caller's own agency, and the bootstrap used by the admin command."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from agency.access import policy
from agency.access.permissions import Role
from agency.access.secrets import hash_password
from agency.audit.repository import AuditRepository
from agency.kernel.errors import Conflict, NotFound
from agency.kernel.http import check_if_match
from agency.kernel.tenancy import Subject, bind_tenant
from agency.member.models import Membership, User
from agency.member.repository import UserRepository
from agency.tenant.models import Agency
from agency.tenant.repository import AgencyRepository
from agency.tenant.schemas import AgencyUpdate


class AgencyService:
    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.subject = subject
        self.repo = AgencyRepository(session, subject)
        self.audit = AuditRepository(session, subject)

    async def current(self) -> Agency:
        return await self.repo.current()

    async def update(self, data: AgencyUpdate, if_match: str | None) -> Agency:
        agency = await self.repo.current()
        check_if_match(if_match, agency.version)
        changes: dict[str, Any] = {}
        if data.name is not msgspec.UNSET and agency.name != data.name:
            changes["name"] = [agency.name, data.name]
            agency.name = data.name
        if data.login_origins is not msgspec.UNSET:
            origins = sorted(set(data.login_origins))
            if origins != agency.login_origins:
                # A bearer sign-in lands with its session in the URL: where it may land is
                # where every member's session, an owner's too, may be sent.
                policy.require_may_control_sign_in(
                    self.subject, None, "change where sign-ins land (login_origins)"
                )
                changes["login_origins"] = [agency.login_origins, origins]
                agency.login_origins = origins
        if changes:
            self.audit.record("agency.updated", "agency", agency.id, changes)
            await self.repo.session.flush()
        return agency


async def bootstrap_agency(
    session: AsyncSession,
    *,
    name: str,
    slug: str,
    owner_email: str,
    owner_name: str,
    owner_password: str | None,
) -> tuple[Agency, User]:
    """Create an agency with its first owner (admin command; not reachable over HTTP)."""
    if await AgencyRepository.slug_taken(session, slug):
        raise Conflict(f"An agency with slug '{slug}' exists already.")
    agency = Agency(name=name, slug=slug)
    session.add(agency)
    await session.flush()
    await bind_tenant(session, agency.id)
    users = UserRepository(session)
    user = await users.by_email(owner_email)
    if user is None:
        user = users.add(
            User(
                email=owner_email.strip().lower(),
                name=owner_name,
                password_hash=hash_password(owner_password) if owner_password else None,
            )
        )
        await session.flush()
    session.add(Membership(agency_id=agency.id, user_id=user.id, role=Role.OWNER.value))
    subject = Subject(agency_id=agency.id, kind="system")
    AuditRepository(session, subject).record("agency.created", "agency", agency.id, {"slug": slug})
    await session.flush()
    return agency, user


__all__ = ["AgencyService", "NotFound", "bootstrap_agency"]
