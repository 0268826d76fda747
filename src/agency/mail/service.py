"""Queue an e-mail: rendered now, in the recipient's locale, sent after the commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from agency.kernel.jobs import enqueue
from agency.kernel.secrets import SecretBox
from agency.kernel.tenancy import Subject
from agency.mail.models import MailMessage
from agency.mail.rendering import render
from agency.mail.repository import MailRepository

SEND_JOB = "mail.send"


async def queue_mail(
    session: AsyncSession,
    subject: Subject,
    box: SecretBox,
    recipient: str,
    template: str,
    locale: str,
    context: dict[str, Any],
) -> MailMessage:
    """Store one message for ``recipient`` and send it once the transaction commits.

    A rollback drops both the row and the job: no e-mail goes out for what did not happen.
    The body is stored sealed with ``box``.
    """
    title, body = render(template, locale, context)
    mail = MailMessage(
        recipient=recipient,
        template=template,
        locale=locale,
        subject=title[:300],
        body=box.encrypt(body),
    )
    await MailRepository(session, subject).add(mail)
    enqueue(SEND_JOB, str(subject.agency_id), str(mail.id))
    return mail
