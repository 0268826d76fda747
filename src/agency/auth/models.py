from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ColumnElement, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from agency.kernel.db import Base, IdMixin, TimestampMixin
from agency.kernel.secrets import Encrypted
from agency.kernel.tenancy import Subject, TenantMixin


class Credential(IdMixin, TenantMixin, TimestampMixin, Base):
    """A bearer secret bound to one agency: a login session or an API token.

    Only a SHA-256 of the secret is kept; the secret is shown once, when created.
    """

    __tablename__ = "credentials"

    kind: Mapped[str] = mapped_column(String(20))  # session | client_session | api_token
    name: Mapped[str] = mapped_column(String(200))
    # A session acts as its user; an API token as itself, with the scopes it was given.
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # Issued by the admin command (or a token it issued): bounded by its scopes alone. Any
    # other token is cut to its creator's current role, and refused once they are gone.
    system_issued: Mapped[bool] = mapped_column(default=False)
    # The API token that created this one: revoking it revokes this one, and this one never
    # outlives it. None when a person (a session) or the admin command created it.
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("credentials.id", ondelete="SET NULL")
    )
    scopes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    secret_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime | None]
    # A session: renewals never take it past this (its sign-in plus the longest life).
    renewable_until: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    # A session opened through an identity provider: which one, and its ID token (sealed),
    # the hint its RP-initiated logout asks for.
    login_provider_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("login_providers.id", ondelete="SET NULL")
    )
    id_token: Mapped[str | None] = mapped_column(Encrypted)

    @classmethod
    def brand_scope(cls, subject: Subject) -> ColumnElement[bool]:
        """A client member reaches their own sessions (to log out), nothing else."""
        return (cls.user_id == subject.user_id) & (cls.kind == "client_session")
