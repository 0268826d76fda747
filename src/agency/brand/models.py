from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ColumnElement, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from agency.kernel.db import Base, IdMixin, TimestampMixin
from agency.kernel.tenancy import Subject, TenantMixin


class Brand(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "brands"
    __tenant_indexes__ = (Index("uq_brands_agency_slug", "agency_id", "slug", unique=True),)

    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(8))
    reporting_line: Mapped[str] = mapped_column(String(30))
    editorial_charter: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    community_charter: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # network -> {"objectives": [...], "target_audience": str, "kpis": [...]}
    network_objectives: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # After downtime, a publication later than this is marked missed instead of published.
    publish_grace_minutes: Mapped[int] = mapped_column(default=60)
    # none | (the approvals issue adds the reporting-line policies)
    approval_policy: Mapped[str] = mapped_column(String(30), default="none")
    archived_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    @classmethod
    def brand_scope(cls, subject: Subject) -> ColumnElement[bool]:
        return cls.id.in_(subject.brand_ids or ())
