"""HTTP conventions shared by the controllers: ETags, If-Match, Location, deprecation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

import msgspec
from litestar.datastructures import ResponseHeader
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, HTTPResponseStartEvent, Message, Receive, Scope, Send

from agency.kernel.errors import PreconditionFailed, PreconditionRequired
from agency.kernel.i18n import Text


def put_header(message: Message, name: bytes, value: str) -> None:
    """Set header ``name`` (lower case) on an answer's start as Litestar's
    ``MutableScopeHeaders`` does (the first of that name replaced and any other removed, else
    appended), comparing the names as bytes: no header decoded, one scan."""
    headers = message["headers"]  # type: ignore[typeddict-item]
    if not isinstance(headers, list):
        headers = message["headers"] = list(headers)  # type: ignore[typeddict-unknown-key]
    found = [i for i, (key, _) in enumerate(headers) if key.lower() == name]
    pair = (name, value.encode("latin-1"))
    if not found:
        headers.append(pair)
        return
    for i in reversed(found[1:]):
        del headers[i]
    headers[found[0]] = pair


def deprecated(since: date, sunset: date, successor: str | None = None) -> dict[str, Any]:
    """Route options of a deprecated operation (docs/api.md, "Versioning and deprecation").

    ``@get("/old", **deprecated(date(2027, 1, 4), date(2027, 7, 5), "/v2/new"))``: the
    document marks it deprecated and lists the headers; every answer carries ``Deprecation``
    (RFC 9745), ``Sunset`` (RFC 8594) and, given a successor, ``Link: rel="successor-version"``.
    """
    if (sunset - since).days < 182:
        raise ValueError("a sunset comes at least six months after the deprecation")
    headers = [
        ResponseHeader(
            name="Deprecation",
            value=f"@{int(datetime.combine(since, time(), UTC).timestamp())}",
            description="When this operation was deprecated (RFC 9745).",
        ),
        ResponseHeader(
            name="Sunset",
            value=format_datetime(datetime.combine(sunset, time(), UTC), usegmt=True),
            description="After this date the operation may be removed (RFC 8594).",
        ),
    ]
    if successor is not None:
        headers.append(
            ResponseHeader(
                name="Link",
                value=f'<{successor}>; rel="successor-version"',
                description="What replaces this operation.",
            )
        )
    return {"deprecated": True, "response_headers": headers}


def etag(version: int) -> str:
    return f'"{version}"'


def check_if_match(if_match: str | None, version: int) -> None:
    """Refuse an edit made against a stale representation (RFC 9110 strong comparison)."""
    if if_match is None:
        raise PreconditionRequired(
            Text("Send If-Match with the ETag of the version you edited, to avoid lost updates.")
        )
    candidates = [tag.strip() for tag in if_match.split(",")]
    if "*" in candidates or etag(version) in candidates:
        return
    raise PreconditionFailed(
        Text("This object changed since you read it; fetch it again and reapply your change."),
        current_etag=etag(version),
    )


class CreatedLocation(ASGIMiddleware):
    """``Location`` on a 201: where the object just created is read.

    ``templates`` maps a creating handler's function to the path of the object it creates
    (``/brands/{brand_id}``), filled in by the app assembly once the routes exist; the last
    parameter is the ``id`` of the answer's body. Replayed answers (``Idempotency-Key``) get
    it too.
    """

    scopes = (ScopeType.HTTP,)

    def __init__(self, templates: Mapping[Callable[..., Any], str]) -> None:
        self.templates = templates

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        fn = getattr(scope.get("route_handler"), "fn", None)
        template = self.templates.get(fn) if fn is not None else None
        if template is None:
            await next_app(scope, receive, send)
            return
        held: list[HTTPResponseStartEvent] = []
        chunks: list[bytes] = []

        async def locate(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 201:
                held.append(message)
                return
            if not held or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            start, body = held.pop(), b"".join(chunks)
            location = _location(template, body)
            if location is not None:
                start = {**start, "headers": [*start.get("headers", ()), (b"location", location)]}
            await send(start)
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await next_app(scope, receive, locate)


def _location(template: str, body: bytes) -> bytes | None:
    try:
        found = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    if not isinstance(found, dict) or not isinstance(found.get("id"), str):
        return None
    head, _, _ = template.rpartition("{")
    return (head + quote(found["id"], safe="")).encode("latin-1")
