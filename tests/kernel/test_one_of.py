"""``one_of``: ``IN`` as one array on PostgreSQL (one statement text for any length), ``IN``
on SQLite; the same rows either way, whatever the values of a statement compiled before."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import Column, ColumnElement, Integer, MetaData, String, Table, Uuid, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from agency.config import Settings
from agency.kernel.repository import one_of

metadata = MetaData()
rows = Table(
    "one_of_rows",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("n", Integer),
    Column("word", String),
    prefixes=["TEMPORARY"],
)


async def chosen_rows(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.run_sync(metadata.create_all)
        ids = [uuid.uuid4() for _ in range(10)]
        await connection.execute(
            rows.insert(), [{"id": i, "n": n, "word": f"w{n}"} for n, i in enumerate(ids)]
        )

        async def numbers(*where: ColumnElement[bool]) -> list[int]:
            found = await connection.execute(select(rows.c.n).where(*where).order_by(rows.c.n))
            return list(found.scalars())

        # One statement, run again with other values of other lengths: each gets its own rows.
        assert await numbers(one_of(rows.c.id, [ids[0]])) == [0]
        assert await numbers(one_of(rows.c.id, ids[1:4])) == [1, 2, 3]
        assert await numbers(one_of(rows.c.id, ids[5:])) == [5, 6, 7, 8, 9]
        assert await numbers(one_of(rows.c.id, [])) == []
        assert await numbers(one_of(rows.c.id, iter([ids[9]]))) == [9]
        assert await numbers(one_of(rows.c.word, ["w1", "w2"]), rows.c.n > 1) == [2]
        await connection.execute(update(rows).where(one_of(rows.c.id, ids[:2])).values(n=100))
        assert await numbers(rows.c.n == 100) == [100, 100]
        await connection.rollback()
    await engine.dispose()


@pytest.mark.asyncio
async def test_one_of_on_postgresql(settings: Settings) -> None:
    await chosen_rows(create_async_engine(settings.database.url))


@pytest.mark.asyncio
async def test_one_of_on_sqlite(tmp_path: Path) -> None:
    await chosen_rows(create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'rows.db'}"))


def test_postgresql_gets_one_text_for_any_number_of_values() -> None:
    def text(count: int) -> str:
        stmt = select(rows.c.n).where(one_of(rows.c.id, [uuid.uuid4() for _ in range(count)]))
        return str(stmt.compile(dialect=postgresql.dialect()))  # type: ignore[no-untyped-call]

    assert text(1) == text(50) == text(1000)
    assert "= ANY (" in text(3).replace("ANY(", "ANY (")
