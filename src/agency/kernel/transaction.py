"""One database session per request, committed after a 2xx/3xx and rolled back otherwise.

The commit happens when the response starts to go out, and before the client sees any
byte of it: if the commit fails the client gets a 500 problem, never a success for data
that was not stored. Jobs buffered during the request are sent only after that commit, and
a successful answer to a request with an ``Idempotency-Key`` is stored in the same
transaction as the data it created.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncSession

from agency.kernel.db import RequestSession
from agency.kernel.jobs import JobBuffer, collecting

if TYPE_CHECKING:
    from agency.kernel.idempotency import PendingIdempotency
    from agency.kernel.runtime import Runtime

logger = logging.getLogger("agency.transaction")

CONTEXT_KEY = "agency.request_context"


@dataclass
class RequestContext:
    runtime: Runtime
    jobs: JobBuffer = field(default_factory=JobBuffer)
    session: AsyncSession | None = None
    idempotency: PendingIdempotency | None = None

    def get_session(self) -> AsyncSession:
        if self.session is None:
            self.session = self.runtime.request_session()
        return self.session

    async def finish(self, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> bool:
        """Commit (2xx/3xx) or roll back. False when the commit itself failed."""
        if self.session is None:  # nothing to commit: the outcome alone decides
            if status >= 400:
                self.jobs.discard()
            else:
                self.jobs.flush(self.runtime.broker)
            return True
        if status >= 400:
            await self.session.rollback()
            self.jobs.discard()
            return True
        try:
            if self.idempotency is not None and 200 <= status < 300:
                await self.idempotency.remember(
                    self.session, self.runtime.secrets, status, body, headers
                )
            if isinstance(self.session, RequestSession) and await self.session.commit_on_driver():
                self.session = None  # committed and closed
            else:
                await self.session.commit()
        except Exception:
            logger.exception("commit failed")
            if self.session is not None:
                await self.session.rollback()
            self.jobs.discard()
            return False
        self.jobs.flush(self.runtime.broker)
        return True

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None


def request_context(scope: Scope) -> RequestContext:
    ctx: RequestContext = scope["state"][CONTEXT_KEY]
    return ctx


def transaction_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        ctx = RequestContext(runtime=scope["litestar_app"].state.runtime)
        scope["state"][CONTEXT_KEY] = ctx
        held: dict[str, Any] = {}

        async def send_after_commit(message: Message) -> None:
            if message["type"] == "http.response.start":
                held["start"] = message
                return
            if message["type"] == "http.response.body" and "start" in held:
                start = held.pop("start")
                body = message.get("body", b"")
                if not await ctx.finish(start["status"], body, start.get("headers", [])):
                    start, message = _commit_failed_response(scope)
                await send(start)
            await send(message)

        try:
            with collecting(ctx.jobs):
                await app(scope, receive, send_after_commit)
        finally:
            if "start" in held:  # a response with no body message: still settle it
                await ctx.finish(held["start"]["status"], b"", [])
                await send(held.pop("start"))
            await ctx.close()

    return middleware


def _commit_failed_response(scope: Scope) -> tuple[Message, Message]:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "Internal Server Error",
            "status": 500,
            "detail": "The change could not be saved.",
            "instance": scope.get("path"),
        }
    ).encode()
    start: Message = {
        "type": "http.response.start",
        "status": 500,
        "headers": [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    return start, {"type": "http.response.body", "body": body, "more_body": False}
