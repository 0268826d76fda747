from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Row

from agency.audit.models import AuditEvent
from agency.kernel.schemas import Output
from agency.kernel.tenancy import ActorKind


class AuditEventOut(Output):
    id: uuid.UUID
    actor_type: ActorKind
    actor_id: uuid.UUID | None
    action: str
    object_type: str
    object_id: uuid.UUID | None
    changes: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, e: AuditEvent | Row[Any]) -> AuditEventOut:
        return cls(
            id=e.id,
            actor_type=ActorKind(e.actor_type),
            actor_id=e.actor_id,
            action=e.action,
            object_type=e.object_type,
            object_id=e.object_id,
            changes=e.changes,
            created_at=e.created_at,
        )


class AuditEventPage(Output):
    items: list[AuditEventOut]
    next_cursor: str | None
