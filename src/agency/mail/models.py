"""Outgoing e-mail: rendered per locale, stored sealed, sent by a worker after the commit."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from agency.kernel.db import Base, Choice, IdMixin, TimestampMixin
from agency.kernel.secrets import Encrypted
from agency.kernel.tenancy import TenantMixin


class MailState(StrEnum):
    """Where an e-mail is (the answers show it as it is stored)."""

    PENDING = "pending"  # waiting for its (next) attempt at next_attempt_at
    SENDING = "sending"  # connecting: nothing handed over yet, safe to try again
    TRANSMITTING = "transmitting"  # DATA begun: the server may have it
    SENT = "sent"
    FAILED = "failed"  # refused for good (5xx), or attempts used up
    UNKNOWN = "unknown"  # the worker died while handing it over: never sent again
    CANCELED = "canceled"  # withdrawn before it left (the recipient unsubscribed)


MAIL_FINAL = frozenset({MailState.SENT, MailState.FAILED, MailState.UNKNOWN, MailState.CANCELED})


class MailMessage(IdMixin, TenantMixin, TimestampMixin, Base):
    """One e-mail to one recipient, rendered when queued and sent once by a worker.

    The body may carry a sign-in link, so it is sealed at rest like channel tokens; a rich
    message (HTML, images, attachments) is kept whole, sealed, in ``mime``. ``sending`` is
    committed before the SMTP exchange and ``transmitting`` before the message is handed
    over: a worker that dies before the second is tried again, after it the message is
    ``unknown`` rather than sent twice.
    """

    __tablename__ = "mail_messages"
    __tenant_indexes__ = (
        Index("ix_mail_messages_agency_status", "agency_id", "status"),
        Index("ix_mail_messages_next_attempt_at", "next_attempt_at"),
    )

    recipient: Mapped[str] = mapped_column(String(320))
    template: Mapped[str] = mapped_column(String(60))
    locale: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Encrypted)
    mime: Mapped[str | None] = mapped_column(Encrypted)
    message_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(Choice(MailState), default=MailState.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    # When the scheduler may enqueue it (again): due, a retry's backoff, or a lease.
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(2000))
    sent_at: Mapped[datetime | None]
    # Where it went: "smtp" or "outbox" (then its .eml file is named after message_id).
    route: Mapped[str | None] = mapped_column(String(10))
    # A job told ``(agency_id, mail_id)`` once the message is settled for good.
    on_settled: Mapped[str | None] = mapped_column(String(60))
