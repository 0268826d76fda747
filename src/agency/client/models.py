from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from agency.kernel.db import Base, IdMixin, TimestampMixin
from agency.kernel.tenancy import TenantMixin
from agency.member.models import User


class ClientMember(IdMixin, TenantMixin, TimestampMixin, Base):
    """A person's place on one client brand: their reporting line, locale and permissions.

    The person is a :class:`User` (global, keyed by e-mail), so one identity holds places on
    several brands, of one agency or several; what they may do is per brand, never wider.
    """

    __tablename__ = "client_members"
    __tenant_indexes__ = (
        Index("uq_client_members_brand_user", "agency_id", "brand_id", "user_id", unique=True),
        Index("ix_client_members_user_id", "user_id"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    reporting_line: Mapped[str] = mapped_column(String(30))
    locale: Mapped[str] = mapped_column(String(8))
    permissions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    disabled_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    user: Mapped[User] = relationship(lazy="raise")

    __mapper_args__ = {"version_id_col": version}
