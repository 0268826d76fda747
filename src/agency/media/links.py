"""Expiring links to a media file that a network fetches without credentials (local storage).

A link names the agency, the media and when it expires, and carries an HMAC-SHA256 of the
three under a key derived from ``AGENCY_SECRET_KEY`` (HKDF, its own ``info``, so the key
signs nothing else). Checking recomputes the signature over the exact text received and
compares in constant time; a link that is altered, unsigned or expired names nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from agency.config import Settings

_EXPIRES = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE = re.compile(r"^[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True)
class MediaLinks:
    key: bytes
    base_url: str

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaLinks:
        secret = settings.auth.secret_key.get_secret_value().encode()
        key = HKDF(algorithm=SHA256(), length=32, salt=None, info=b"agency media links").derive(
            secret
        )
        return cls(key=key, base_url=settings.server.public_url.rstrip("/"))

    def sign(self, agency_id: uuid.UUID, media_id: uuid.UUID, expires: str) -> str:
        message = f"{agency_id}:{media_id}:{expires}".encode()
        digest = hmac.new(self.key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def url(self, agency_id: uuid.UUID, media_id: uuid.UUID, ttl_seconds: int) -> str:
        expires = str(int(time.time()) + ttl_seconds)
        query = urlencode(
            {
                "agency": str(agency_id),
                "expires": expires,
                "signature": self.sign(agency_id, media_id, expires),
            }
        )
        return f"{self.base_url}/media/{media_id}/signed?{query}"

    def verify(
        self,
        agency: str | None,
        media_id: uuid.UUID,
        expires: str | None,
        signature: str | None,
        now: float | None = None,
    ) -> uuid.UUID | None:
        """The agency the link was signed for, or None when it is not a valid, live link."""
        if agency is None or expires is None or signature is None:
            return None
        if not _EXPIRES.match(expires) or not _SIGNATURE.match(signature):
            return None
        try:
            agency_id = uuid.UUID(agency)
        except ValueError:
            return None
        # Signed over the canonical forms: another spelling of the same id does not verify.
        if str(agency_id) != agency:
            return None
        expected = self.sign(agency_id, media_id, expires)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return None
        if int(expires) <= (time.time() if now is None else now):
            return None
        return agency_id
