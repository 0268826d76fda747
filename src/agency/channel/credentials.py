"""Channel credentials in and out of their encrypted column."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agency.connector.base import Credentials
from agency.kernel.secrets import SecretBox


def to_plain(credentials: Credentials) -> dict[str, Any]:
    return {
        "access_token": credentials.access_token,
        "refresh_token": credentials.refresh_token,
        "expires_at": credentials.expires_at.isoformat() if credentials.expires_at else None,
        "scopes": list(credentials.scopes),
        "extra": credentials.extra,
    }


def from_plain(data: dict[str, Any]) -> Credentials:
    expires = data.get("expires_at")
    return Credentials(
        access_token=data["access_token"],
        refresh_token=data.get("refresh_token"),
        expires_at=datetime.fromisoformat(expires) if expires else None,
        scopes=tuple(data.get("scopes") or ()),
        extra=dict(data.get("extra") or {}),
    )


def seal(box: SecretBox, credentials: Credentials) -> str:
    return box.encrypt_json(to_plain(credentials))


def unseal(box: SecretBox, stored: str) -> Credentials:
    return from_plain(box.decrypt_json(stored))
