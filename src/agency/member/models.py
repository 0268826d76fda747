from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from agency.kernel.db import Base, IdMixin, TimestampMixin
from agency.kernel.tenancy import TenantMixin


class User(IdMixin, TimestampMixin, Base):
    """A person. Global: one person may work for several agencies (freelancers do)."""

    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Null for people who only sign in through an identity provider.
    password_hash: Mapped[str | None] = mapped_column(String(200))
    disabled_at: Mapped[datetime | None]
    # The language the person chose for the API's messages and e-mails (PUT /auth/me/locale);
    # None: their requests' Accept-Language decides.
    locale: Mapped[str | None] = mapped_column(String(8))


class Membership(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "memberships"
    __tenant_indexes__ = (
        Index("uq_memberships_agency_user", "agency_id", "user_id", unique=True),
        Index("ix_memberships_user_id", "user_id"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(default=1)

    user: Mapped[User] = relationship(lazy="raise")

    __mapper_args__ = {"version_id_col": version}


class Invitation(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "invitations"
    __tenant_indexes__ = (Index("ix_invitations_agency_email", "agency_id", "email"),)

    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(40))
    secret_hash: Mapped[str] = mapped_column(String(64))
    invited_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # As for API tokens: an invitation is honoured only while its inviter may still grant
    # its role, unless the system issued it.
    system_issued: Mapped[bool] = mapped_column(default=False)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
