"""Domain errors. Each becomes an RFC 9457 problem response with its own type and status."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status_code = 400
    type_slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class NotFound(AppError):
    status_code = 404
    type_slug = "not-found"
    title = "Not found"


class Unauthorized(AppError):
    status_code = 401
    type_slug = "unauthorized"
    title = "Authentication required"


class Forbidden(AppError):
    status_code = 403
    type_slug = "forbidden"
    title = "Forbidden"


class Conflict(AppError):
    status_code = 409
    type_slug = "conflict"
    title = "Conflict"


class Gone(AppError):
    """A single-use or expiring capability (a decision link) that served or ran out."""

    status_code = 410
    type_slug = "gone"
    title = "Gone"


class PreconditionFailed(AppError):
    status_code = 412
    type_slug = "precondition-failed"
    title = "Precondition failed"


class PreconditionRequired(AppError):
    status_code = 428
    type_slug = "precondition-required"
    title = "Precondition required"


class InvalidInput(AppError):
    """A request that is well-formed but breaks a rule; ``errors`` lists each problem."""

    status_code = 422
    type_slug = "invalid-input"
    title = "Invalid input"

    def __init__(self, detail: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail, errors=errors or [])


class IdempotencyKeyReused(AppError):
    status_code = 422
    type_slug = "idempotency-key-reused"
    title = "Idempotency key reused with another request"
