"""Domain errors. Each becomes an RFC 9457 problem response with its own type and status.

A problem's ``type`` is ``/problems/<type_slug>``, a page of this API that explains it
(:mod:`agency.kernel.problem_types`); its ``title`` is the same for every occurrence and is
translated; its ``detail`` says what happened this time, in the caller's language when it is
a :class:`~agency.kernel.i18n.Text`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from agency.kernel.i18n import N_, Plural, Translatable


class AppError(Exception):
    status_code = 400
    type_slug = "bad-request"
    title = N_("Bad request")
    # What the type's page says about it (agency.kernel.problem_types); English, translated.
    explanation = N_("The request cannot be understood as it is.")

    def __init__(self, detail: Translatable, **extensions: Any) -> None:
        super().__init__(str(detail))
        self.detail = detail
        self.extensions = extensions


class NotFound(AppError):
    status_code = 404
    type_slug = "not-found"
    title = N_("Not found")
    explanation = N_(
        "No such object in this agency. An object of another agency answers exactly the same, "
        "so that its existence is never revealed."
    )


class Unauthorized(AppError):
    status_code = 401
    type_slug = "unauthorized"
    title = N_("Authentication required")
    explanation = N_(
        "The request carries no valid credentials: no bearer token or session cookie, or one "
        "that is malformed, expired or revoked. Sign in again, or use another token."
    )


class Forbidden(AppError):
    status_code = 403
    type_slug = "forbidden"
    title = N_("Forbidden")
    explanation = N_(
        "The credentials are valid but lack the permission this operation needs, or the "
        "operation would act above the caller's role. A request signed in by cookie that "
        "changes something must also repeat the CSRF token in X-CSRF-Token."
    )


class Conflict(AppError):
    status_code = 409
    type_slug = "conflict"
    title = N_("Conflict")
    explanation = N_(
        "The request conflicts with the current state of an object: it already exists, or is "
        "in a state that does not allow this operation. Read the object again before retrying."
    )


class Gone(AppError):
    """A single-use or expiring capability (a decision link) that served or ran out."""

    status_code = 410
    type_slug = "gone"
    title = N_("Gone")
    explanation = N_(
        "A single-use or expiring link (a decision link sent by e-mail) was already used or "
        "has expired. Ask for a new one."
    )


class PreconditionFailed(AppError):
    status_code = 412
    type_slug = "precondition-failed"
    title = N_("Precondition failed")
    explanation = N_(
        "The If-Match header names a version of the object that is no longer the current one: "
        "someone changed it since you read it. current_etag gives the current version; read "
        "the object again and reapply your change."
    )


class PreconditionRequired(AppError):
    status_code = 428
    type_slug = "precondition-required"
    title = N_("Precondition required")
    explanation = N_(
        "Edits require an If-Match header with the ETag of the version you read (every object "
        "also carries it as etag in lists), so that two people never overwrite each other."
    )


@dataclass(frozen=True)
class FieldError:
    """One thing wrong with one field of a request, before it is put in the caller's words.

    ``field``: its name, or dotted path in a body (``variants.0.text``); ``source``: ``body``,
    ``query``, ``path``, ``header`` or ``cookie``; ``code``: a stable machine name of the rule
    broken (``required``, ``too_long``, ``unknown_field``... or a business rule's own);
    ``params``: the rule's figures (``{"max": 200}``), so a frontend can word its own message.
    """

    message: Translatable
    code: str = "invalid"
    field: str | None = None
    source: str | None = None
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    # Read as a mapping too, as the dicts it replaces were: {**error, "field": ...}.
    def keys(self) -> list[str]:
        return ["message", "code", "field", "source", "params"]

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    @classmethod
    def of(cls, item: FieldError | dict[str, Any]) -> FieldError:
        """Business rules often state their errors as dicts: ``{"field", "message"}``..."""
        if isinstance(item, FieldError):
            return item
        return cls(
            message=item.get("message", "invalid"),
            code=item.get("code") or "invalid",
            field=item.get("field"),
            source=item.get("source"),
            params=dict(item.get("params") or {}),
        )


class InvalidInput(AppError):
    """A request whose fields break a rule, of the schema or of the business; ``errors``
    lists every one found, each naming its field."""

    status_code = 422
    type_slug = "invalid-input"
    title = N_("Invalid input")
    explanation = N_(
        "One or more fields of the request are not valid. errors lists every one found, each "
        "with its field (a JSON pointer into the body in pointer), a stable code naming the "
        "rule broken, the rule's figures in params, and a message. A request that breaks the "
        "schema (a missing field, a wrong type, text too long) and one that breaks a business "
        "rule (a slot already taken) are answered the same way. Fix the fields and send again."
    )

    def __init__(
        self, detail: Translatable, errors: list[FieldError] | list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(detail, errors=[FieldError.of(e) for e in errors or []])


class IdempotencyKeyReused(AppError):
    status_code = 422
    type_slug = "idempotency-key-reused"
    title = N_("Idempotency key reused with another request")
    explanation = N_(
        "This Idempotency-Key was already used, by the same credential, for a request with "
        "another body or path. Use a new key for a new request."
    )


def invalid_fields(errors: list[FieldError]) -> InvalidInput:
    """The problem for a request whose fields break the schema."""
    count = len(errors)
    detail = Plural(
        "The request has {count} invalid field.",
        "The request has {count} invalid fields.",
        count,
        count=count,
    )
    return InvalidInput(detail, errors)
