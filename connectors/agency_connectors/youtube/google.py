"""Reading Google's answers: JSON errors typed by their reason, RFC 3339 times."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from agency.connector import ConnectorError, InvalidContent, Problem, RateLimited, Refused

# Error reasons that mean "later", not "never"
# (https://developers.google.com/youtube/v3/docs/errors).
QUOTA_REASONS = frozenset(
    {"quotaExceeded", "rateLimitExceeded", "userRateLimitExceeded", "uploadLimitExceeded"}
)
# Error reasons about the content, and the field of the post they point at.
CONTENT_REASONS = {
    "invalidTitle": "title",
    "invalidDescription": "text",
    "invalidTags": "options.tags",
    "invalidCategoryId": "options.category_id",
    "invalidVideoMetadata": "text",
    "mediaBodyRequired": "media.0",
}
TAG = re.compile(r"<[^>]*>")


def parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def seconds_until_quota_reset(now: datetime | None = None) -> float:
    """YouTube's daily quota resets at midnight Pacific Time."""
    pacific = ZoneInfo("America/Los_Angeles")
    here = (now or datetime.now(pacific)).astimezone(pacific)
    midnight = (here + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - here).total_seconds()


def google_error(response: httpx.Response) -> tuple[str, str]:
    """The words and the reason of Google's JSON error body."""
    try:
        error = response.json().get("error", {})
    except (ValueError, AttributeError):
        error = {}
    if not isinstance(error, dict):  # OAuth-style {"error": "invalid_grant"}
        error = {"message": str(error)}
    details = error.get("errors") or [{}]
    reason = str(details[0].get("reason", "")) if isinstance(details[0], dict) else ""
    # Quota messages carry HTML links; the UI shows plain words.
    message = TAG.sub("", str(error.get("message") or "")).strip()
    return (f"YouTube: {message}" if message else ""), reason


def refine(error: ConnectorError, reason: str) -> ConnectorError:
    """Google says "quota" and "bad title" with 403 and 400: type them by their reason."""
    if reason in QUOTA_REASONS:
        retry = seconds_until_quota_reset() if reason == "quotaExceeded" else None
        return RateLimited(error.message, retry_after=retry, status=error.status)
    if reason in CONTENT_REASONS and isinstance(error, Refused):
        problem = Problem(CONTENT_REASONS[reason], error.message, reason)
        return InvalidContent([problem], status=error.status)
    return error
