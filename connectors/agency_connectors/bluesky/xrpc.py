"""XRPC over httpx: the PDS's error answers and rate-limit headers as typed errors.

XRPC errors are JSON ``{"error": "Name", "message": "words"}`` (https://atproto.com/specs/xrpc).
Two details matter here:

* the reference PDS answers a token it cannot verify, or an expired one, with **400**
  ``InvalidToken`` / ``ExpiredToken``, not 401: those mean "refresh or reconnect";
* it sends ``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset`` (epoch seconds)
  and ``RateLimit-Policy`` (``<points>;w=<seconds>``) on rate-limited routes
  (https://docs.bsky.app/docs/advanced-guides/rate-limits).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from agency.connector.errors import AuthExpired, RateLimited
from agency.connector.http import call, retry_after_seconds

TOKEN_ERRORS = frozenset({"ExpiredToken", "InvalidToken"})


@dataclass(frozen=True)
class RateLimit:
    """What the PDS said about the quota of the route just called."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None  # epoch seconds
    window_seconds: int | None = None
    retry_after: float | None = None  # seconds from now, when Retry-After is sent


def _number(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def rate_limit(response: httpx.Response, now: float | None = None) -> RateLimit:
    headers = response.headers
    window: int | None = None
    for part in headers.get("ratelimit-policy", "").split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name == "w":
            window = _number(value)
    reset = _number(headers.get("ratelimit-reset"))
    return RateLimit(
        limit=_number(headers.get("ratelimit-limit")),
        remaining=_number(headers.get("ratelimit-remaining")),
        reset_at=float(reset) if reset is not None else None,
        window_seconds=window,
        retry_after=retry_after_seconds(headers.get("retry-after"), now),
    )


def error_of(response: httpx.Response) -> tuple[str, str]:
    """The XRPC error name and message of a failed answer (empty when it has none)."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    name, message = body.get("error"), body.get("message")
    return (name if isinstance(name, str) else ""), (message if isinstance(message, str) else "")


def words(response: httpx.Response) -> str:
    name, message = error_of(response)
    said = message or name or f"HTTP {response.status_code}"
    return f"Bluesky answered: {said.rstrip('.')}."


def _rate_limited(response: httpx.Response) -> RateLimited:
    limit = rate_limit(response)
    retry = limit.retry_after
    if retry is None and limit.reset_at is not None:
        retry = max(0.0, limit.reset_at - time.time())
    message = "Bluesky's rate limit is reached"
    if limit.limit is not None and limit.window_seconds:
        message += f" ({limit.limit} calls per {_duration(limit.window_seconds)})"
    if retry is not None:
        message += f"; it allows more in {_duration(round(retry))}"
    return RateLimited(message + ".", retry_after=retry, status=response.status_code)


def _duration(seconds: int) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


class Missing(Exception):
    """The PDS answered with one of the error names the caller expects for "nothing there"."""


async def send(
    request: Callable[[], Awaitable[httpx.Response]],
    *,
    publishing: bool = False,
    missing: frozenset[str] = frozenset(),
) -> httpx.Response:
    """Send one XRPC call: transport failures and error answers become typed errors.

    A 400 whose error name is in ``missing`` raises :class:`Missing` instead.
    """

    async def checked() -> httpx.Response:
        response = await request()
        if response.status_code == 400:
            await response.aread()
            name = error_of(response)[0]
            if name in missing:
                raise Missing(name)
            if name in TOKEN_ERRORS:
                raise AuthExpired(
                    "The Bluesky session has expired or was revoked. " + words(response),
                    status=400,
                )
        elif response.status_code == 429:
            await response.aread()
            raise _rate_limited(response)
        return response

    return await call(checked, publishing=publishing, describe=words)


def jwt_claims(token: str) -> dict[str, object]:
    """The claims of a JWT, read without verifying the signature (the PDS does that)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}


def jwt_expiry(token: str) -> datetime | None:
    exp = jwt_claims(token).get("exp")
    return datetime.fromtimestamp(exp, UTC) if isinstance(exp, int) else None


def jwt_scope(token: str) -> str | None:
    scope = jwt_claims(token).get("scope")
    return scope if isinstance(scope, str) else None
