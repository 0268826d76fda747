"""Turning network HTTP answers into typed errors, and reading rate-limit headers."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx

from agency.connector.errors import (
    AuthExpired,
    ConnectorError,
    OutcomeUnknown,
    RateLimited,
    Refused,
    Transient,
)

T = TypeVar("T")


@dataclass(frozen=True)
class RateLimit:
    """What the network said about its quota on the last answer."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None  # epoch seconds
    retry_after: float | None = None  # seconds from now
    usage_percent: float | None = None  # Meta's X-Business-Use-Case-Usage / X-App-Usage


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """RFC 9110 Retry-After: delay-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (now if now is not None else time.time()))


def _meta_usage(headers: httpx.Headers) -> float | None:
    """Highest percentage in Meta's usage headers (business use case, app, page)."""
    worst: float | None = None
    for name in ("x-business-use-case-usage", "x-app-usage", "x-page-usage"):
        raw = headers.get(name)
        if not raw:
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        entries = (
            [e for group in data.values() for e in group] if name.startswith("x-b") else [data]
        )
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            for key in ("call_count", "total_cputime", "total_time"):
                value = entry.get(key)
                if isinstance(value, int | float):
                    worst = max(worst or 0.0, float(value))
    return worst


def read_rate_limit(response: httpx.Response, now: float | None = None) -> RateLimit:
    h = response.headers
    reset = h.get("x-rate-limit-reset") or h.get("x-ratelimit-reset") or h.get("ratelimit-reset")
    reset_at: float | None = None
    if reset is not None:
        # X sends epoch seconds; Mastodon an ISO date; Bluesky epoch; IETF draft a delta.
        if reset.isdigit():
            value = float(reset)
            reset_at = value if value > 1e9 else (now or time.time()) + value
        else:
            try:
                reset_at = datetime.fromisoformat(reset.replace("Z", "+00:00")).timestamp()
            except ValueError:
                reset_at = None
    return RateLimit(
        limit=_int(h.get("x-rate-limit-limit") or h.get("x-ratelimit-limit")),
        remaining=_int(h.get("x-rate-limit-remaining") or h.get("x-ratelimit-remaining")),
        reset_at=reset_at,
        retry_after=retry_after_seconds(h.get("retry-after"), now),
        usage_percent=_meta_usage(h),
    )


def error_for(response: httpx.Response, message: str | None = None) -> ConnectorError:
    """The typed error for a failed answer; ``message`` is the network's words if known."""
    status = response.status_code
    words = message or f"{response.request.url.host} answered HTTP {status}"
    if status == 401:
        return AuthExpired(words, status=status)
    if status == 429:
        limit = read_rate_limit(response)
        retry = limit.retry_after
        if retry is None and limit.reset_at is not None:
            retry = max(0.0, limit.reset_at - time.time())
        return RateLimited(words, retry_after=retry, status=status)
    if status >= 500:
        return Transient(words, status=status)
    return Refused(words, status=status)


async def call(
    send: Callable[[], Awaitable[httpx.Response]],
    *,
    publishing: bool = False,
    describe: Callable[[httpx.Response], str | None] | None = None,
) -> httpx.Response:
    """Send a request; network failures become typed errors.

    A timeout or dropped connection while ``publishing`` means the post may exist:
    :class:`OutcomeUnknown`, so that the caller reconciles instead of retrying.
    """
    try:
        response = await send()
    except (httpx.TimeoutException, httpx.RemoteProtocolError, httpx.ReadError) as exc:
        kind = type(exc).__name__
        if publishing and not isinstance(exc, httpx.ConnectTimeout):
            raise OutcomeUnknown(
                f"No answer from the network ({kind}); it may have published."
            ) from exc
        raise Transient(f"The network could not be reached ({kind}).") from exc
    except httpx.TransportError as exc:
        raise Transient(f"The network could not be reached ({type(exc).__name__}).") from exc
    if response.is_success:
        return response
    await response.aread()
    raise error_for(response, describe(response) if describe else None)


def json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise Transient(f"The network answered something that is not JSON ({exc}).") from exc
