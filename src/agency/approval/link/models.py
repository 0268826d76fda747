from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from agency.kernel.db import Base, IdMixin, TimestampMixin
from agency.kernel.tenancy import TenantMixin


class DecisionLink(IdMixin, TenantMixin, TimestampMixin, Base):
    """A client approver's way to decide on one version of one publication, from an e-mail.

    Bound to that person (their place on the brand) and that version (the round's content
    hash): an edit makes it stale, a decision spends it, staff may revoke it, and it expires.
    Only a SHA-256 of its secret is kept.
    """

    __tablename__ = "decision_links"
    __tenant_indexes__ = (
        Index("ix_decision_links_agency_publication", "agency_id", "publication_id"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    publication_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("publications.id", ondelete="CASCADE")
    )
    client_member_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("client_members.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    content_hash: Mapped[str] = mapped_column(String(64))
    step_position: Mapped[int]
    step_name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    # approve | request_changes | reject: what was decided through it.
    decision: Mapped[str | None] = mapped_column(String(20))
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[uuid.UUID | None]
