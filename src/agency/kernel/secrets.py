"""Secrets at rest: Fernet with versioned keys (``cryptography``'s MultiFernet).

A stored secret reads ``v<version>:<fernet token>``. The version says which key wrote it, so
``agency secrets rotate`` knows what is left to re-encrypt after a new key is put first.
Columns holding ciphertext use :class:`Encrypted`, which is how rotation finds them all.
Plain text never leaves the service that needs it: not in responses, logs or reprs.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Column, LargeBinary, MetaData, Table, Text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeDecorator

from agency.config import SecretSettings
from agency.kernel.system import SealedValueRepository

# Secrets opened lately kept in memory, by their sealed text, up to this many of this length.
OPENED_KEPT = 4096
OPENED_LENGTH = 4096


class SecretError(Exception):
    """A ciphertext no configured key can open, or a malformed key setting."""


class Encrypted(TypeDecorator[str]):
    """A text column that holds :class:`SecretBox` ciphertext (never plain text)."""

    impl = Text
    cache_ok = True


class EncryptedBytes(TypeDecorator[bytes]):
    """A binary column that holds :meth:`SecretBox.encrypt_bytes` ciphertext."""

    impl = LargeBinary
    cache_ok = True


class SecretBox:
    def __init__(self, keys: Sequence[tuple[int, bytes]]) -> None:
        if not keys:
            raise SecretError("at least one encryption key is needed")
        versions = [version for version, _ in keys]
        if len(set(versions)) != len(versions):
            raise SecretError("two encryption keys share a version")
        self.primary_version = versions[0]
        self._by_version = {version: Fernet(key) for version, key in keys}
        self._all = MultiFernet([Fernet(key) for _, key in keys])
        # What was opened lately, by its sealed text: a worker opens a channel's credentials
        # for every post (an HMAC and an AES pass each time, ~2 % of a worker's CPU in a
        # publishing burst). A secret written again (refreshed, rotated) is a new text.
        self._opened = functools.lru_cache(maxsize=OPENED_KEPT)(self._open)

    @classmethod
    def from_settings(cls, settings: SecretSettings, fallback_secret: str) -> SecretBox:
        if not settings.encryption_keys:
            return cls([(0, derive_key(fallback_secret))])
        keys = []
        for item in settings.encryption_keys:
            version, sep, key = item.partition(":")
            if not sep or not version.isdigit():
                raise SecretError("AGENCY_ENCRYPTION_KEYS items read `version:fernet-key`")
            try:
                Fernet(key.encode())
            except ValueError as exc:
                raise SecretError(f"encryption key version {version} is not a Fernet key") from exc
            keys.append((int(version), key.encode()))
        return cls(keys)

    def encrypt(self, plain: str) -> str:
        token = self._by_version[self.primary_version].encrypt(plain.encode())
        return f"v{self.primary_version}:{token.decode()}"

    def decrypt(self, stored: str) -> str:
        if len(stored) > OPENED_LENGTH:  # a large secret (a file) is not kept
            return self._open(stored)
        opened: str = self._opened(stored)
        return opened

    def _open(self, stored: str) -> str:
        version, token = _split(stored)
        fernet = self._by_version.get(version)
        try:
            if fernet is not None:
                return fernet.decrypt(token).decode()
            return self._all.decrypt(token).decode()
        except InvalidToken as exc:
            raise SecretError(
                f"no configured key opens a secret written with key v{version}"
            ) from exc

    def encrypt_bytes(self, plain: bytes) -> bytes:
        return self.encrypt(base64.b64encode(plain).decode()).encode()

    def decrypt_bytes(self, stored: bytes) -> bytes:
        return base64.b64decode(self.decrypt(stored.decode()))

    def encrypt_json(self, value: Any) -> str:
        return self.encrypt(json.dumps(value, separators=(",", ":")))

    def decrypt_json(self, stored: str) -> Any:
        return json.loads(self.decrypt(stored))

    def is_current(self, stored: str | bytes) -> bool:
        text = stored.decode() if isinstance(stored, bytes) else stored
        return _split(text)[0] == self.primary_version

    def rotate(self, stored: str) -> str:
        """The same secret, encrypted with the primary key."""
        return self.encrypt(self.decrypt(stored))

    def __repr__(self) -> str:
        return f"SecretBox(primary=v{self.primary_version}, keys={sorted(self._by_version)})"


def _split(stored: str) -> tuple[int, bytes]:
    prefix, sep, token = stored.partition(":")
    if not sep or not prefix.startswith("v") or not prefix[1:].isdigit():
        raise SecretError("not a stored secret")
    return int(prefix[1:]), token.encode()


def derive_key(secret: str) -> bytes:
    """A Fernet key derived from the application secret (embedded default only)."""
    raw = HKDF(algorithm=SHA256(), length=32, salt=None, info=b"agency secrets at rest").derive(
        secret.encode()
    )
    return base64.urlsafe_b64encode(raw)


def generate_key() -> str:
    return Fernet.generate_key().decode()


def encrypted_columns(metadata: MetaData) -> list[tuple[Table, Column[Any]]]:
    """Every column holding ciphertext, found by its type: what rotation must visit."""
    found = []
    for table in metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, Encrypted | EncryptedBytes):
                found.append((table, column))
    return found


async def rotate_all(
    session: AsyncSession, box: SecretBox, metadata: MetaData, batch: int = 500
) -> dict[str, int]:
    """Re-encrypt, with the primary key, every secret another key wrote.

    ``metadata`` holds every model (the caller imports them all). Runs as the system (the
    caller binds it) in batches by primary key; idempotent, so an
    interrupted rotation is simply run again. Returns how many values each column had.
    """
    values = SealedValueRepository(session)
    counts: dict[str, int] = {}
    for table, column in encrypted_columns(metadata):
        done = 0
        last: Any = None
        while True:
            rows = await values.batch_after(table, column, last, batch)
            if not rows:
                break
            for row_key, stored in rows:
                if box.is_current(stored):
                    continue
                if isinstance(column.type, EncryptedBytes):
                    fresh: Any = box.encrypt_bytes(box.decrypt_bytes(stored))
                else:
                    fresh = box.rotate(stored)
                await values.rewrite(table, column, row_key, fresh)
                done += 1
            last = rows[-1][0]
        counts[f"{table.name}.{column.name}"] = done
    return counts
