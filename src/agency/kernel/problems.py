"""RFC 9457 problem details for every error the API can answer, 404/405/500 included."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec

from agency.kernel.errors import AppError

logger = logging.getLogger("agency.problems")

PROBLEM_MEDIA_TYPE = "application/problem+json"


class FieldProblem(msgspec.Struct, omit_defaults=True):
    message: str
    field: str | None = None
    source: str | None = None
    code: str | None = None  # a stable machine name of the rule broken, where there is one


class Problem(msgspec.Struct, omit_defaults=True):
    """An RFC 9457 problem; ``errors`` lists field-level problems of invalid input."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldProblem] | None = None


def problem_response(
    request: Request[Any, Any, Any],
    status: int,
    *,
    type_: str = "about:blank",
    title: str | None = None,
    detail: str | None = None,
    errors: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> Response[Any]:
    body: dict[str, Any] = msgspec.to_builtins(
        Problem(
            type=type_,
            title=title or _phrase(status),
            status=status,
            detail=detail,
            instance=request.url.path,
            errors=errors,
        )
    )
    if extensions:
        body.update({k: v for k, v in extensions.items() if k not in body})
    return Response(
        content=body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _field_problems(extra: Any) -> list[FieldProblem] | None:
    if not isinstance(extra, list):
        return None
    problems = []
    for item in extra:
        if isinstance(item, dict):
            problems.append(
                FieldProblem(
                    message=str(item.get("message", "invalid")),
                    field=item.get("key") or None,
                    source=str(item["source"]) if item.get("source") else None,
                )
            )
    return problems or None


def handle_app_error(request: Request[Any, Any, Any], exc: AppError) -> Response[Any]:
    extensions = dict(exc.extensions)
    raw_errors = extensions.pop("errors", None)
    errors = [FieldProblem(**e) for e in raw_errors] if raw_errors else None
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return problem_response(
        request,
        exc.status_code,
        type_=f"/problems/{exc.type_slug}",
        title=exc.title,
        detail=exc.detail,
        errors=errors,
        headers=headers,
        extensions=extensions,
    )


def handle_validation_error(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[Any]:
    return problem_response(
        request,
        400,
        type_="/problems/validation",
        title="Invalid request",
        detail=exc.detail if exc.detail != "Bad Request" else "The request is not valid.",
        errors=_field_problems(exc.extra),
    )


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    detail: str | None = exc.detail
    if not detail or detail == _phrase(exc.status_code):
        detail = None
    headers = dict(exc.headers or {})
    if exc.status_code == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    if exc.status_code == 429 and "RateLimit-Reset" in headers:
        # Litestar's rate limiter sends the draft's headers; RFC 9110's is the one clients know.
        headers.setdefault("Retry-After", headers["RateLimit-Reset"])
        detail = f"Too many attempts; retry in {headers['Retry-After']} seconds."
    return problem_response(
        request,
        exc.status_code,
        detail=detail,
        errors=_field_problems(exc.extra),
        headers=headers or None,
    )


def handle_internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # The trace stays in the server log; the client learns nothing about internals.
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(request, 500, detail="An unexpected error occurred.")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    AppError: handle_app_error,
    ValidationException: handle_validation_error,
    HTTPException: handle_http_exception,
    Exception: handle_internal_error,
}


def problem_spec(description: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=Problem,
        description=description,
        media_type=PROBLEM_MEDIA_TYPE,
        generate_examples=False,
    )


STANDARD_RESPONSES: dict[int, str] = {
    400: "The request is malformed or fails validation.",
    401: "No valid credentials.",
    403: "The credentials lack a permission.",
    404: "No such object in this agency.",
    409: "The request conflicts with the current state.",
    412: "The If-Match ETag is stale.",
    413: "The request body is too large.",
    415: "The file's type is not one this operation accepts.",
    422: "The request breaks a business rule.",
    428: "If-Match is required.",
    429: "Too many requests; retry after the Retry-After delay.",
    502: "The social network could not be reached or answered badly.",
    503: "A service the API depends on is unreachable.",
    500: "Unexpected server error.",
}
