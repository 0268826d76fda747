"""The base every tenant-scoped repository builds on: all SQL lives in repositories."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import Row, Select, inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from agency.kernel.db import Base
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

    async def page_rows(
        self, page: PageRequest, stmt: Select[M] | None = None
    ) -> tuple[Sequence[Row[Any]], str | None]:
        """:meth:`page` as read-only rows of the table's columns, for lists that only read.

        A row has the model's attribute names but is a plain tuple: no ORM object, no
        identity map, no change tracking to build for each one and tear down again.
        """
        columns = [getattr(self.model, c.key) for c in inspect(self.model).column_attrs]
        result = await self.session.execute(self._paged(page, stmt).with_only_columns(*columns))
        return self._cut(page, result.all())

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


__all__ = ["Base", "TenantRepository"]
