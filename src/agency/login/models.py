from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from agency.kernel.db import Base, IdMixin, TimestampMixin
from agency.kernel.tenancy import TenantMixin


class SignInLink(IdMixin, TenantMixin, TimestampMixin, Base):
    """A single-use, short-lived link that signs one person in to one agency.

    Only a SHA-256 of its secret is kept. It is bound to the person (``user_id``): whoever
    redeems it becomes that person, so it is only ever mailed to their own address.
    """

    __tablename__ = "sign_in_links"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(20))  # invitation | magic_link
    secret_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
