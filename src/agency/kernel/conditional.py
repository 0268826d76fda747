"""Conditional reads: ``If-None-Match`` answered with ``304 Not Modified``.

Every successful read carries an ``ETag``: an editable object's own (``"<version>"``, the one
an edit repeats in ``If-Match``), or else a weak one computed from the answer's bytes
(``W/"<digest>"``: lists, channels, reports...). A read whose ``If-None-Match`` names the
ETag the answer would carry gets a 304 with no body, so a frontend polling a list or an object
downloads nothing while nothing changed. The handler still runs (the data is read to know);
what is saved is the transfer and the client's work.

An object's version ETag stands for everything its answer shows only when the answer is the
row and nothing else. A handler whose answer also shows other rows (a publication's variants,
a member's name from their account) says ``opt={"partial_etag": True}``: its version still
guards edits, but it never answers 304 (its answer is always sent whole).

Only answers sent in one piece are considered: a streamed download (media, an ``.eml``)
passes through untouched.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from typing import Any

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from agency.kernel.http import put_header

READS = frozenset({"GET", "HEAD"})
# What a 304 keeps of the 200 it stands for (RFC 9110 section 15.4.5).
_KEPT = frozenset(
    {b"etag", b"cache-control", b"content-location", b"date", b"expires", b"vary", b"x-request-id"}
)


def weak_etag(body: bytes) -> str:
    digest = hashlib.blake2b(body, digest_size=16).digest()
    return 'W/"' + base64.urlsafe_b64encode(digest).rstrip(b"=").decode() + '"'


def _opaque(tag: str) -> str:
    """RFC 9110 weak comparison: ``W/"x"`` and ``"x"`` are the same tag."""
    return tag.strip().removeprefix("W/")


def none_match(if_none_match: str, current: str) -> bool:
    """Whether ``If-None-Match`` names ``current`` (or is ``*``): the client has it."""
    tags = [t for t in if_none_match.split(",") if t.strip()]
    return any(t.strip() == "*" or _opaque(t) == _opaque(current) for t in tags)


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


class ConditionalReads(ASGIMiddleware):
    """ETags on every read answered in one piece, and 304 for ``If-None-Match``."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope.get("method") not in READS:
            await next_app(scope, receive, send)
            return
        handler = scope.get("route_handler")
        partial = bool(getattr(handler, "opt", {}).get("partial_etag"))
        if_none_match = _header(scope["headers"], b"if-none-match")
        held: list[Message] = []

        async def hold(message: Message) -> None:
            if message["type"] == "http.response.start":
                if message["status"] != 200:
                    await send(message)
                    return
                held.append(message)
                return
            if not held:
                await send(message)
                return
            start = held.pop()
            if message.get("more_body", False):  # streamed: not ours to look at
                await send(start)
                await send(message)
                return
            await self._answer(start, message, if_none_match, partial, send)

        await next_app(scope, receive, hold)

    @staticmethod
    async def _answer(
        start: Message, body: Message, if_none_match: str | None, partial: bool, send: Send
    ) -> None:
        given: Iterable[tuple[bytes, bytes]] = start.get("headers", ())  # type: ignore[assignment]
        current = _header(given, b"etag")
        if current is None:
            content: bytes = body.get("body", b"")  # type: ignore[assignment]
            current = weak_etag(content)
            put_header(start, b"etag", current)
            partial = False  # a digest of the bytes always stands for them
        if if_none_match is not None and not partial and none_match(if_none_match, current):
            sent: list[tuple[bytes, bytes]] = start.get("headers", [])  # type: ignore[assignment]
            kept = [(k, v) for k, v in sent if k.lower() in _KEPT]
            not_modified: dict[str, Any] = {
                "type": "http.response.start",
                "status": 304,
                "headers": kept,
            }
            await send(not_modified)  # type: ignore[arg-type]
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        await send(start)
        await send(body)
