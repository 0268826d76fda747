from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from agency.kernel.db import Base, IdMixin, TimestampMixin


class Agency(IdMixin, TimestampMixin, Base):
    """The tenant. RLS shows a request only its own agency row."""

    __tablename__ = "agencies"

    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    # Origins (scheme://host[:port]) a sign-in may land on: the agency's frontends.
    login_origins: Mapped[list[Any]] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column(default=1)
    # Moves with every change to what authentication reads (a credential revoked, a role
    # changed...), by triggers (migration 0029): a cached credential is good while it stands.
    access_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    __mapper_args__ = {"version_id_col": version}
