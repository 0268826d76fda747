"""Queue an e-mail (rendered now, in the recipient's locale, sent after the commit), and read
the log of what was sent."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import timedelta
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from agency.config import MailSettings, Settings
from agency.kernel.db import utcnow
from agency.kernel.errors import NotFound
from agency.kernel.jobs import enqueue
from agency.kernel.metrics import delivered
from agency.kernel.pagination import PageRequest
from agency.kernel.runtime import Runtime
from agency.kernel.secrets import SecretBox
from agency.kernel.tenancy import Subject
from agency.mail.models import MailMessage, MailState
from agency.mail.rendering import render
from agency.mail.repository import MailRepository
from agency.mail.sending import new_message_id, outbox_name

SEND_JOB = "mail.send"


def frontend_link(settings: Settings, path: str) -> str:
    """A page an e-mail leads to: on the frontend (``AGENCY_MAIL__FRONTEND_URL``), else at
    the API's public URL; ``path`` the resource's, as the API names it."""
    base = settings.mail.frontend_url or settings.server.public_url
    return f"{base.rstrip('/')}/{path.lstrip('/')}"


async def queue_mail(
    session: AsyncSession,
    subject: Subject,
    box: SecretBox,
    recipient: str,
    template: str,
    locale: str,
    context: dict[str, Any],
    *,
    settings: MailSettings | None = None,
    on_settled: str | None = None,
) -> MailMessage:
    """Store one message for ``recipient`` and send it once the transaction commits.

    A rollback drops both the row and the job: no e-mail goes out for what did not happen.
    The body is stored sealed with ``box``. ``on_settled`` names a job told
    ``(agency_id, mail_id)`` once the message is sent, failed or canceled for good.
    """
    title, body = render(template, locale, context)
    mail = MailMessage(
        recipient=recipient,
        template=template,
        locale=locale,
        subject=title[:300],
        body=box.encrypt(body),
        message_id=new_message_id(settings or MailSettings()),
        on_settled=on_settled,
    )
    return await _queue(session, subject, mail, settings)


async def queue_message(
    session: AsyncSession,
    subject: Subject,
    box: SecretBox,
    message: EmailMessage,
    *,
    template: str,
    locale: str,
    settings: MailSettings,
    on_settled: str | None = None,
) -> MailMessage:
    """Store a message composed whole (:func:`agency.mail.composing.compose`), sealed, and
    send it once the transaction commits, as :func:`queue_mail` does."""
    text = message.get_body(("plain",))
    mail = MailMessage(
        recipient=parseaddr(str(message["To"]))[1],
        template=template,
        locale=locale,
        subject=str(message["Subject"])[:300],
        body=box.encrypt(text.get_content() if text is not None else ""),
        mime=box.encrypt(message.as_string()),
        message_id=str(message["Message-ID"]),
        on_settled=on_settled,
    )
    return await _queue(session, subject, mail, settings)


async def _queue(
    session: AsyncSession, subject: Subject, mail: MailMessage, settings: MailSettings | None
) -> MailMessage:
    lease = (settings or MailSettings()).lease_seconds
    # Sent at once by the job below; the scheduler sends it again only if that message is lost.
    mail.next_attempt_at = utcnow() + timedelta(seconds=lease)
    await MailRepository(session, subject).add(mail)
    enqueue(SEND_JOB, str(subject.agency_id), str(mail.id), 0)
    return mail


def finish(mail: MailMessage, status: str, error: str | None) -> None:
    """Put ``mail`` in a final state and tell whoever asked to know (after the commit)."""
    mail.status, mail.last_error, mail.next_attempt_at = status, error, None
    delivered("mail", status)
    if status == MailState.SENT:
        mail.sent_at = utcnow()
    if mail.on_settled:
        enqueue(mail.on_settled, str(mail.agency_id), str(mail.id))


async def cancel_pending(
    session: AsyncSession, subject: Subject, ids: list[uuid.UUID], reason: str
) -> list[uuid.UUID]:
    """Withdraw those of ``ids`` that have not started to leave; returns the ones withdrawn.

    A message already being handed over goes on: it cannot be called back."""
    taken = await MailRepository(session, subject).pending_of(ids)
    for mail in taken:
        finish(mail, MailState.CANCELED, reason)
    return [mail.id for mail in taken]


class MailLogService:
    """The agency's outgoing e-mail as a log (read only)."""

    def __init__(self, session: AsyncSession, subject: Subject, runtime: Runtime) -> None:
        self.repo = MailRepository(session, subject)
        self.settings = runtime.settings.mail

    async def list(
        self, page: PageRequest, status: str | None, recipient: str | None
    ) -> tuple[Sequence[MailMessage], str | None]:
        return await self.repo.page(page, self.repo.listing(status, recipient))

    async def get(self, mail_id: uuid.UUID) -> MailMessage:
        return await self.repo.get(mail_id)

    async def eml(self, mail_id: uuid.UUID) -> tuple[str, bytes]:
        """The file the message became in the outbox."""
        mail = await self.repo.get(mail_id)
        if mail.route != "outbox" or mail.status != "sent" or mail.message_id is None:
            raise NotFound(
                f"The e-mail {mail_id} is not in the outbox (it went by SMTP, or has not been "
                "written yet)."
            )
        name = outbox_name(mail.message_id)
        path = Path(self.settings.outbox_path) / name
        try:
            return name, await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as exc:
            raise NotFound(f"The outbox file of e-mail {mail_id} is gone.") from exc
