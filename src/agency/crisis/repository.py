"""What a crisis reads and changes of the brand's publications: the queue it holds."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_
from sqlalchemy.ext.asyncio import AsyncSession

from agency.access.permissions import ROLE_PERMISSIONS, Permission
from agency.client.models import ClientMember
from agency.kernel.tenancy import Subject, scoped_select, scoped_update
from agency.member.models import Membership, User
from agency.publication.models import Publication, Variant
from agency.publication.states import Delivery, FirstCommentStatus

CRISIS = Permission.CRISIS_MANAGE.value


class HeldQueueRepository:
    """The brand's scheduled variants, held and released (tenant- and brand-scoped)."""

    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.session = session
        self.subject = subject

    async def hold_scheduled(
        self, brand_id: uuid.UUID, now: datetime, reason: str
    ) -> list[tuple[uuid.UUID, uuid.UUID, str, datetime | None]]:
        """Hold every variant of the brand waiting on the calendar, in one statement; a
        variant a worker is publishing now is not ``scheduled`` and stays as it is."""
        stmt = (
            scoped_update(Variant, self.subject)
            .where(
                Variant.brand_id == brand_id,
                Variant.status == Delivery.SCHEDULED,
                Variant.held_at.is_(None),
            )
            .values(held_at=now, hold_reason=reason, lease_until=None)
            .returning(Variant.id, Variant.publication_id, Variant.network, Variant.due_at)
            .execution_options(synchronize_session=False)
        )
        return [(r[0], r[1], r[2], r[3]) for r in (await self.session.execute(stmt)).all()]

    async def held_count(self, brand_id: uuid.UUID) -> int:
        """Publications with a post or a first comment held."""
        stmt = (
            scoped_select(Variant, self.subject)
            .with_only_columns(func.count(func.distinct(Variant.publication_id)))
            .where(self._waiting(brand_id))
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def held(self, brand_id: uuid.UUID) -> list[tuple[Publication, Variant]]:
        """Variants whose post or first comment is held, with their publications, the
        soonest first."""
        stmt = (
            scoped_select(Variant, self.subject)
            .add_columns(Publication)
            .join(Publication, Publication.id == Variant.publication_id)
            .where(self._waiting(brand_id))
            .order_by(Variant.due_at, Variant.id)
        )
        return [(row[1], row[0]) for row in (await self.session.execute(stmt)).all()]

    async def held_variants_of(
        self, brand_id: uuid.UUID, publication_ids: Collection[uuid.UUID]
    ) -> list[Variant]:
        """Variants of these publications whose post or first comment is held, locked (their
        publications are locked first)."""
        if not publication_ids:
            return []
        stmt = (
            scoped_select(Variant, self.subject)
            .where(self._waiting(brand_id), Variant.publication_id.in_(publication_ids))
            .order_by(Variant.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def titles(self, publication_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
        if not publication_ids:
            return {}
        stmt = (
            scoped_select(Publication, self.subject)
            .with_only_columns(Publication.id, Publication.title)
            .where(Publication.id.in_(publication_ids))
        )
        return {row[0]: row[1] for row in (await self.session.execute(stmt)).all()}

    @staticmethod
    def _waiting(brand_id: uuid.UUID) -> ColumnElement[bool]:
        """A variant of the brand held by a crisis: its post, or the first comment under it."""
        return and_(
            Variant.brand_id == brand_id,
            or_(
                and_(Variant.held_at.is_not(None), Variant.status == Delivery.SCHEDULED),
                Variant.first_comment_status == FirstCommentStatus.HELD,
            ),
        )


class DecisionMakerRepository:
    """The client's general management on a brand (who may switch its crisis mode)."""

    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.session = session
        self.subject = subject

    async def management_place(
        self, brand_id: uuid.UUID, user_id: uuid.UUID
    ) -> ClientMember | None:
        stmt = scoped_select(ClientMember, self.subject).where(
            ClientMember.brand_id == brand_id,
            ClientMember.user_id == user_id,
            ClientMember.reporting_line == "management",
            ClientMember.disabled_at.is_(None),
        )
        found: ClientMember | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found

    async def of_brand(self, brand_id: uuid.UUID) -> list[ClientMember]:
        """The client's general management on the brand who decide (``approve`` or
        ``crisis``): with the agency's managers, the brand's decision makers in a crisis."""
        stmt = (
            scoped_select(ClientMember, self.subject)
            .where(
                ClientMember.brand_id == brand_id,
                ClientMember.reporting_line == "management",
                ClientMember.disabled_at.is_(None),
            )
            .order_by(ClientMember.id)
        )
        members = (await self.session.execute(stmt)).scalars().all()
        return [m for m in members if {"approve", "crisis"} & set(m.permissions)]

    async def managers(self) -> list[User]:
        """The agency's members who may switch a crisis (managers and above)."""
        roles = [r.value for r, granted in ROLE_PERMISSIONS.items() if CRISIS in granted]
        stmt = (
            scoped_select(Membership, self.subject)
            .join(User, User.id == Membership.user_id)
            .with_only_columns(User)
            .where(Membership.role.in_(roles), User.disabled_at.is_(None))
            .order_by(User.id)
        )
        return list((await self.session.execute(stmt)).scalars().all())
