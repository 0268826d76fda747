"""A real SMTP server on loopback (aiosmtpd) that keeps what it is sent, for mail tests.

It asks for a login (PLAIN/LOGIN; without TLS on loopback, or only after STARTTLS with
``starttls=True``, on a certificate of its own whose authority file is ``ca_file``) and
refuses for good any recipient at ``refused.example``, as a server does for an address that
does not exist. ``handler.answers`` lists the replies to the next DATA commands ("451 ..."
puts a message off, "554 ..." refuses it); ``handler.hold`` keeps DATA unanswered (the
message stored) until it is set, for tests that kill the sender mid-send.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import re
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

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
    answers: list[str] = field(default_factory=list)
    hold: threading.Event = field(default_factory=threading.Event)
    holding: threading.Event = field(default_factory=threading.Event)
    # Recipients whose RCPT TO is left unanswered while ``hold`` is clear (before DATA).
    hold_at_rcpt: set[str] = field(default_factory=set)
    holding_rcpt: threading.Event = field(default_factory=threading.Event)
    data_commands: int = 0

    def reset(self) -> None:
        with self.lock:
            self.received.clear()
            self.answers.clear()
            self.data_commands = 0
            self.hold_at_rcpt.clear()
        self.hold.set()
        self.holding.clear()
        self.holding_rcpt.clear()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.endswith("@refused.example"):
            return "550 5.1.1 No such user here"
        if address in self.hold_at_rcpt and not self.hold.is_set():
            self.holding_rcpt.set()
            await asyncio.to_thread(self.hold.wait, 120)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.data_commands += 1
            answer = self.answers.pop(0) if self.answers else "250 Message accepted"
        if not answer.startswith("250"):
            return answer
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data.login.decode() if session.auth_data else None
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), message, login)
            )
        if not self.hold.is_set():
            self.holding.set()
            # The sender waits for our answer meanwhile.
            await asyncio.to_thread(self.hold.wait, 120)
        return answer

    def take_link(self, address: str, marker: str, timeout: float = 10.0) -> str:
        """The secret after ``marker`` in the e-mail to ``address`` holding it, taken out of
        the mailbox (so a test counting that person's other e-mails is not disturbed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for received in self.received:
                    text = received.message.get_body(("plain",))
                    content = text.get_content() if text is not None else ""
                    found = re.search(re.escape(marker) + r"(\S+)", content)
                    if address in received.recipients and found:
                        self.received.remove(received)
                        return found.group(1)
            time.sleep(0.05)
        raise AssertionError(f"no e-mail to {address} holds {marker}")

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


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own authority): (cert file, key file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "smtp.pem", folder / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class SmtpServer:
    def __init__(self, starttls: bool = False) -> None:
        self.handler = SmtpHandler()
        self.handler.hold.set()
        self.port = free_port()
        self.starttls = starttls
        self.ca_file: str | None = None
        options: dict[str, Any] = {
            # Plain on loopback: aiosmtpd warns about it on each session.
            "auth_require_tls": False
        }
        if starttls:
            self._folder = tempfile.TemporaryDirectory(prefix="agency-smtp-")
            cert, key = _certificate(Path(self._folder.name))
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            self.ca_file = str(cert)
            options = {"tls_context": context, "require_starttls": True, "auth_require_tls": True}
        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=_authenticate,
            auth_required=True,
            **options,
        )

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.handler.hold.set()
        self.controller.stop()
        if self.starttls:
            self._folder.cleanup()


def smtp_settings(server: SmtpServer, **fields: Any) -> Any:
    """Mail settings that send through ``server`` (plain SMTP with a login, on loopback)."""
    from agency.config import MailSettings

    values: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": server.port,
        "smtp_security": "starttls" if server.starttls else "none",
        "smtp_ca_file": server.ca_file,
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
