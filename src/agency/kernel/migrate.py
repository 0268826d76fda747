"""Schema migrations (Alembic) and the privileges of the non-owner app role."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from agency.config import Settings
from agency.kernel.db import create_engine

ROOT = Path(__file__).resolve().parents[3]
_ROLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def alembic_config(url: str) -> Config:
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
