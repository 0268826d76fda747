"""Logging set-up shared by the API and the worker processes.

httpx logs every request's URL at INFO, and a few networks take tokens in the query string
(Threads' token endpoints are documented as GETs with ``access_token``; Meta's debug calls
too). Two guards: the HTTP client loggers stay at WARNING, and whatever they do log goes
through :class:`SecretQueryFilter`, so turning them up to debug a connector never writes a
token to the log.
"""

from __future__ import annotations

import logging
import re

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
