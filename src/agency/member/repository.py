from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from agency.kernel.repository import TenantRepository
from agency.kernel.tenancy import bind_user
from agency.member.models import Invitation, Membership, User


class UserRepository:
    """Users are global identities; they are reached from a tenant only via memberships."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_email(self, email: str) -> User | None:
        stmt = select(User).where(User.email == email.strip().lower())
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def by_id(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    def add(self, user: User) -> User:
        self.session.add(user)
        return user

    async def memberships_of(self, user_id: uuid.UUID) -> Sequence[Membership]:
        """Every agency this user belongs to. Login only: RLS allows it via app.user_id."""
        await bind_user(self.session, user_id)
        stmt = select(Membership).where(Membership.user_id == user_id).order_by(Membership.id)
        return (await self.session.execute(stmt)).scalars().all()


class MembershipRepository(TenantRepository[Membership]):
    model = Membership
    noun = "member"

    def select(self) -> Select[Membership]:
        return super().select().options(joinedload(Membership.user))

    async def of_user(self, user_id: uuid.UUID) -> Membership | None:
        stmt = self.select().where(Membership.user_id == user_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def count_owners(self) -> int:
        """Owners, locked: two owners demoting each other at once cannot both pass."""
        stmt = (
            super()
            .select()
            .where(Membership.role == "owner")
            .with_only_columns(Membership.id)
            .with_for_update()
        )
        return len((await self.session.execute(stmt)).all())


class InvitationRepository(TenantRepository[Invitation]):
    model = Invitation
    noun = "invitation"

    def pending(self) -> Select[Invitation]:
        return self.select().where(
            Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None)
        )

    async def find_with_inviter_role(
        self, invitation_id: uuid.UUID
    ) -> tuple[Invitation, str | None] | None:
        """An invitation and its inviter's current role (None: no longer a member)."""
        stmt = (
            self.select()
            .add_columns(Membership.role)
            .outerjoin(
                Membership,
                (Membership.agency_id == Invitation.agency_id)
                & (Membership.user_id == Invitation.invited_by),
            )
            .where(Invitation.id == invitation_id)
        )
        row = (await self.session.execute(stmt)).one_or_none()
        return None if row is None else (row[0], row[1])
