from __future__ import annotations

import uuid
from datetime import datetime

from agency.approval.link.models import DecisionLink
from agency.kernel.schemas import Output


class DecisionLinkOut(Output):
    """A link e-mailed to a client approver: to whom, for which version, what became of it."""

    id: uuid.UUID
    publication_id: uuid.UUID
    client_member_id: uuid.UUID
    content_hash: str
    step: str
    expires_at: datetime
    used_at: datetime | None
    decision: str | None
    revoked_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, link: DecisionLink) -> DecisionLinkOut:
        return cls(
            id=link.id,
            publication_id=link.publication_id,
            client_member_id=link.client_member_id,
            content_hash=link.content_hash,
            step=link.step_name,
            expires_at=link.expires_at,
            used_at=link.used_at,
            decision=link.decision,
            revoked_at=link.revoked_at,
            created_at=link.created_at,
        )


class DecisionLinkList(Output):
    items: list[DecisionLinkOut]
