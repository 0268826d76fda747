from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from agency.kernel.db import Base, IdMixin, utcnow
from agency.kernel.tenancy import TenantMixin


class AuditEvent(IdMixin, TenantMixin, Base):
    __tablename__ = "audit_events"
    __tenant_indexes__ = (
        Index("ix_audit_events_agency_object", "agency_id", "object_type", "object_id"),
    )

    actor_type: Mapped[str] = mapped_column(String(20))  # user | api_token | system
    actor_id: Mapped[uuid.UUID | None]
    action: Mapped[str] = mapped_column(String(100))  # e.g. "member.role_changed"
    object_type: Mapped[str] = mapped_column(String(50))
    object_id: Mapped[uuid.UUID | None]
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
