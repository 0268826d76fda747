"""Reading the audit log (writing it is :meth:`AuditRepository.record`, in each service)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from agency.audit.repository import AuditRepository, EventPage
from agency.kernel.pagination import PageRequest
from agency.kernel.tenancy import Subject


class AuditLog:
    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.repo = AuditRepository(session, subject)

    async def page(
        self,
        page: PageRequest,
        object_type: str | None,
        object_id: uuid.UUID | None,
        action: str | None,
    ) -> EventPage:
        """Newest first, narrowed to what the filters name."""
        return await self.repo.newest(page, object_type, object_id, action)
