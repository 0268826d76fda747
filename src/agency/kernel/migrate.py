"""Schema migrations (Alembic) and the privileges of the non-owner app role."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from agency.config import Settings
from agency.kernel.db import create_engine

ROOT = Path(__file__).resolve().parents[3]
_ROLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class MigrationsMissing(FileNotFoundError):
    """The migration scripts are not where the installed package expects them."""


def alembic_config(url: str) -> Config:
    for needed in (ROOT / "alembic.ini", ROOT / "migrations"):
        if not needed.exists():
            raise MigrationsMissing(
                f"{needed} is missing: `agency db` needs the repository's alembic.ini and "
                "migrations/ next to the installed package (the Docker image links them)"
            )
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["url"] = url
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    url = settings.database.owner_url
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
    command.upgrade(alembic_config(url), revision)
    if settings.database.app_role and not url.startswith("sqlite"):
        asyncio.run(grant_app_role(settings, settings.database.app_role))


def downgrade(settings: Settings, revision: str) -> None:
    """Undo migrations down to ``revision`` (an id, ``-1``, or ``base``), as the owner role."""
    command.downgrade(alembic_config(settings.database.owner_url), revision)


def heads() -> list[str]:
    """The revisions this code's migrations end at (one, unless two branches are open)."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return list(script.get_heads())


async def applied(settings: Settings, url: str | None = None) -> list[str]:
    """The revisions the database is at (none before the first `agency db upgrade`)."""

    def read(connection: Connection) -> list[str]:
        return list(MigrationContext.configure(connection).get_current_heads())

    engine = create_engine(settings.database, url=url or settings.database.owner_url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(read)
    finally:
        await engine.dispose()


async def grant_app_role(settings: Settings, role: str) -> None:
    """Give the app role DML on every table; it owns none, so RLS binds it."""
    if not _ROLE.match(role):
        raise ValueError(f"not a role name: {role!r}")
    engine = create_engine(settings.database, url=settings.database.owner_url)
    async with engine.begin() as conn:
        await conn.execute(
            text(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"')
        )
        await conn.execute(text(f'GRANT USAGE ON SCHEMA public TO "{role}"'))
    await engine.dispose()


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
