"""HTTP conventions shared by the controllers: ETags and If-Match."""

from __future__ import annotations

from agency.kernel.errors import PreconditionFailed, PreconditionRequired


def etag(version: int) -> str:
    return f'"{version}"'


def check_if_match(if_match: str | None, version: int) -> None:
    """Refuse an edit made against a stale representation (RFC 9110 strong comparison)."""
    if if_match is None:
        raise PreconditionRequired(
            "Send If-Match with the ETag of the version you edited, to avoid lost updates."
        )
    candidates = [tag.strip() for tag in if_match.split(",")]
    if "*" in candidates or etag(version) in candidates:
        return
    raise PreconditionFailed(
        "This object changed since you read it; fetch it again and reapply your change.",
        current_etag=etag(version),
    )
