"""One id per request, echoed in ``X-Request-ID`` on every answer and readable by the logs.

A caller (a frontend, a proxy, a load balancer) may send its own ``X-Request-ID``; a sane one
(at most 128 characters of ``A-Z a-z 0-9 . _ : @ / + = -``) is kept, so the id a user reads
in their browser's network panel is the one in our logs and in the proxy's. Anything else is
replaced by a fresh random id: a header is never copied into logs or answers unchecked.

The id lives in the ASGI scope (:func:`request_id`) and, for code that has no scope at hand
(a logging filter, a job enqueued by the request), in the context variable
:data:`current_request_id`, set by :class:`RequestIdMiddleware` for the request's task.
The answer's header is added by :func:`echo_request_id`, a Litestar ``before_send`` hook, so
every answer carries it: a 404 for an unknown path, a CORS preflight, a 429 and a 500 too.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from agency.kernel.http import put_header

HEADER = "X-Request-ID"
_HEADER_KEY = HEADER.lower().encode()
_SCOPE_KEY = "agency.request_id"
_SANE = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")

current_request_id: ContextVar[str | None] = ContextVar("agency_request_id", default=None)


def _sent(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == _HEADER_KEY:
            text = value.decode("latin-1")
            return text if _SANE.fullmatch(text) else None
    return None


def request_id(scope: Scope) -> str:
    """The request's id: the caller's sane ``X-Request-ID``, else a new one (kept in scope)."""
    found = scope.get(_SCOPE_KEY)
    if not isinstance(found, str):
        found = _sent(scope) or uuid.uuid4().hex
        scope[_SCOPE_KEY] = found  # type: ignore[literal-required]
    return found


class RequestIdMiddleware(ASGIMiddleware):
    """Sets :data:`current_request_id` while the request is handled (the outermost of ours)."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        token = current_request_id.set(request_id(scope))
        try:
            await next_app(scope, receive, send)
        finally:
            current_request_id.reset(token)


async def echo_request_id(message: Message, scope: Scope) -> None:
    """A ``before_send`` hook: the id goes out in the answer's ``X-Request-ID`` header."""
    if message["type"] == "http.response.start" and scope["type"] == ScopeType.HTTP:
        put_header(message, _HEADER_KEY, request_id(scope))
