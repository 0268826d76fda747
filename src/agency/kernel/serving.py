"""Process settings for a long-running API server, and the limits it reads requests within."""

from __future__ import annotations

import json
from typing import Any

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from agency.config import get_settings
from agency.kernel.errors import AppError
from agency.kernel.i18n import N_, Text

HEAD_MARGIN = 8192


class HeadersTooLarge(AppError):
    status_code = 431
    type_slug = "headers-too-large"
    title = N_("Request header fields too large")
    explanation = N_(
        "The request's header fields together are larger than the server accepts "
        "(AGENCY_MAX_HEADER_BYTES). Usually a cookie or a token that grew: clear it."
    )


def header_bytes(headers: list[tuple[bytes, bytes]]) -> int:
    return sum(len(name) + len(value) + 4 for name, value in headers)  # ": " and CRLF


class HeaderSizeLimit(ASGIMiddleware):
    """431 before anything reads a header (credentials included) when they are too large.

    Whatever server runs the app; under ``agency serve`` the protocol below already refused
    such a request while reading it, so this is the second wall.
    """

    scopes = (ScopeType.HTTP,)

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        size = header_bytes(list(scope["headers"]))
        if size > self.max_bytes:
            raise HeadersTooLarge(
                Text(
                    "The request's header fields total {size} bytes; at most {max} are accepted.",
                    size=size,
                    max=self.max_bytes,
                ),
                max_bytes=self.max_bytes,
            )
        await next_app(scope, receive, send)


class HeadLimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering 431 once a request's head outgrows the limit.

    httptools buffers a header of any length before the app is called (uvicorn's
    ``h11_max_incomplete_event_size`` bounds only the slower h11 protocol, with a 400), so a
    1 MiB ``Authorization`` header was read whole. Bytes are counted while the head is being
    received; the parser never holds more than the limit and one read of the socket.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The request line and a margin come on top of the header fields the app checks.
        self.max_head_bytes = get_settings().server.max_header_bytes + HEAD_MARGIN
        self.head_bytes = 0
        self.in_head = True

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.in_head = True

    def on_headers_complete(self) -> None:
        self.in_head = False
        self.head_bytes = 0
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        counted = self.in_head
        super().data_received(data)
        if counted and self.in_head:
            self.head_bytes += len(data)
            if self.head_bytes > self.max_head_bytes and not self.transport.is_closing():
                self.send_431_response()

    def send_431_response(self) -> None:
        body = json.dumps(
            {
                "type": "/problems/headers-too-large",
                "title": HeadersTooLarge.title,
                "status": 431,
                "detail": f"The request's head is larger than {self.max_head_bytes} bytes.",
            }
        ).encode()
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/problem+json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + body
        )
        self.transport.close()


def uvicorn_options() -> dict[str, Any]:
    """What every server process passes to uvicorn besides the app, host and port."""
    # No log_config: uvicorn's lines go through the process's handler (kernel/logs.py), as
    # text or JSON like the rest; the access log is ours (kernel/observation.py), with the
    # request id.
    return {
        "http": HeadLimitedHttpToolsProtocol,
        "access_log": False,
        "log_level": "info",
        "log_config": None,
    }
