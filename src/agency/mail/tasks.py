"""Sending queued e-mail, once: the job, and the scheduler's claim of due and stale messages.

The database decides, as for publications and webhooks. A message is sent by ``mail.send``
as soon as it is committed; the job names the attempt it makes, re-reads the row under a
lock and acts only if the row is still ``pending`` at that attempt, so a message delivered
twice by the broker does nothing the second time. ``sending`` is committed before the SMTP
exchange and ``transmitting`` just before the message is handed over (``DATA``):

- the server puts it off (4xx) or cannot be reached: ``pending`` again, retried by the
  scheduler after ``AGENCY_MAIL__RETRY_DELAYS_SECONDS``, then ``failed``;
- the server refuses it for good (5xx): ``failed`` at once, no retry;
- the worker dies while ``sending``: once the lease is over the scheduler makes it
  ``pending`` again (nothing was handed over);
- the worker dies while ``transmitting``, or the connection breaks with no answer to
  ``DATA``: ``unknown``, never sent again (the server may have it).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from email import message_from_string, policy
from email.message import EmailMessage

from sqlalchemy.ext.asyncio import AsyncSession

from agency.config import MailSettings
from agency.kernel.db import utcnow
from agency.kernel.jobs import enqueue, job
from agency.kernel.runtime import Runtime
from agency.kernel.scheduling import backlog, claimer
from agency.kernel.secrets import SecretBox
from agency.kernel.tenancy import Subject, bind_tenant
from agency.mail.models import MAIL_FINAL, MailMessage, MailState
from agency.mail.repository import MailRepository, MailSweepRepository
from agency.mail.sending import (
    Abandoned,
    MailTransient,
    MailUnknown,
    Undeliverable,
    build,
    deliver,
)
from agency.mail.service import SEND_JOB, finish

CLAIM_BATCH = 500


@claimer("mail")
async def claim_mail(session: AsyncSession, runtime: Runtime, now: datetime) -> int:
    settings = runtime.settings.mail
    sweep = MailSweepRepository(session)
    stale = await sweep.stale(now, CLAIM_BATCH)
    for mail in stale:
        if mail.status == MailState.SENDING:
            # The worker died before handing the message over: the server has nothing.
            mail.status, mail.next_attempt_at = MailState.PENDING, now
            mail.last_error = "The worker stopped before the message was handed over."
        else:
            finish(mail, MailState.UNKNOWN, _UNKNOWN)
    due = await sweep.claim_due(now, timedelta(seconds=settings.lease_seconds), CLAIM_BATCH)
    for agency_id, mail_id, attempts in due:
        enqueue(SEND_JOB, str(agency_id), str(mail_id), attempts)
    if len(due) >= CLAIM_BATCH or len(stale) >= CLAIM_BATCH:
        backlog("mail")
    return len(due) + len(stale)


_UNKNOWN = (
    "The worker stopped while handing the message over: the server may have it. Not sent again."
)


@job(SEND_JOB, queue="mail", max_retries=0)
async def send(
    session: AsyncSession,
    runtime: Runtime,
    agency_id: str,
    mail_id: str,
    attempt: int | None = None,
) -> None:
    """Attempt number ``attempt + 1`` of one message, unless the row says it is not due."""
    settings = runtime.settings.mail
    agency, key = uuid.UUID(agency_id), uuid.UUID(mail_id)
    repo = MailRepository(session, Subject(agency_id=agency, kind="system"))
    await bind_tenant(session, agency)
    mail = await repo.get_for_update(key)
    if mail is None or mail.status != MailState.PENDING:
        return
    if attempt is not None and mail.attempts != attempt:
        return  # another message already made this attempt
    if mail.attempts > len(settings.retry_delays_seconds):
        # Attempts whose outcome was never recorded (workers dying mid-send) count too.
        finish(mail, MailState.FAILED, "Given up: no outcome could be recorded.")
        return
    made = mail.attempts + 1
    mail.status, mail.attempts = MailState.SENDING, made
    mail.next_attempt_at = utcnow() + timedelta(seconds=settings.lease_seconds)
    mail.route = "smtp" if settings.smtp_host else "outbox"
    message = _message(mail, settings, runtime.secrets)
    await session.commit()  # no transaction stays open while the server answers

    async def before_data() -> bool:
        """Record that the message may now arrive; False if another attempt took over."""
        await bind_tenant(session, agency)
        found = await repo.get_for_update(key)
        if found is None or found.status != MailState.SENDING or found.attempts != made:
            await session.rollback()
            return False
        found.status = MailState.TRANSMITTING
        await session.commit()
        return True

    try:
        await deliver(settings, message, before_data)
    except Abandoned:
        return
    except MailTransient as exc:
        await _settle(session, repo, agency, key, made, settings, MailState.PENDING, str(exc))
        return
    except Undeliverable as exc:
        await _settle(session, repo, agency, key, made, settings, MailState.FAILED, str(exc))
        return
    except MailUnknown as exc:
        words = f"The connection broke while handing the message over ({exc}). Not sent again."
        await _settle(session, repo, agency, key, made, settings, MailState.UNKNOWN, words)
        return
    await _settle(session, repo, agency, key, made, settings, MailState.SENT, None)


def _message(mail: MailMessage, settings: MailSettings, box: SecretBox) -> EmailMessage:
    if mail.mime is not None:
        parsed = message_from_string(box.decrypt(mail.mime), policy=policy.SMTP)
        assert isinstance(parsed, EmailMessage)
        return parsed
    return build(settings, mail.recipient, mail.subject, box.decrypt(mail.body), mail.message_id)


async def _settle(
    session: AsyncSession,
    repo: MailRepository,
    agency: uuid.UUID,
    key: uuid.UUID,
    made: int,
    settings: MailSettings,
    status: str,
    error: str | None,
) -> None:
    await bind_tenant(session, agency)
    mail = await repo.get_for_update(key)
    if mail is None or mail.attempts != made or mail.status in MAIL_FINAL:
        return  # our lease ran out and the scheduler settled it meanwhile
    if status == MailState.PENDING:
        delays = settings.retry_delays_seconds
        if mail.attempts > len(delays):
            finish(mail, MailState.FAILED, f"Given up after {mail.attempts} attempts: {error}")
            return
        mail.status, mail.last_error = MailState.PENDING, error
        mail.next_attempt_at = utcnow() + timedelta(seconds=delays[mail.attempts - 1])
        return
    finish(mail, status, error)
