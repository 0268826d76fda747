"""Logging set-up shared by the API and the worker processes.

Each process writes to standard error, as text for a person (the default) or, with
``AGENCY_LOGS__FORMAT=json``, one JSON object a line for a log collector: ``time``, ``level``,
``logger``, ``message``, the request's ``request_id`` (the ``X-Request-ID`` its answer
carries), the ``trace_id`` and ``span_id`` of the current OpenTelemetry span, what the line
adds (``extra``), and the exception if any. :func:`log_access` writes one line per answered
request (``agency.access``): method, route template (never the raw path, which may hold a
token), status and duration.

httpx logs every request's URL at INFO, and a few networks take tokens in the query string
(Threads' token endpoints are documented as GETs with ``access_token``; Meta's debug calls
too). Two guards: the HTTP client loggers stay at WARNING, and whatever they do log goes
through :class:`SecretQueryFilter`, so turning them up to debug a connector never writes a
token to the log.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any

from litestar.types import Scope
from opentelemetry import trace

from agency.config import LogSettings
from agency.kernel.request_id import current_request_id, request_id

# Query or form parameters that carry a secret, in any network's spelling.
SECRET_PARAMETERS = (
    "access_token",
    "refresh_token",
    "client_secret",
    "code",
    "code_verifier",
    "fb_exchange_token",
    "id_token",
    "input_token",
    "password",
    "token",
)
_SECRET_VALUE = re.compile(
    r"(?P<name>\b(?:" + "|".join(SECRET_PARAMETERS) + r"))=(?P<value>[^&\s\"'#]+)",
    re.IGNORECASE,
)
HTTP_LOGGERS = ("httpx", "httpcore")


def redact(text: str) -> str:
    """``text`` with the value of every secret ``name=value`` pair replaced."""
    return _SECRET_VALUE.sub(r"\g<name>=[redacted]", text)


class SecretQueryFilter(logging.Filter):
    """Rewrites a record's message so that no secret parameter's value survives."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def guard_http_logs() -> None:
    """Keep the HTTP client loggers quiet, and redacted if someone turns them up."""
    for name in HTTP_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.WARNING)
        if not any(isinstance(f, SecretQueryFilter) for f in logger.filters):
            logger.addFilter(SecretQueryFilter())


# What every LogRecord has: anything else on a record was passed as ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
    "taskName",
}
# Probes and scrapes come every few seconds: their access lines are DEBUG, not INFO.
QUIET_ROUTES = frozenset({"/health", "/ready", "/metrics"})
access_logger = logging.getLogger("agency.access")


class RequestContext(logging.Filter):
    """Puts the current request's id on every record (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = current_request_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request = getattr(record, "request_id", None)
        if request and request != "-":
            line["request_id"] = request
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            line["trace_id"] = format(span.trace_id, "032x")
            line["span_id"] = format(span.span_id, "016x")
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


def configure_logging(settings: LogSettings) -> None:
    """One handler on the root logger, as the settings say (again: replaced, not added)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if settings.format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    handler.addFilter(RequestContext())
    handler.set_name("agency")
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if h.get_name() != "agency"] + [handler]
    root.setLevel(settings.level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "dramatiq"):
        logging.getLogger(name).handlers.clear()  # theirs would print a second, other line
        logging.getLogger(name).propagate = True
    guard_http_logs()


def log_access(scope: Scope, method: str, route: str, status: int, started: float) -> None:
    """The access line of an answered request: ``GET /brands/{brand_id} 200 12ms``."""
    duration = round((time.perf_counter() - started) * 1000, 1)
    access_logger.log(
        logging.DEBUG if route in QUIET_ROUTES else logging.INFO,
        "%s %s %s %sms",
        method,
        route,
        status,
        duration,
        extra={
            "request_id": request_id(scope),
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": duration,
        },
    )
