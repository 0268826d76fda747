"""How a rendered message leaves: SMTP, or an ``.eml`` file in the outbox (embedded default).

The exchange is cut in two around the moment the message itself is handed over. Before it
(connecting, STARTTLS, login, ``MAIL FROM``, ``RCPT TO``) nothing can have been delivered, so a
worker that dies there leaves a message that is safe to send again. ``before_data`` is awaited
just before ``DATA``: the caller records there that the message may now arrive, and a death
after that point leaves it ``unknown``, never sent twice.

:func:`deliver` raises :class:`Undeliverable` when the server refused the message for good
(5xx: a bad address), :class:`MailTransient` when it may go through later (server down,
4xx: greylisted, mailbox busy) and :class:`MailUnknown` when the connection broke while the
message was being handed over, with no answer to say whether the server took it.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from pathlib import Path

from agency.config import MailSettings


class MailTransient(Exception):
    """The message may go through later."""


class Undeliverable(Exception):
    """The server refused the message for good."""


class MailUnknown(Exception):
    """The connection broke during ``DATA``: the server may or may not have the message."""


class Abandoned(Exception):
    """``before_data`` found the message taken over by another attempt: nothing was sent."""


BeforeData = Callable[[], Awaitable[bool]]


def new_message_id(settings: MailSettings) -> str:
    return make_msgid(domain=sender_domain(settings.sender))


def sender_domain(sender: str) -> str:
    return sender.rpartition("@")[2].strip("> ") or "localhost"


def build(
    settings: MailSettings, recipient: str, subject: str, body: str, message_id: str | None = None
) -> EmailMessage:
    """A plain-text message (invitations, sign-in links)."""
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Message-ID"] = message_id or new_message_id(settings)
    message.set_content(body)
    return message


def outbox_name(message_id: str) -> str:
    """The file name a message gets in the outbox, from its Message-ID."""
    name = message_id.strip().strip("<>").replace("@", "_").replace("/", "_")
    return f"{name}.eml"


async def deliver(settings: MailSettings, message: EmailMessage, before_data: BeforeData) -> None:
    if settings.smtp_host is None:
        if not await before_data():
            raise Abandoned
        await asyncio.to_thread(_to_outbox, Path(settings.outbox_path), message)
        return
    # smtplib is the standard library's complete client; threads keep the loop free.
    smtp = await asyncio.to_thread(_envelope, settings, message)
    try:
        if not await before_data():
            raise Abandoned
        await asyncio.to_thread(_data, smtp, message)
    finally:
        await asyncio.to_thread(_close, smtp)


def _to_outbox(folder: Path, message: EmailMessage) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    name = outbox_name(str(message["Message-ID"]))
    partial = folder / f".{name}.tmp"
    partial.write_bytes(message.as_bytes())
    partial.rename(folder / name)  # whole files only: readers never see half


def _envelope(settings: MailSettings, message: EmailMessage) -> smtplib.SMTP:
    """Connected, logged in, sender and recipients accepted: everything but the message."""
    assert settings.smtp_host is not None
    context = ssl.create_default_context()
    host, port, timeout = settings.smtp_host, settings.smtp_port, settings.timeout_seconds
    if settings.smtp_ca_file:
        context.load_verify_locations(cafile=settings.smtp_ca_file)
    smtp: smtplib.SMTP | None = None
    try:
        smtp = (
            smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
            if settings.smtp_security == "tls"
            else smtplib.SMTP(host, port, timeout=timeout)
        )
        smtp.ehlo()
        if settings.smtp_security == "starttls":
            smtp.starttls(context=context)
            smtp.ehlo()
        if settings.smtp_username and settings.smtp_password:
            smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
        _check(smtp.mail(_address(message["From"])))
        recipient = _address(message["To"])
        _check(smtp.rcpt(recipient), recipient)
        return smtp
    except BaseException as exc:
        if smtp is not None:
            _close(smtp)
        raise _classified(exc) from exc


def _data(smtp: smtplib.SMTP, message: EmailMessage) -> None:
    try:
        # CRLF line ends, as SMTP requires: smtplib leaves bytes' bare LFs as they are, so a
        # server reads the message as a few long lines, and a line that quoted-printable
        # starts with "." keeps the dot smtplib doubled (a link in it breaks).
        code, reply = smtp.data(message.as_bytes(policy=message.policy.clone(linesep="\r\n")))
    except smtplib.SMTPDataError as exc:
        # The server answered: it refused the message, it does not have it.
        raise _classified(exc) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise MailUnknown(_words(exc)) from exc
    if code != 250:
        raise _classified(smtplib.SMTPDataError(code, reply))


def _close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


def _check(answer: tuple[int, bytes], recipient: str | None = None) -> None:
    code, reply = answer
    if code in (250, 251):
        return
    if recipient is not None:
        raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
    raise smtplib.SMTPResponseException(code, reply)


def _address(header: object) -> str:
    """The bare address of a From or To header (``Name <a@b>``)."""
    return parseaddr(str(header))[1]


def _classified(exc: BaseException) -> Exception:
    if isinstance(exc, MailTransient | Undeliverable | MailUnknown):
        return exc
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        if all(500 <= code < 600 for code in codes):
            return Undeliverable(_words(exc))
        return MailTransient(_words(exc))
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        # Our credentials, not the message: the operator fixes them and it goes through.
        return MailTransient(_words(exc))
    if isinstance(exc, smtplib.SMTPResponseException):
        if 500 <= exc.smtp_code < 600:
            return Undeliverable(_words(exc))
        return MailTransient(_words(exc))
    if isinstance(exc, OSError | smtplib.SMTPException):
        return MailTransient(_words(exc))
    if isinstance(exc, Exception):
        return exc
    raise exc


def _words(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]
