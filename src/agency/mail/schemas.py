from __future__ import annotations

import uuid
from datetime import datetime

from agency.kernel.schemas import Locale, Output
from agency.mail.models import MailMessage
from agency.mail.models import MailState as MailState
from agency.mail.sending import outbox_name


class MailOut(Output):
    """One message to one recipient and what became of it (never its body: it may carry a
    sign-in link)."""

    id: uuid.UUID
    recipient: str
    subject: str
    template: str
    locale: Locale
    status: MailState
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    sent_at: datetime | None
    # "smtp", or "outbox" when no SMTP server is configured (the .eml file is outbox_file)
    route: str | None
    outbox_file: str | None
    created_at: datetime

    @classmethod
    def of(cls, m: MailMessage) -> MailOut:
        in_outbox = m.route == "outbox" and m.status == "sent" and m.message_id is not None
        return cls(
            id=m.id,
            recipient=m.recipient,
            subject=m.subject,
            template=m.template,
            locale=Locale(m.locale),
            status=MailState(m.status),
            attempts=m.attempts,
            last_error=m.last_error,
            next_attempt_at=m.next_attempt_at,
            sent_at=m.sent_at,
            route=m.route,
            outbox_file=outbox_name(m.message_id) if in_outbox and m.message_id else None,
            created_at=m.created_at,
        )


class MailPage(Output):
    items: list[MailOut]
    next_cursor: str | None
