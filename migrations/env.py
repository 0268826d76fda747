"""Alembic environment: async engine, URL from agency settings, models from agency.models."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from agency.config import get_settings
from agency.kernel.db import UTCDateTime, create_engine
from agency.models import Base

target_metadata = Base.metadata


def _url() -> str:
    url = context.config.attributes.get("url")
    return str(url) if url else get_settings().database.owner_url


def _render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    # Render our timezone-aware column type as the plain SQLAlchemy type it is.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_engine(get_settings().database, url=_url())
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_async())
