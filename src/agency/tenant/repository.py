from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agency.kernel.errors import NotFound
from agency.kernel.system import SystemRepository
from agency.kernel.tenancy import Subject
from agency.tenant.models import Agency


class AgencyRepository:
    """The agencies table is the tenant itself: a subject sees exactly its own row."""

    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.session = session
        self.subject = subject

    async def current(self) -> Agency:
        stmt = select(Agency)
        if self.subject.app_filter:
            stmt = stmt.where(Agency.id == self.subject.agency_id)
        agency = (await self.session.execute(stmt)).scalar_one_or_none()
        if agency is None:
            raise NotFound("This agency no longer exists.")
        return agency

    @staticmethod
    async def slug_taken(session: AsyncSession, slug: str) -> bool:
        stmt = select(Agency.id).where(Agency.slug == slug)
        return (await session.execute(stmt)).first() is not None


class AgencyDirectory(SystemRepository):
    """Agencies by their public names, for the operator's commands (as the system)."""

    async def id_by_slug(self, slug: str) -> uuid.UUID | None:
        found: uuid.UUID | None = (
            await self.session.execute(select(Agency.id).where(Agency.slug == slug))
        ).scalar_one_or_none()
        return found
