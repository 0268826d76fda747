"""A real SMTP server on loopback (aiosmtpd) that keeps what it is sent, for mail tests.

It asks for a login (PLAIN/LOGIN, without TLS on loopback) and refuses for good any
recipient at ``refused.example``, as a server does for an address that does not exist.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.servers import free_port

USERNAME, PASSWORD = "agency", "smtp secret"


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage
    login: str | None


@dataclass
class SmtpHandler:
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.endswith("@refused.example"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data.login.decode() if session.auth_data else None
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), message, login)
            )
        return "250 Message accepted"

    def to(self, address: str, timeout: float = 10.0) -> list[Received]:
        """The messages ``address`` received, waiting for at least one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [r for r in self.received if address in r.recipients]
            if found:
                return found
            time.sleep(0.05)
        return []


def _authenticate(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login.decode(),
        auth_data.password.decode(),
    ) == (USERNAME, PASSWORD)
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


class SmtpServer:
    def __init__(self) -> None:
        self.handler = SmtpHandler()
        self.port = free_port()
        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=_authenticate,
            auth_require_tls=False,  # loopback only; aiosmtpd warns about it on each session
            auth_required=True,
        )

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.controller.stop()


def smtp_settings(server: SmtpServer, **fields: Any) -> Any:
    """Mail settings that send through ``server`` (plain SMTP with a login, on loopback)."""
    from agency.config import MailSettings

    values: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": server.port,
        "smtp_security": "none",
        "smtp_username": USERNAME,
        "smtp_password": PASSWORD,
        "timeout_seconds": 5.0,
        "sender": "Agence Durand <no-reply@agence-durand.example>",
        "frontend_url": "https://app.agence-durand.example",
    }
    return MailSettings(**{**values, **fields})


def link_in(body: str) -> str:
    found = re.search(r"https://app\.agence-durand\.example/sign-in#token=(\S+)", body)
    assert found, body
    return found.group(1)
