"""RFC 9457 problem details for every error the API can answer, 404/405/500 included."""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import BodyKwarg

from agency.kernel.decoding import MalformedBody
from agency.kernel.errors import AppError, FieldError, invalid_fields
from agency.kernel.i18n import N_, Text, Translatable, choose, render, translate
from agency.kernel.tenancy import SUBJECT_STATE, Subject
from agency.kernel.validation import missing_parameter, parameter_errors

logger = logging.getLogger("agency.problems")

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_PATH = "/problems"
_LOCALE_KEY = "agency.locale"
_BRACKETS = re.compile(r"\[(\d+)\]")


def problem_type(slug: str) -> str:
    """A problem's ``type``: a path of this API whose page explains it (relative, so that it
    is the same string on every deployment and a client can compare it)."""
    return f"{PROBLEM_PATH}/{slug}"


class FieldProblem(msgspec.Struct, omit_defaults=True):
    """One invalid field: where it is, which rule it breaks (``code``, stable), the rule's
    figures (``params``) and a message in the caller's language."""

    message: str
    code: str
    # The field's name, or its dotted path in a body ("variants.0.text").
    field: str | None = None
    # RFC 6901 JSON pointer to the field in the request body ("/variants/0/text").
    pointer: str | None = None
    # body | query | path | header | cookie
    source: str | None = None
    params: dict[str, Any] | None = None


class Problem(msgspec.Struct, omit_defaults=True):
    """An RFC 9457 problem; ``errors`` lists field-level problems of invalid input."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldProblem] | None = None


# Titles of problems that are plain HTTP errors (``about:blank``): the status' phrase.
HTTP_TITLES = {
    400: N_("Bad Request"),
    401: N_("Unauthorized"),
    403: N_("Forbidden"),
    404: N_("Not Found"),
    405: N_("Method Not Allowed"),
    406: N_("Not Acceptable"),
    413: N_("Request Entity Too Large"),
    415: N_("Unsupported Media Type"),
    429: N_("Too Many Requests"),
    431: N_("Request Header Fields Too Large"),
    500: N_("Internal Server Error"),
    503: N_("Service Unavailable"),
}


def request_locale(request: Request[Any, Any, Any]) -> str:
    """The language of this request's answers (:func:`agency.kernel.i18n.choose`)."""
    scope = request.scope
    found = scope.get(_LOCALE_KEY)
    if isinstance(found, str):
        return found
    state = scope.get("state") or {}
    subject = state.get(SUBJECT_STATE)
    chosen = subject.locale if isinstance(subject, Subject) else None
    given = subject.given_locale if isinstance(subject, Subject) else None
    locale = choose(request.headers.get("accept-language"), chosen, given)
    if isinstance(subject, Subject):
        scope[_LOCALE_KEY] = locale  # type: ignore[literal-required]
    return locale


def pointer_of(field: str) -> str:
    """A body field's dotted (or bracketed) path as an RFC 6901 JSON pointer."""
    parts = _BRACKETS.sub(r".\1", field).split(".")
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts if p)


def _body_media_type(request: Request[Any, Any, Any]) -> str | None:
    """The media type of a form or multipart body the route reads, if it reads one."""
    try:
        field = request.route_handler.parsed_fn_signature.parameters.get("data")
    except (KeyError, AttributeError):
        return None
    kwarg = field.kwarg_definition if field is not None else None
    if isinstance(kwarg, BodyKwarg) and kwarg.media_type != RequestEncodingType.JSON:
        return str(kwarg.media_type)
    return None


def _reads_body(request: Request[Any, Any, Any]) -> bool:
    try:
        handler = request.route_handler
    except (KeyError, AttributeError):
        return False
    reads = "data" in handler.parsed_fn_signature.parameters
    return reads or bool(handler.opt.get("streamed_body"))


def field_problems(
    request: Request[Any, Any, Any], errors: list[FieldError], locale: str
) -> list[FieldProblem] | None:
    if not errors:
        return None
    default_source = "body" if _reads_body(request) else None
    problems = []
    for error in errors:
        source = error.source or default_source
        pointer = pointer_of(error.field) if error.field and source == "body" else None
        problems.append(
            FieldProblem(
                message=render(error.message, locale),
                code=error.code,
                field=error.field,
                pointer=pointer,
                source=source,
                params=error.params or None,
            )
        )
    return problems


def problem_response(
    request: Request[Any, Any, Any],
    status: int,
    *,
    type_: str = "about:blank",
    title: str | None = None,
    detail: Translatable | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> Response[Any]:
    """The problem document, its messages in the request's language (``title``: an English
    message marked with ``N_``, translated here)."""
    locale = request_locale(request)
    body: dict[str, Any] = msgspec.to_builtins(
        Problem(
            type=type_,
            title=translate(locale, title or HTTP_TITLES.get(status) or _phrase(status)),
            status=status,
            detail=render(detail, locale) if detail is not None else None,
            instance=request.url.path,
            errors=field_problems(request, errors or [], locale),
        )
    )
    for key, value in (extensions or {}).items():
        if key not in body:
            body[key] = render(value, locale) if isinstance(value, Text) else value
    headers = {**(headers or {}), "Content-Language": locale, "Vary": "Accept-Language"}
    return Response(
        content=body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def handle_app_error(request: Request[Any, Any, Any], exc: AppError) -> Response[Any]:
    extensions = dict(exc.extensions)
    errors = [FieldError.of(e) for e in extensions.pop("errors", None) or []]
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return problem_response(
        request,
        exc.status_code,
        type_=problem_type(exc.type_slug),
        title=exc.title,
        detail=exc.detail,
        errors=errors,
        headers=headers,
        extensions=extensions,
    )


def handle_validation_error(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[Any]:
    """Litestar's refusal of a parameter (or of a body Litestar decoded itself): a 422 naming
    every field, like any other invalid input; with no field to name, a malformed request."""
    expected = _body_media_type(request)
    if expected is not None and request.content_type[0] != expected:
        # A form route sent JSON (or the reverse): there are no fields to name in it.
        return handle_app_error(
            request,
            MalformedBody(Text("The body must be sent as {media_type}.", media_type=expected)),
        )
    errors = parameter_errors(exc.extra)
    missing = missing_parameter(exc.detail or "")
    if missing is not None:
        errors.append(missing)
    if not errors:
        return problem_response(
            request,
            400,
            type_=problem_type(AppError.type_slug),
            title=AppError.title,
            detail=Text("The request is malformed: {reason}", reason=exc.detail),
        )
    return handle_app_error(request, invalid_fields(errors))


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    detail: Translatable | None = exc.detail
    if not detail or detail == _phrase(exc.status_code):
        detail = None
    headers = dict(exc.headers or {})
    if exc.status_code == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    if exc.status_code == 429 and "RateLimit-Reset" in headers:
        # Litestar's rate limiter sends the draft's headers; RFC 9110's is the one clients know.
        headers.setdefault("Retry-After", headers["RateLimit-Reset"])
        seconds = headers["Retry-After"]
        detail = Text("Too many requests; retry in {seconds} seconds.", seconds=seconds)
    return problem_response(
        request,
        exc.status_code,
        detail=detail,
        errors=parameter_errors(exc.extra),
        headers=headers or None,
    )


def handle_internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # The trace stays in the server log; the client learns nothing about internals.
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(request, 500, detail=Text("An unexpected error occurred."))


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
    400: "The request is malformed.",
    401: "No valid credentials.",
    403: "The credentials lack a permission.",
    404: "No such object in this agency.",
    409: "The request conflicts with the current state.",
    412: "The If-Match ETag is stale.",
    413: "The request body is too large.",
    415: "The file's type is not one this operation accepts.",
    422: "A field is not valid (every one is listed in errors), or the request breaks a rule.",
    428: "If-Match is required.",
    429: "Too many requests; retry after the Retry-After delay.",
    502: "The social network could not be reached or answered badly.",
    503: "A service the API depends on is unreachable.",
    500: "Unexpected server error.",
}
