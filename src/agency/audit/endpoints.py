from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get
from litestar.params import QueryParameter

from agency.access.permissions import Permission
from agency.audit.repository import AuditRepository
from agency.audit.schemas import AuditEventOut, AuditEventPage
from agency.kernel.deps import CurrentSubject, DbSession, Paging


class AuditController(Controller):
    path = "/audit-events"
    tags = ["Audit"]
    opt = {"permission": Permission.AUDIT_READ}

    @get(summary="The audit log, newest first")
    async def list_events(
        self,
        db_session: DbSession,
        subject: CurrentSubject,
        page: Paging,
        object_type: Annotated[str | None, QueryParameter(max_length=50)] = None,
        object_id: Annotated[uuid.UUID | None, QueryParameter()] = None,
        action: Annotated[str | None, QueryParameter(max_length=100)] = None,
    ) -> AuditEventPage:
        repo = AuditRepository(db_session, subject)
        rows, cursor = await repo.page_rows(page, repo.filtered(object_type, object_id, action))
        return AuditEventPage(items=[AuditEventOut.of(e) for e in rows], next_cursor=cursor)
