from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from agency.kernel.db import Base, IdMixin, TimestampMixin
from agency.kernel.secrets import Encrypted
from agency.kernel.tenancy import TenantMixin


class MailMessage(IdMixin, TenantMixin, TimestampMixin, Base):
    """One e-mail to one recipient, rendered when queued and sent once by a worker.

    The body may carry a sign-in link, so it is sealed at rest like channel tokens. The row is
    marked ``sending`` and committed before the SMTP exchange: a worker that dies mid-send
    leaves it there rather than sending it twice.
    """

    __tablename__ = "mail_messages"
    __tenant_indexes__ = (Index("ix_mail_messages_agency_status", "agency_id", "status"),)

    recipient: Mapped[str] = mapped_column(String(320))
    template: Mapped[str] = mapped_column(String(60))
    locale: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Encrypted)
    # pending | sending | sent | failed
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(2000))
    sent_at: Mapped[datetime | None]
