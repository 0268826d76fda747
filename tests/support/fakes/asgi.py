"""The small ASGI toolkit the fakes share: a parsed request, a response, a recording app."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

import httpx

Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class Request:
    method: str
    path: str  # percent-decoded
    raw_path: str  # as sent, e.g. /rest/posts/urn%3Ali%3Ashare%3A1
    query: list[tuple[str, str]]
    raw_query: str  # as sent
    headers: dict[str, str]  # lower-case names
    body: bytes
    host: str

    @property
    def origin(self) -> str:
        return f"http://{self.host}"

    def params(self, name: str) -> list[str]:
        return [value for key, value in self.query if key == name]

    def param(self, name: str) -> str | None:
        values = self.params(name)
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))

    @property
    def bearer(self) -> str | None:
        value = self.headers.get("authorization", "")
        return value[7:] if value.startswith("Bearer ") else None


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        status, json.dumps(body).encode(), {"content-type": "application/json", **(headers or {})}
    )


class FakeServer:
    """An ASGI app answering with ``handle``; every request is kept in ``requests``.

    ``fail_with`` makes every call answer that HTTP status (the contract's failure switch).
    """

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.fail_with: int | None = None

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def failure(self, request: Request, status: int) -> Response:
        return json_response(status, {"error": f"HTTP {status}"})

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self), **kwargs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan: nothing to set up
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        raw_query = scope["query_string"].decode()
        raw_path = scope.get("raw_path") or scope["path"].encode()
        request = Request(
            method=scope["method"],
            path=unquote(raw_path.decode()),
            raw_path=raw_path.decode(),
            query=parse_qsl(raw_query, keep_blank_values=True),
            raw_query=raw_query,
            headers=headers,
            body=body,
            host=headers.get("host", "fake.test"),
        )
        self.requests.append(request)
        if self.fail_with is not None:
            response = self.failure(request, self.fail_with)
        else:
            response = self.handle(request)
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [(k.encode(), v.encode()) for k, v in response.headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": response.body})
