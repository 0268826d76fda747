from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from agency.access.permissions import Permission
from agency.audit.schemas import AuditEventOut, AuditEventPage
from agency.audit.service import AuditLog
from agency.kernel.deps import Paging, provide_service


class AuditController(Controller):
    path = "/audit-events"
    tags = ["Audit"]
    opt = {"permission": Permission.AUDIT_READ}
    dependencies = {"audit_log": provide_service(AuditLog)}

    @get(operation_id="listAuditEvents", summary="The audit log, newest first")
    async def list_events(
        self,
        audit_log: NamedDependency[AuditLog],
        page: Paging,
        object_type: Annotated[str | None, QueryParameter(max_length=50)] = None,
        object_id: Annotated[uuid.UUID | None, QueryParameter()] = None,
        action: Annotated[str | None, QueryParameter(max_length=100)] = None,
    ) -> AuditEventPage:
        found = await audit_log.page(page, object_type, object_id, action)
        items = [
            AuditEventOut.of_row(*listed) for listed in zip(found.rows, found.changes, strict=True)
        ]
        return AuditEventPage(items=items, next_cursor=found.next_cursor)
