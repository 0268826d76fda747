"""How a rendered message leaves: SMTP, or an ``.eml`` file in the outbox (embedded default).

:func:`deliver` raises :class:`Undeliverable` when the server refused the message for good
(a bad address) and :class:`MailTransient` when it may go through later (server down,
greylisted); the job retries only the latter.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from agency.config import MailSettings


class MailTransient(Exception):
    """The message may go through later."""


class Undeliverable(Exception):
    """The server refused the message for good."""


def build(settings: MailSettings, recipient: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2].strip("> "))
    message.set_content(body)
    return message


async def deliver(settings: MailSettings, message: EmailMessage) -> None:
    if settings.smtp_host is None:
        await asyncio.to_thread(_to_outbox, Path(settings.outbox_path), message)
        return
    # smtplib is the standard library's complete client; a thread keeps the loop free.
    await asyncio.to_thread(_over_smtp, settings, message)


def _to_outbox(folder: Path, message: EmailMessage) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    name = str(message["Message-ID"]).strip("<>").replace("@", "_").replace("/", "_")
    partial = folder / f".{name}.tmp"
    partial.write_bytes(message.as_bytes())
    partial.rename(folder / f"{name}.eml")  # whole files only: readers never see half


def _over_smtp(settings: MailSettings, message: EmailMessage) -> None:
    assert settings.smtp_host is not None
    context = ssl.create_default_context()
    host, port, timeout = settings.smtp_host, settings.smtp_port, settings.timeout_seconds
    try:
        smtp = (
            smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
            if settings.smtp_security == "tls"
            else smtplib.SMTP(host, port, timeout=timeout)
        )
        with smtp:
            if settings.smtp_security == "starttls":
                smtp.starttls(context=context)
            if settings.smtp_username and settings.smtp_password:
                smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        if all(500 <= code < 600 for code in codes):
            raise Undeliverable(_words(exc)) from exc
        raise MailTransient(_words(exc)) from exc
    except smtplib.SMTPResponseException as exc:
        if 500 <= exc.smtp_code < 600:
            raise Undeliverable(_words(exc)) from exc
        raise MailTransient(_words(exc)) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise MailTransient(_words(exc)) from exc


def _words(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]
