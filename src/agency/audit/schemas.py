from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from agency.kernel.schemas import Output
from agency.kernel.tenancy import ActorKind

# The actor kinds by their stored values: a look-up, not an enum call, for 50 rows a page.
_ACTORS = {kind.value: kind for kind in ActorKind}


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
    def of_row(cls, row: Sequence[Any], changes: dict[str, Any]) -> AuditEventOut:
        """From a row of ``LISTED`` (the repository's), read by position, and its changes
        decoded (``EventPage``)."""
        id, actor_type, actor_id, action, object_type, object_id, _, created_at = row
        return cls(
            id=id,
            actor_type=_ACTORS[actor_type],
            actor_id=actor_id,
            action=action,
            object_type=object_type,
            object_id=object_id,
            changes=changes,
            created_at=created_at,
        )


class AuditEventPage(Output):
    items: list[AuditEventOut]
    next_cursor: str | None
