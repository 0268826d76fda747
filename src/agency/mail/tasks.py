"""The job that sends one queued e-mail, once.

The row is re-read under a lock and must still be ``pending``: a message delivered twice by
the broker finds it ``sending`` or ``sent`` and does nothing. ``sending`` is committed before
the SMTP exchange, so a crash mid-send leaves the message unsent rather than sent twice.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from agency.kernel.db import utcnow
from agency.kernel.jobs import job
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import Subject, bind_tenant
from agency.mail.models import MailMessage
from agency.mail.repository import MailRepository
from agency.mail.sending import MailTransient, Undeliverable, build, deliver
from agency.mail.service import SEND_JOB

MAX_ATTEMPTS = 5


@job(SEND_JOB, queue="mail", max_retries=MAX_ATTEMPTS - 1, min_backoff=5_000)
async def send(session: AsyncSession, runtime: Runtime, agency_id: str, mail_id: str) -> None:
    agency = uuid.UUID(agency_id)
    repo = MailRepository(session, Subject(agency_id=agency, kind="system"))
    await bind_tenant(session, agency)
    mail = await repo.get_for_update(uuid.UUID(mail_id))
    if mail is None or mail.status != "pending":
        return
    mail.status, mail.attempts = "sending", mail.attempts + 1
    message = build(
        runtime.settings.mail, mail.recipient, mail.subject, runtime.secrets.decrypt(mail.body)
    )
    await session.commit()
    try:
        await deliver(runtime.settings.mail, message)
    except MailTransient as exc:
        await _settle(session, agency, mail, "pending", str(exc))
        await session.commit()
        raise  # Dramatiq retries with backoff; the row says pending again
    except Undeliverable as exc:
        await _settle(session, agency, mail, "failed", str(exc))
        return
    await _settle(session, agency, mail, "sent", None)


async def _settle(
    session: AsyncSession, agency: uuid.UUID, mail: MailMessage, status: str, error: str | None
) -> None:
    await bind_tenant(session, agency)
    mail.status, mail.last_error = status, error
    if status == "pending" and mail.attempts >= MAX_ATTEMPTS:
        mail.status = "failed"
    if status == "sent":
        mail.sent_at = utcnow()
