from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, String
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

    __mapper_args__ = {"version_id_col": version}
