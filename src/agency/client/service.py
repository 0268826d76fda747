"""Client members, managed by agency staff who may change brands."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from agency.access import policy
from agency.access.client_permissions import ClientPermission, opened_by
from agency.audit.repository import AuditRepository
from agency.brand.repository import BrandRepository
from agency.client.models import ClientMember
from agency.client.repository import ClientMemberRepository
from agency.client.schemas import ClientMemberCreate, ClientMemberUpdate
from agency.kernel.db import utcnow
from agency.kernel.errors import InvalidInput
from agency.kernel.http import check_if_match
from agency.kernel.pagination import PageRequest
from agency.kernel.tenancy import Subject
from agency.member.models import User
from agency.member.repository import UserRepository

_TAKEN = "This person is already a client member of this brand."
_CRISIS_LINE = "management"

# Mails a new client member their invitation (``member``, the brand's name). Signing in is
# the login package's, which sits above this one: the request is handed it (dependency
# injection) instead of this package importing it.
Inviter = Callable[[ClientMember, str], Awaitable[None]]


async def person(session: AsyncSession, email: str, name: str) -> User:
    """The one identity behind an e-mail address, made on first sight (no password)."""
    users = UserRepository(session)
    email = email.strip().lower()
    found = await users.by_email(email)
    if found is not None:
        return found
    user = users.add(User(email=email, name=name, password_hash=None))
    await session.flush()
    return user


def _crisis_needs_management(permissions: Iterable[str], reporting_line: str) -> None:
    """Crisis mode is the client's general management's call (with the agency's managers)."""
    if ClientPermission.CRISIS in set(permissions) and reporting_line != _CRISIS_LINE:
        raise InvalidInput(
            "Only a member of the client's general management may switch crisis mode.",
            errors=[
                {
                    "field": "permissions",
                    "message": "'crisis' needs the reporting line 'management'",
                }
            ],
        )


class ClientMemberService:
    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.session = session
        self.subject = subject
        self.repo = ClientMemberRepository(session, subject)
        self.brands = BrandRepository(session, subject)
        self.audit = AuditRepository(session, subject)

    async def create(
        self, brand_id: uuid.UUID, data: ClientMemberCreate, invite: Inviter
    ) -> ClientMember:
        """Give a person a place on a brand (their identity is shared across brands); with
        ``data.invite``, ``invite`` mails them a way in."""
        brand = await self.brands.get(brand_id)
        self._may_hand_out(data.permissions)
        _crisis_needs_management(data.permissions, data.reporting_line.value)
        user = await person(self.session, data.email, data.name)
        member = ClientMember(
            brand_id=brand_id,
            user_id=user.id,
            name=data.name,
            email=user.email,
            reporting_line=data.reporting_line.value,
            locale=data.locale.value,
            permissions=sorted({p.value for p in data.permissions}),
        )
        await self.repo.add(member, conflict=_TAKEN)
        if data.invite:
            await invite(member, brand.name)
        self.audit.record(
            "client_member.created",
            "client_member",
            member.id,
            {"brand_id": str(brand_id), "permissions": member.permissions},
        )
        return member

    def _may_hand_out(self, permissions: Iterable[str]) -> None:
        policy.require_may_hand_out(
            self.subject, opened_by(permissions), "give a client member these permissions"
        )

    async def list(
        self, brand_id: uuid.UUID, page: PageRequest
    ) -> tuple[Sequence[ClientMember], str | None]:
        await self.brands.get(brand_id)
        return await self.repo.page(page, self.repo.of_brand(brand_id))

    async def get(self, member_id: uuid.UUID) -> ClientMember:
        return await self.repo.get(member_id)

    async def update(
        self, member_id: uuid.UUID, data: ClientMemberUpdate, if_match: str | None
    ) -> ClientMember:
        member = await self.repo.get(member_id)
        check_if_match(if_match, member.version)
        changes: dict[str, Any] = {}
        for name, value in msgspec.structs.asdict(data).items():
            if value is msgspec.UNSET:
                continue
            if name == "disabled":
                if value != (member.disabled_at is not None):
                    member.disabled_at = utcnow() if value else None
                    changes["disabled"] = value
                continue
            if name == "permissions":
                self._may_hand_out(value)
            new = sorted(set(msgspec.to_builtins(value))) if name == "permissions" else value
            new = msgspec.to_builtins(new)
            if getattr(member, name) != new:
                changes[name] = new
                setattr(member, name, new)
        _crisis_needs_management(member.permissions, member.reporting_line)
        if changes:
            await self.repo.flush()
            self.audit.record("client_member.updated", "client_member", member.id, changes)
        return member

    async def remove(self, member_id: uuid.UUID) -> None:
        await self.repo.delete(member_id)
        self.audit.record("client_member.removed", "client_member", member_id)
