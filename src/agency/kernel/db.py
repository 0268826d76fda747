"""Database engine, sessions and the declarative base shared by every model."""

from __future__ import annotations

import errno
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import msgspec
import uuid_utils
from sqlalchemy import (
    DateTime,
    Dialect,
    MetaData,
    String,
    TextClause,
    TypeDecorator,
    Uuid,
    event,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, SessionTransaction, mapped_column
from sqlalchemy.pool import NullPool

from agency.config import DatabaseSettings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> uuid.UUID:
    """A time-ordered UUID (version 7): indexes stay append-mostly."""
    return uuid.UUID(bytes=uuid_utils.uuid7().bytes)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite would forget the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: timestamps must carry a time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Choice(TypeDecorator[str]):
    """A text column holding one of an enumeration's values (stored as ``VARCHAR``).

    A write of anything else fails at once, naming the column's choices: the answers read
    such columns back as the enumeration, so a value outside it would only surface later,
    as an error on every read of that row."""

    impl = String
    cache_ok = True

    def __init__(self, choices: type[StrEnum], length: int = 20) -> None:
        super().__init__(length)
        self.choices = choices
        self._values = frozenset(str(c) for c in choices)

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is not None and value not in self._values:
            raise ValueError(
                f"{value!r} is not a {self.choices.__name__}: one of {sorted(self._values)}"
            )
        return None if value is None else str(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), uuid.UUID: Uuid()}


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def _json_loads(text: str) -> Any:
    """``json.loads``, several times faster on the JSON columns of every row read.

    msgspec reads a document the way json.loads does, or refuses it (non-standard ``NaN`` and
    ``Infinity``, numbers beyond a float's range, lone surrogates): json.loads then reads it.
    """
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return json.loads(text)


def json_values(texts: Sequence[str]) -> list[Any]:
    """JSON documents as stored (one valid document each, as a JSON column keeps them),
    decoded in one call: joined as the items of one array. Any that msgspec refuses, or an
    array that does not come out with one item each, and they are decoded one by one, as the
    engine's JSON columns are."""
    try:
        values = msgspec.json.decode("[" + ",".join(texts) + "]")
    except (msgspec.DecodeError, TypeError):
        values = None
    if not isinstance(values, list) or len(values) != len(texts):
        return [_json_loads(text) for text in texts]
    return values


def create_engine(settings: DatabaseSettings, url: str | None = None) -> AsyncEngine:
    url = url or settings.url
    if url.startswith("sqlite"):
        require_sqlite_directory(url)
    kwargs: dict[str, Any] = {"echo": settings.echo, "json_deserializer": _json_loads}
    if url.startswith("sqlite"):
        # One file, shared by api, scheduler and worker threads of the embedded process.
        kwargs["connect_args"] = {"timeout": 30}
        kwargs["poolclass"] = NullPool
    else:
        kwargs["pool_size"] = settings.pool_size
        kwargs["max_overflow"] = settings.max_overflow
        kwargs["pool_pre_ping"] = settings.pool_pre_ping
        kwargs["pool_recycle"] = settings.pool_recycle_seconds
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def require_sqlite_directory(url: str) -> None:
    """Refuse, before connecting, a SQLite file whose directory is missing: the driver would
    only say "unable to open database file", from a thread that outlives the event loop."""
    path = make_url(url).database
    if path and path != ":memory:" and not Path(path).parent.is_dir():
        raise FileNotFoundError(
            errno.ENOENT, "the directory of the SQLite database does not exist", path
        )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class RequestSession(AsyncSession):
    """A request's session, whose first statement survives a connection the database dropped.

    The pool does not ping a connection before lending it (``pool_pre_ping`` is off: a round
    trip on every checkout), so after a database restart the first statement on each pooled
    connection finds it dead. SQLAlchemy then marks every older pooled connection stale; the
    session rolls back and runs that statement once more, on a fresh connection. Only the
    first statement of a transaction, and only when nothing waits to be flushed: nothing was
    written, so running it again changes nothing that the first try did. Jobs and the
    scheduler keep plain sessions: they stop at an outage and their work is found again.
    """

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        if self.in_transaction() or self.new or self.dirty or self.deleted:
            return await super().execute(*args, **kwargs)
        try:
            return await super().execute(*args, **kwargs)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            await self.rollback()
            return await super().execute(*args, **kwargs)

    # The transaction ``begin_with`` began on the driver, and the driver's connection adapter:
    # good while that transaction is the session's (see ``on_driver``).
    _begun: tuple[SessionTransaction, Any] | None = None

    async def begin_with(self, statement: TextClause, params: Mapping[str, Any]) -> Any:
        """Begin the transaction with ``statement`` run on the driver's connection: its first
        value (PostgreSQL only).

        The transaction is begun by SQLAlchemy's own adapter, so that the session commits or
        rolls it back as any other; only the statement skips SQLAlchemy's execution and
        result (a fifth of a small request's CPU). If it fails (a connection the database
        dropped, say), the connection is let go and the statement runs through
        :meth:`execute`, which runs it again on a fresh connection when that was the cause,
        or raises the statement's own error. In a transaction already begun it runs there.
        """
        compiled = _ON_DRIVER.get(statement)
        if compiled is None:
            done = statement.compile(dialect=self.get_bind().dialect)
            compiled = _ON_DRIVER[statement] = (done.string, tuple(done.positiontup or ()))
        sql, order = compiled
        arguments = [params[name] for name in order]
        connection = await self.connection()
        adapter: Any = (await connection.get_raw_connection()).dbapi_connection
        if adapter._transaction is not None:
            return await adapter.driver_connection.fetchval(sql, *arguments)
        try:
            await adapter._start_transaction()
            found = await adapter.driver_connection.fetchval(sql, *arguments)
        except Exception:
            await connection.invalidate()
            await self.rollback()
        else:
            self._begun = (self.sync_session.get_transaction(), adapter)  # type: ignore[assignment]
            return found
        return (await self.execute(statement, params)).scalar()

    def on_driver(self) -> Any:
        """The driver's connection adapter of the transaction :meth:`begin_with` began, while
        that transaction is still the session's and open; else None.

        Checked against the session's transaction each time: once it ends, the connection goes
        back to the pool and another request's session may begin its own transaction on it.
        """
        if self._begun is None:
            return None
        transaction, adapter = self._begun
        if (
            self.sync_session.get_transaction() is not transaction
            or not transaction.is_active
            or adapter._transaction is None
        ):
            return None
        return adapter

    async def commit_on_driver(self) -> bool:
        """Commit the transaction :meth:`begin_with` began with one COMMIT on the driver, when
        the session has nothing to flush and no savepoint open, then let its connection go;
        False (nothing done) otherwise, for :meth:`commit`.

        What the ORM flushed earlier in the transaction is committed with it: the statements
        ran in it. SQLAlchemy's own commit would have sent the same COMMIT; its bookkeeping is
        for objects the session keeps, which closing it lets go anyway. A failed COMMIT lets
        the connection go too (invalidated: its state is unknown) and raises.
        """
        adapter = self.on_driver()
        if (
            adapter is None
            or self.new
            or self.dirty
            or self.deleted
            or self.sync_session.get_nested_transaction() is not None
        ):
            return False
        try:
            await adapter._call_and_discard(adapter._transaction.commit)
        except Exception:
            await self.invalidate()
            raise
        finally:
            self._begun = None
        await self.close()
        return True


# Statements run by ``RequestSession.begin_with``, compiled once: SQL and parameter order.
_ON_DRIVER: dict[TextClause, tuple[str, tuple[str, ...]]] = {}

SESSION_OPTIONS: dict[str, Any] = {"expire_on_commit": False, "autoflush": True}


def create_session_maker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, **SESSION_OPTIONS)


__all__ = [
    "Base",
    "Engine",
    "IdMixin",
    "TimestampMixin",
    "create_engine",
    "create_session_maker",
    "new_id",
    "utcnow",
]
