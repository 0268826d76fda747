"""Signed links in report e-mails: unsubscribe (one per recipient and schedule, RFC 8058) and
confirm an address.

A link carries what it is about (the agency, the schedule, the address) and an HMAC-SHA256
of it under a key derived from ``AGENCY_SECRET_KEY`` (HKDF, its own ``info``, so the key
signs nothing else). Nothing is stored for it: the link itself is the proof. Checking
recomputes the signature over the exact text received and compares in constant time; an
altered, truncated or foreign link names nothing. An unsubscribe link does not expire
(people click old e-mails); a confirmation link does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
import uuid
from dataclasses import dataclass

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from agency.config import Settings

PREFIX = "rml"
_TOKEN = re.compile(r"^rml\.([A-Za-z0-9_-]{10,600})\.([A-Za-z0-9_-]{43})$")
UNSUBSCRIBE, CONFIRM = "unsubscribe", "confirm"


@dataclass(frozen=True)
class LinkClaim:
    purpose: str
    agency_id: uuid.UUID
    schedule_id: uuid.UUID
    email: str


@dataclass(frozen=True)
class ReportLinks:
    key: bytes
    base_url: str

    @classmethod
    def from_settings(cls, settings: Settings) -> ReportLinks:
        secret = settings.auth.secret_key.get_secret_value().encode()
        key = HKDF(
            algorithm=SHA256(), length=32, salt=None, info=b"agency report mail links"
        ).derive(secret)
        return cls(key=key, base_url=settings.server.public_url.rstrip("/"))

    def token(self, claim: LinkClaim, ttl_seconds: int | None = None) -> str:
        expires = int(time.time()) + ttl_seconds if ttl_seconds else 0
        payload = [
            claim.purpose,
            str(claim.agency_id),
            str(claim.schedule_id),
            claim.email,
            expires,
        ]
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{PREFIX}.{body}.{self._sign(body)}"

    def unsubscribe_url(self, agency_id: uuid.UUID, schedule_id: uuid.UUID, email: str) -> str:
        claim = LinkClaim(UNSUBSCRIBE, agency_id, schedule_id, email)
        return f"{self.base_url}/report-mail/unsubscribe/{self.token(claim)}"

    def confirm_url(
        self, agency_id: uuid.UUID, schedule_id: uuid.UUID, email: str, ttl_seconds: int
    ) -> str:
        claim = LinkClaim(CONFIRM, agency_id, schedule_id, email)
        return f"{self.base_url}/report-mail/confirm/{self.token(claim, ttl_seconds)}"

    def verify(self, token: str, purpose: str, now: float | None = None) -> LinkClaim | None:
        """What a link names, or None when it is not a valid, live link for ``purpose``."""
        found = _TOKEN.match(token)
        if found is None:
            return None
        body, signature = found.groups()
        if not hmac.compare_digest(self._sign(body).encode(), signature.encode()):
            return None
        try:
            kind, agency, schedule, email, expires = json.loads(_unb64(body))
            claim = LinkClaim(kind, uuid.UUID(agency), uuid.UUID(schedule), str(email))
        except (ValueError, TypeError, binascii.Error):
            return None
        if claim.purpose != purpose:
            return None
        if expires and (now if now is not None else time.time()) > expires:
            return None
        return claim

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self.key, body.encode(), hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
