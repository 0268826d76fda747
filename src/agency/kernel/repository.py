"""The base every tenant-scoped repository builds on: all SQL lives in repositories."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import Boolean, ColumnElement, Select, bindparam, literal_column
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from agency.kernel.db import Base, RequestSession
from agency.kernel.errors import Conflict, NotFound
from agency.kernel.i18n import Text, Translatable
from agency.kernel.pagination import PageRequest, encode_cursor
from agency.kernel.tenancy import Subject, TenantMixin, scoped_delete, scoped_select

M = TypeVar("M", bound=Any)
R = TypeVar("R", bound=Any)


class TenantRepository(Generic[M]):
    model: ClassVar[type[Any]]
    noun: ClassVar[str] = "object"

    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.session = session
        self.subject = subject

    def select(self) -> Select[M]:
        return scoped_select(self.model, self.subject)

    async def get(self, object_id: uuid.UUID) -> M:
        found = await self.find(object_id)
        if found is None:
            raise self.not_found(object_id)
        return found

    def not_found(self, object_id: object) -> NotFound:
        """Another agency's object is answered exactly like a missing one."""
        return NotFound(
            Text("No {noun} with id {id} in this agency.", noun=Text(self.noun), id=object_id)
        )

    async def find(self, object_id: uuid.UUID) -> M | None:
        result = await self.session.execute(self.select().where(self.model.id == object_id))
        found: M | None = result.scalar_one_or_none()
        return found

    async def page(
        self, page: PageRequest, stmt: Select[M] | None = None
    ) -> tuple[Sequence[M], str | None]:
        result = await self.session.execute(self._paged(page, stmt))
        return self._cut(page, result.scalars().all())

    def _paged(self, page: PageRequest, stmt: Select[M] | None) -> Select[M]:
        stmt = self.select() if stmt is None else stmt
        if page.after_id is not None:
            stmt = stmt.where(self.model.id < page.after_id)
        return stmt.order_by(self.model.id.desc()).limit(page.limit + 1)

    @staticmethod
    def _cut(page: PageRequest, rows: Sequence[R]) -> tuple[Sequence[R], str | None]:
        """One row more than the page was read: it says whether another page follows."""
        if len(rows) > page.limit:
            rows = rows[: page.limit]
            return rows, encode_cursor(rows[-1].id)
        return rows, None

    async def add(self, obj: M, conflict: Translatable | None = None) -> M:
        if isinstance(obj, TenantMixin):
            obj.agency_id = self.subject.agency_id
        try:
            async with self.session.begin_nested():
                self.session.add(obj)
        except IntegrityError as exc:
            raise Conflict(
                conflict or Text("This {noun} already exists.", noun=Text(self.noun))
            ) from exc
        return obj

    async def flush(self, conflict: Translatable | None = None) -> None:
        try:
            async with self.session.begin_nested():
                await self.session.flush()
        except IntegrityError as exc:
            raise Conflict(
                conflict or Text("This {noun} conflicts with another.", noun=Text(self.noun))
            ) from exc

    async def delete(self, object_id: uuid.UUID) -> None:
        result = await self.session.execute(
            scoped_delete(self.model, self.subject).where(self.model.id == object_id)
        )
        if getattr(result, "rowcount", 0) == 0:
            raise self.not_found(object_id)


def rows_stamp(table: str) -> ColumnElement[str]:
    """An aggregate over rows of ``table`` that changes whenever one of them does: their
    count and the sum of their row versions (PostgreSQL's ``xmin``, the transaction that
    wrote each), as one text. An insert or an update writes a row version of its own, a
    delete lowers the count. The sum, not the newest version: a transaction that began
    before another but commits after it brings in rows older than the newest already seen.
    """
    return literal_column(
        f"count(*)::text || ':' || coalesce(sum({table}.xmin::text::bigint), 0)::text"
    )


class HotRead:
    """A read a busy route runs on every request, built and compiled once per shape.

    ``build(shape)`` returns the statement for one shape (which optional filters a request
    gives, say), made with :func:`~agency.kernel.tenancy.scoped_template`. On PostgreSQL it
    runs on the driver's connection of the request's session, inside the transaction the
    session began (where the agency is bound for RLS): rows come back as the driver's records,
    read by position, with no SQLAlchemy result or ORM object built around them. Off
    PostgreSQL, and before the session has sent anything, it runs through the session.
    """

    def __init__(self, build: Callable[[Hashable], Select[Any]]) -> None:
        self._build = build
        self._statements: dict[Hashable, Select[Any]] = {}
        self._compiled: dict[Hashable, tuple[str, Callable[[Mapping[str, Any]], list[Any]]]] = {}

    def statement(self, shape: Hashable) -> Select[Any]:
        stmt = self._statements.get(shape)
        if stmt is None:
            stmt = self._statements[shape] = self._build(shape)
        return stmt

    async def rows(
        self, session: AsyncSession, shape: Hashable, params: Mapping[str, Any]
    ) -> Sequence[Sequence[Any]]:
        driver = await _driver_in_transaction(session)
        if driver is None:
            rows: Sequence[Sequence[Any]] = (
                await session.execute(self.statement(shape), params)
            ).all()
            return rows
        compiled = self._compiled.get(shape)
        if compiled is None:
            compiled = self._compiled[shape] = self._compile(session, shape)
        sql, arguments = compiled
        records: Sequence[Sequence[Any]] = await driver.fetch(sql, *arguments(params))
        return records

    def _compile(
        self, session: AsyncSession, shape: Hashable
    ) -> tuple[str, Callable[[Mapping[str, Any]], list[Any]]]:
        compiled = self.statement(shape).compile(dialect=session.get_bind().dialect)
        order = tuple(compiled.positiontup or ())
        defaults = {name: bind.effective_value for name, bind in compiled.binds.items()}

        def arguments(params: Mapping[str, Any]) -> list[Any]:
            return [params[name] if name in params else defaults[name] for name in order]

        return compiled.string, arguments


async def _driver_in_transaction(session: AsyncSession) -> Any:
    """The asyncpg connection under ``session`` once its transaction has begun there; else
    None. Before its first statement the session has not sent BEGIN (SQLAlchemy sends it
    with that statement): a statement sent on the driver then would run outside the
    transaction, without the agency bound for RLS (it would read nothing)."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    if isinstance(session, RequestSession) and (adapter := session.on_driver()) is not None:
        return adapter.driver_connection  # begun there by the authentication step
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    if getattr(raw.dbapi_connection, "_transaction", None) is None:
        return None
    return raw.driver_connection


__all__ = ["Base", "HotRead", "TenantRepository"]


# -- one of many values ---------------------------------------------------------------------


class OneOf(ColumnElement[bool]):
    """``column`` is one of ``values``: see :func:`one_of`."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("array", InternalTraversal.dp_clauseelement),
        ("listed", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: Any, values: Iterable[Any]) -> None:
        found = list(values)
        self.column: ColumnElement[Any] = (
            column.__clause_element__() if hasattr(column, "__clause_element__") else column
        )
        # Both forms are kept (the cache key names both); each dialect renders one.
        self.array = bindparam(None, found, type_=ARRAY(self.column.type))
        self.listed = self.column.in_(found)


def one_of(column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """``column IN values``, for a list of any length (ids, mostly), written so that
    PostgreSQL gets one statement text for any number of values: ``column = ANY($1)`` with
    the values as one array. An ``IN`` list is a new text for each length: SQLAlchemy renders
    it again, asyncpg prepares it again (a round trip, and PostgreSQL parses and plans it),
    and a claim of 1,000 posts sends 1,000 parameters. SQLite, which has no arrays, keeps
    ``IN``.
    """
    return OneOf(column, values)


@compiles(OneOf, "postgresql")
def _any(element: OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    return (
        f"{compiler.process(element.column, **kw)} = ANY({compiler.process(element.array, **kw)})"
    )


@compiles(OneOf)
def _in(element: OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.listed, **kw)
