"""Bearer secrets and passwords.

A bearer secret reads ``<prefix>_<ids>.<secret>``: ``ids`` carries the agency and the row
(neither is secret), so the lookup runs under that agency's RLS and nothing needs to search
across tenants. Only a SHA-256 of the 256-bit random part is stored: fast to check on every
request, and useless to whoever reads the table. Passwords use Argon2id.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import secrets
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

SESSION_PREFIX = "agy"
INVITATION_PREFIX = "agi"

_hasher = PasswordHasher()
# Verified when the e-mail is unknown, so a login takes as long either way.
_DUMMY_HASH = _hasher.hash("not a real password, only spends the same time")
# Argon2 spends ~50 ms of CPU and 64 MiB per hash: off the event loop (which served nothing
# else meanwhile), and no more at once than there are cores.
_HASHING = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="argon2")


@dataclass(frozen=True)
class BearerSecret:
    agency_id: uuid.UUID
    object_id: uuid.UUID
    secret: str

    def render(self, prefix: str) -> str:
        ids = base64.urlsafe_b64encode(self.agency_id.bytes + self.object_id.bytes)
        return f"{prefix}_{ids.rstrip(b'=').decode()}.{self.secret}"


def new_bearer(agency_id: uuid.UUID, object_id: uuid.UUID) -> BearerSecret:
    return BearerSecret(agency_id, object_id, secrets.token_urlsafe(32))


def parse_bearer(value: str, prefix: str) -> BearerSecret | None:
    head, sep, secret = value.partition(".")
    if not sep or not head.startswith(prefix + "_") or not 20 <= len(secret) <= 100:
        return None
    encoded = head[len(prefix) + 1 :]
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except ValueError:
        return None
    if len(raw) != 32:
        return None
    return BearerSecret(uuid.UUID(bytes=raw[:16]), uuid.UUID(bytes=raw[16:]), secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, stored_hash: str | None) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def hash_password_off_loop(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_HASHING, hash_password, password)


async def verify_password_off_loop(password: str, stored_hash: str | None) -> bool:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_HASHING, verify_password, password, stored_hash)
