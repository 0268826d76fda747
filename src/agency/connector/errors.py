"""Typed connector errors: what went wrong, in words a community manager understands.

The publishing pipeline decides from the type alone: retry later (``RateLimited``,
``Transient``), reconnect the channel (``AuthExpired``), show the problems
(``InvalidContent``), give up (``Refused``), or reconcile before anything else
(``OutcomeUnknown``: the network may or may not have published).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agency.connector.types import Problem


class ConnectorError(Exception):
    """A network call failed; ``message`` is plain words fit for the API and the UI."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class AuthExpired(ConnectorError):
    """The token is expired or revoked: refresh once, then ask for a reconnect."""


class RateLimited(ConnectorError):
    """Too many calls; ``retry_after`` seconds from now it may work again (if known)."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, status: int | None = 429
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class InvalidContent(ConnectorError):
    """The network (or our own validation) refuses the content; every problem is listed."""

    def __init__(self, problems: Sequence[Problem], *, status: int | None = None) -> None:
        super().__init__("; ".join(p.message for p in problems) or "Invalid content", status=status)
        self.problems = list(problems)


class Refused(ConnectorError):
    """A definite refusal that retrying will not change (permissions, policy, not found)."""


class Transient(ConnectorError):
    """A failure worth retrying later: the network is down or answered 5xx."""


class OutcomeUnknown(ConnectorError):
    """The call may have taken effect (timeout, dropped connection mid-publish)."""


class NotSupported(ConnectorError):
    """The network has no such capability (e.g. hiding comments on X)."""
