"""TikTok's error envelope and failure reasons, typed and put in plain words.

Every answer carries ``{"error": {"code", "message", "log_id"}}``, ``code`` being ``"ok"`` on
success (https://developers.tiktok.com/doc/tiktok-api-v2-error-handling). A post that fails
after the upload says why in ``fail_reason``
(https://developers.tiktok.com/doc/content-posting-api-reference-get-video-status).
"""

from __future__ import annotations

from typing import Any

import httpx

from agency.connector import (
    AuthExpired,
    ConnectorError,
    InvalidContent,
    Problem,
    RateLimited,
    Refused,
    Transient,
)

# Error codes -> (kind, words). Kinds: auth, rate, refused, content, transient.
CODES: dict[str, tuple[str, str]] = {
    "access_token_invalid": ("auth", "TikTok no longer accepts this connection; reconnect it."),
    "scope_not_authorized": ("auth", "TikTok needs a permission this connection lacks; reconnect."),
    "scope_permission_missed": (
        "auth",
        "TikTok needs a permission this connection lacks; reconnect.",
    ),
    "rate_limit_exceeded": ("rate", "Too many calls to TikTok; it will be tried again shortly."),
    "reached_active_user_cap": (
        "rate",
        "TikTok's daily cap of posting users for this app is reached.",
    ),
    "spam_risk_too_many_posts": (
        "refused",
        "TikTok's daily post limit for this account is reached.",
    ),
    "spam_risk_user_banned_from_posting": (
        "refused",
        "TikTok has banned this account from posting.",
    ),
    "spam_risk_too_many_pending_share": (
        "refused",
        "Too many posts are waiting in TikTok for this account.",
    ),
    "spam_risk_text": ("refused", "TikTok took the caption for spam; change it."),
    "spam_risk": ("refused", "TikTok took the post for spam."),
    "unaudited_client_can_only_post_to_private_accounts": (
        "refused",
        "Until TikTok audits the app, it may only post privately (privacy SELF_ONLY).",
    ),
    "url_ownership_unverified": ("refused", "TikTok fetches media only from a verified domain."),
    "privacy_level_option_mismatch": (
        "content",
        "This privacy level is not offered for this account.",
    ),
    "invalid_params": ("content", "TikTok refused the post's settings."),
    "internal_error": ("transient", "TikTok had an internal error; it will be tried again."),
}

# fail_reason of a failed post -> (kind, words).
FAIL_REASONS: dict[str, tuple[str, str]] = {
    "file_format_check_failed": ("content", "TikTok does not accept this video format."),
    "duration_check_failed": ("content", "The video is too long or too short for TikTok."),
    "frame_rate_check_failed": ("content", "TikTok does not accept the video's frame rate."),
    "picture_size_check_failed": ("content", "TikTok does not accept the picture or video size."),
    "internal": ("transient", "TikTok failed while processing the post; it will be tried again."),
    "video_pull_failed": ("content", "TikTok could not download the video from its address."),
    "photo_pull_failed": ("content", "TikTok could not download the photos from their address."),
    "publish_cancelled": ("refused", "The post was cancelled on TikTok."),
    "auth_removed": ("auth", "The account removed this app's access on TikTok; reconnect."),
    "spam_risk_too_many_posts": CODES["spam_risk_too_many_posts"],
    "spam_risk_user_banned_from_posting": CODES["spam_risk_user_banned_from_posting"],
    "spam_risk_text": CODES["spam_risk_text"],
    "spam_risk": CODES["spam_risk"],
}


def typed(
    kind: str, words: str, *, field: str = "media", status: int | None = None
) -> ConnectorError:
    if kind == "auth":
        return AuthExpired(words, status=status)
    if kind == "rate":
        return RateLimited(words, retry_after=60.0 if status == 429 else None, status=status)
    if kind == "content":
        return InvalidContent([Problem(field, words, "refused")], status=status)
    if kind == "transient":
        return Transient(words, status=status)
    return Refused(words, status=status)


def envelope_error(body: Any) -> tuple[str, str]:
    """(code, message) of TikTok's error envelope; code is "ok" on success."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "ok", ""
    return str(error.get("code") or "ok"), str(error.get("message") or "")


def code_error(code: str, message: str, status: int | None) -> ConnectorError | None:
    """The typed error for a known code, or None to keep the HTTP status's own typing."""
    if code not in CODES:
        return None
    kind, words = CODES[code]
    if code == "invalid_params" and message:
        words = f"TikTok refused the post: {message}"
    field = "options.privacy_level" if code == "privacy_level_option_mismatch" else "media"
    return typed(kind, words, field=field, status=status)


def describe(response: httpx.Response) -> str | None:
    try:
        code, message = envelope_error(response.json())
    except ValueError:
        return None
    if code in CODES:
        return CODES[code][1]
    return f"TikTok: {message or code}" if code != "ok" else None


def failure(reason: str) -> ConnectorError:
    kind, words = FAIL_REASONS.get(
        reason, ("refused", f"TikTok did not publish the post ({reason}).")
    )
    return typed(kind, words)
