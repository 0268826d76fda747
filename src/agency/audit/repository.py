from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from agency.audit.models import AuditEvent
from agency.kernel.repository import TenantRepository
from agency.kernel.tenancy import Subject, bind_tenant


class AuditRepository(TenantRepository[AuditEvent]):
    model = AuditEvent
    noun = "audit event"

    def record(
        self,
        action: str,
        object_type: str,
        object_id: uuid.UUID | None,
        changes: dict[str, Any] | None = None,
    ) -> AuditEvent:
        actor_type, actor_id = self.subject.actor
        event = AuditEvent(
            agency_id=self.subject.agency_id,
            actor_type=actor_type,
            actor_id=actor_id,
            action=action,
            object_type=object_type,
            object_id=object_id,
            changes=changes or {},
        )
        self.session.add(event)
        return event

    def filtered(
        self, object_type: str | None, object_id: uuid.UUID | None, action: str | None
    ) -> Select[AuditEvent]:
        stmt = self.select()
        if object_type:
            stmt = stmt.where(AuditEvent.object_type == object_type)
        if object_id:
            stmt = stmt.where(AuditEvent.object_id == object_id)
        if action:
            stmt = stmt.where(AuditEvent.action == action)
        return stmt


async def record_refusal(
    session: AsyncSession,
    agency_id: uuid.UUID,
    action: str,
    object_type: str,
    object_id: uuid.UUID | None,
    changes: dict[str, Any] | None = None,
) -> None:
    """Record a refused sign-in in a transaction of its own.

    The request's transaction is rolled back with the error it answers, and a refusal is
    exactly what the audit log must keep: it is written through a session of its own, on the
    engine of ``session``.
    """
    async with AsyncSession(session.bind) as own:
        await bind_tenant(own, agency_id)
        AuditRepository(own, Subject(agency_id=agency_id, kind="system")).record(
            action, object_type, object_id, changes
        )
        await own.commit()
