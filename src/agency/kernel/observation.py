"""What every answered request leaves behind: its access log line (``kernel.logs``) and its
metrics (``kernel.metrics``), taken by one middleware: one clock, one look at the status.

The status is the one the caller saw: the answer's, or that of the HTTP error a middleware
raised (a rate limit, headers too large), which the app's outermost handler answers; 500 when
anything else escaped. The duration in the metrics runs to the answer's last byte; the access
line's to the end of the request's work (its session closed).
"""

from __future__ import annotations

import time

from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from agency.kernel.logs import log_access
from agency.kernel.metrics import RequestMetrics


class Observation:
    """The middleware, as the settings want it: the access log, the metrics, or both."""

    def __init__(self, access_log: bool, metrics: RequestMetrics | None) -> None:
        self.access_log = access_log
        self.metrics = metrics

    def __call__(self, app: ASGIApp) -> ASGIApp:
        access_log, metrics = self.access_log, self.metrics

        async def observe(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            started = time.perf_counter()
            method = str(scope.get("method", "-"))
            route = str(scope.get("path_template") or "(unrouted)")
            counted = metrics if metrics is not None and metrics.counts(scope) else None
            if counted is not None:
                counted.begin(method, route)
            status = 500  # unless an answer starts
            answered = 0.0

            async def noting(message: Message) -> None:
                nonlocal status, answered
                if message["type"] == "http.response.start":
                    status = message["status"]
                elif message["type"] == "http.response.body":
                    answered = time.perf_counter()
                await send(message)

            try:
                await app(scope, receive, noting)
            except HTTPException as exc:
                status = exc.status_code
                raise
            finally:
                if counted is not None:
                    ended = answered or time.perf_counter()
                    counted.end(method, route, status, ended - started)
                if access_log:
                    log_access(scope, method, route, status, started)

        return observe
