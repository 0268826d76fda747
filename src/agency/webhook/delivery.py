"""One attempt of a delivery: sign (Standard Webhooks), POST, judge the answer, plan the next.

No database here: the job reads what an attempt needs, commits, calls :func:`send` with no
transaction open, and records the :class:`Outcome` in a second transaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from urllib.parse import urlsplit

import httpx
from standardwebhooks import Webhook

from agency import __version__
from agency.config import WebhookSettings
from agency.kernel.metrics import delivered
from agency.kernel.outbound import OutboundPolicy, OutboundRefused, transport
from agency.webhook.models import WebhookDelivery

logger = logging.getLogger("agency.webhooks")

# A receiver may ask for a pause (Retry-After); beyond a day we come back anyway.
MAX_RETRY_AFTER = timedelta(hours=24)


@dataclass(frozen=True)
class Attempt:
    url: str
    event_id: uuid.UUID
    body: str
    secrets: Sequence[str]


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None  # None: delivered
    duration_ms: int
    retry_after: timedelta | None = None

    @property
    def succeeded(self) -> bool:
        return self.error is None


def signed_headers(attempt: Attempt, at: datetime) -> dict[str, str]:
    """The three Standard Webhooks headers; one signature per live secret (rotation)."""
    msg_id = str(attempt.event_id)
    signatures = " ".join(Webhook(s).sign(msg_id, at, attempt.body) for s in attempt.secrets)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
        "user-agent": f"agency-webhooks/{__version__}",
    }


async def send(attempt: Attempt, settings: WebhookSettings, policy: OutboundPolicy) -> Outcome:
    timeout = settings.timeout_seconds
    headers = signed_headers(attempt, datetime.now(UTC))
    started = time.perf_counter()

    def outcome(
        status: int | None, error: str | None, retry_after: timedelta | None = None
    ) -> Outcome:
        elapsed = round((time.perf_counter() - started) * 1000)
        return Outcome(status, error[:1000] if error else None, elapsed, retry_after)

    client = httpx.AsyncClient(transport=transport(policy), timeout=timeout)
    try:
        # One deadline for the whole exchange: httpx's timeouts are per read.
        async with client, asyncio.timeout(timeout):
            request = client.build_request(
                "POST", attempt.url, content=attempt.body.encode(), headers=headers
            )
            # The body is never read: the receiver's words stay out of our log and answers.
            response = await client.send(request, stream=True)
            await response.aclose()
    except (TimeoutError, httpx.TimeoutException):
        return outcome(None, f"No answer within {timeout:g} s.")
    except OutboundRefused as exc:
        return outcome(None, f"Refused: {_host(attempt.url)} {exc.reason}.")
    except httpx.ConnectError as exc:
        return outcome(None, f"Could not connect: {exc}.")
    except httpx.HTTPError as exc:
        return outcome(None, f"The request failed: {exc or type(exc).__name__}.")
    except Exception:
        # Recorded as a failed attempt, so the schedule still ends; the trace goes to the log.
        logger.exception("webhook delivery to %s failed unexpectedly", _host(attempt.url))
        return outcome(None, "The request could not be sent (an error on our side).")
    if response.is_success:
        return outcome(response.status_code, None)
    return outcome(
        response.status_code, _refusal(response), _retry_after(response, datetime.now(UTC))
    )


def _host(url: str) -> str:
    # Only the host is logged: receivers put tokens in paths and queries.
    return urlsplit(url).hostname or "?"


def _refusal(response: httpx.Response) -> str:
    code = response.status_code
    try:
        words = f"HTTP {code} {HTTPStatus(code).phrase}"
    except ValueError:
        words = f"HTTP {code}"
    text = f"The receiver answered {words}"
    if response.is_redirect:
        text += " (redirects are not followed: register the final URL)"
    return f"{text}."


def _retry_after(response: httpx.Response, now: datetime) -> timedelta | None:
    """The receiver's ``Retry-After`` on 429 and 503: seconds or an HTTP date."""
    value = response.headers.get("retry-after", "").strip()
    if response.status_code not in (429, 503) or not value:
        return None
    if value.isdigit():
        wait = timedelta(seconds=int(value))
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        wait = max(when - now, timedelta(0))
    return min(wait, MAX_RETRY_AFTER)


def next_attempt_delay(
    attempts: int, outcome: Outcome, settings: WebhookSettings
) -> timedelta | None:
    """After ``attempts`` failed attempts: the wait before the next, or None to give up.

    The schedule's wait, or longer when the receiver asked for a longer pause.
    """
    delays = settings.retry_delays_seconds
    if attempts > len(delays):
        return None
    wait = timedelta(seconds=delays[attempts - 1])
    if outcome.retry_after is not None:
        wait = max(wait, outcome.retry_after)
    return wait


def settle(
    delivery: WebhookDelivery, outcome: Outcome, settings: WebhookSettings, now: datetime
) -> None:
    """Record an attempt's outcome: delivered, due again later, or given up."""
    delivery.last_status_code = outcome.status_code
    delivery.last_error = outcome.error
    delivery.last_duration_ms = outcome.duration_ms
    wait = None if outcome.succeeded else next_attempt_delay(delivery.attempts, outcome, settings)
    if outcome.succeeded:
        delivery.status = "succeeded"
        delivery.delivered_at = now
    elif wait is None:
        delivery.status = "failed"
    delivery.next_attempt_at = now + wait if wait is not None else None
    delivered("webhook", "retry" if wait is not None else delivery.status)


def give_up(delivery: WebhookDelivery, reason: str) -> None:
    delivered("webhook", "failed")
    delivery.status = "failed"
    delivery.next_attempt_at = None
    delivery.last_error = reason
