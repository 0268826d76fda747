"""What went wrong, in one line an operator can act on.

A process that cannot reach its database prints, by default, a chain of three tracebacks
ending in ``ConnectionRefusedError: [Errno 111] Connect call failed``. The facts an operator
needs are fewer: which engine (the database or Redis), at which address (never with its
password), and what to do. :func:`explain` finds them in an exception chain; the CLI prints
its answer instead of the traceback, and the workers log it instead of a stack.
"""

from __future__ import annotations

import errno
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import redis.exceptions
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from agency.config import BadSetting
from agency.kernel.secrets import SecretError

DATABASE_MODULES = ("asyncpg", "sqlalchemy", "aiosqlite")
DOCS = "docs/deployment.md"
# SQLSTATE codes an operator meets when setting up, and what to do about each.
SQLSTATE_HINTS = {
    "28P01": "the password is wrong",
    "28000": "the role must exist, have LOGIN, and be allowed by pg_hba.conf",
    "3D000": "that database does not exist: create it, owned by the owner role",
    "42501": (
        "the role lacks a privilege: the database must be owned by the role that migrates "
        f"(PostgreSQL 15 lets no one else create in schema public), see {DOCS}"
    ),
    "42P01": "a table is missing: run `agency db upgrade`",
    "57P01": "the server is shutting down (a restart?)",
    "57P03": "the server is starting up or in recovery",
    "53300": "too many connections: lower AGENCY_DATABASE_POOL_SIZE or raise max_connections",
}


def safe_url(url: str | None) -> str:
    """``url`` without its password (or a placeholder when it does not parse)."""
    if not url:
        return "(not set)"
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a URL)"


def chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then what caused it, then what it happened while handling, once each."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _raised_in(exc: BaseException, modules: tuple[str, ...]) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        name = str(tb.tb_frame.f_globals.get("__name__", ""))
        if name.split(".", 1)[0] in modules:
            return True
        tb = tb.tb_next
    return False


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(exc, ConnectionRefusedError) or exc.errno == errno.ECONNREFUSED:
        return "connection refused (is it running, on that port?)"
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return exc.strerror or str(exc) or type(exc).__name__


def explain(
    exc: BaseException, database_url: str | None = None, redis_url: str | None = None
) -> str | None:
    """One line saying what is wrong, or None when ``exc`` is nothing an operator can fix.

    ``database_url`` and ``redis_url`` are the addresses the failing code used, named in the
    line without their passwords.
    """
    database = f"the database at {safe_url(database_url)}"
    for cause in chain(exc):
        if isinstance(cause, BadSetting):
            return f"bad setting {cause}"
        if isinstance(cause, SecretError):
            return f"bad setting AGENCY_ENCRYPTION_KEYS: {cause}"
        if isinstance(cause, _LOST_CONNECTION) or (
            isinstance(cause, DBAPIError) and cause.connection_invalidated
        ):
            return f"lost the connection to {database} (it stopped or restarted)"
        if isinstance(cause, asyncpg.PostgresError):
            state = getattr(cause, "sqlstate", None) or ""
            hint = SQLSTATE_HINTS.get(state)
            message = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
            return f"{database} answered {message!r}" + (f": {hint}" if hint else "")
        if isinstance(cause, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
            return f"cannot reach Redis at {safe_url(redis_url)}: {str(cause).rstrip('.')}"
        if isinstance(cause, redis.exceptions.AuthenticationError):
            return f"Redis at {safe_url(redis_url)} refused the password"
        if isinstance(cause, sqlite3.OperationalError) and "unable to open" in str(cause):
            return _sqlite_file(database_url)
        if isinstance(cause, FileNotFoundError | NotADirectoryError) and cause.filename:
            if cause.strerror and "SQLite" in cause.strerror:
                return _sqlite_file(database_url or f"sqlite:///{cause.filename}")
            return f"no such file or directory: {cause.filename}"
        if isinstance(cause, PermissionError) and cause.filename:
            return f"permission denied: {cause.filename}"
        if isinstance(cause, OSError) and _raised_in(cause, DATABASE_MODULES):
            return f"cannot reach {database}: {_os_reason(cause)}"
    return None


# asyncpg's words for a connection that is gone or cannot be had now.
_LOST_CONNECTION = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.InterfaceError,
)


def database_lost(exc: BaseException) -> bool:
    """Whether ``exc`` says the database went away (or cannot be reached), not that a
    statement was wrong."""
    for cause in chain(exc):
        if isinstance(cause, DBAPIError) and cause.connection_invalidated:
            return True
        if isinstance(cause, _LOST_CONNECTION):
            return True
        if isinstance(cause, OSError) and _raised_in(cause, DATABASE_MODULES):
            return True
    return False


def broker_lost(exc: BaseException) -> bool:
    """Whether ``exc`` says Redis went away."""
    return any(
        isinstance(cause, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError)
        for cause in chain(exc)
    )


def _sqlite_file(url: str | None) -> str:
    path = Path(make_url(url).database or "") if url else Path()
    if not path.parent.is_dir():
        return (
            f"cannot open the SQLite database {path}: the directory {path.parent} does not "
            "exist (`agency db upgrade` creates it)"
        )
    return f"cannot open the SQLite database {path}: permission denied or not a database file"
