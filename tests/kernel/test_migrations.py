"""Alembic migrations: from empty to head on both backends, matching the models exactly.

Every test here migrates a database of its own (a fresh PostgreSQL database on the session's
server, or a SQLite file in ``tmp_path``), so nothing depends on the shared test database
or on the order the tests run in. None of them asks for the ``settings`` fixture, so the
autouse truncation in conftest leaves them alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from pprint import pformat
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Connection

from agency.config import DatabaseSettings, Settings
from agency.kernel.db import UTCDateTime
from agency.kernel.migrate import alembic_config, upgrade
from agency.models import Base
from tests.conftest import APP_ROLE, OWNER
from tests.support.fresh_database import FreshPostgres
from tests.support.servers import PostgresServer

pytestmark = pytest.mark.slow


def _render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    # The same rendering hook as migrations/env.py (only used to print a readable diff).
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def schema_diff(sync_url: str) -> list[Any]:
    """What ``alembic revision --autogenerate`` would write: models vs. the migrated schema."""
    engine = create_engine(sync_url)
    try:
        with engine.connect() as connection:
            return _compare(connection)
    finally:
        engine.dispose()


def _compare(connection: Connection) -> list[Any]:
    # The options migrations/env.py gives autogenerate, so this sees what it would see.
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "render_as_batch": connection.dialect.name == "sqlite",
            "render_item": _render_item,
        },
    )
    return list(compare_metadata(context, Base.metadata))


def assert_no_diff(diff: list[Any], backend: str) -> None:
    assert diff == [], (
        f"the models and the migrations disagree on {backend}; autogenerate would emit:\n"
        f"{pformat(diff)}\n"
        "write a migration (alembic revision --autogenerate) or fix the models"
    )


@pytest.fixture
def fresh_pg(pg: PostgresServer) -> Iterator[FreshPostgres]:
    db = FreshPostgres(pg)
    try:
        yield db
    finally:
        db.drop()


@pytest.fixture(scope="module")
def migrated_pg(pg: PostgresServer) -> Iterator[FreshPostgres]:
    """A fresh database taken from empty to head by ``upgrade()``, as `agency db upgrade` does."""
    db = FreshPostgres(pg)
    try:
        upgrade(db.settings)
        yield db
    finally:
        db.drop()


def model_tables() -> set[str]:
    return set(Base.metadata.tables)


# -- upgrade from empty, models == schema --------------------------------------------------


def test_postgres_upgrade_from_empty_matches_models(migrated_pg: FreshPostgres) -> None:
    tables = {
        row[0]
        for row in migrated_pg.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    }
    assert tables == model_tables() | {"alembic_version"}
    version = migrated_pg.query("SELECT version_num FROM alembic_version")
    assert version == [(_head(),)]
    assert_no_diff(schema_diff(migrated_pg.owner_sync_url), "PostgreSQL")


def test_sqlite_upgrade_from_empty_matches_models(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "agency.db"  # upgrade() creates the missing directory
    settings = Settings(database=DatabaseSettings(url=f"sqlite+aiosqlite:///{path}"))
    upgrade(settings)
    assert path.exists()
    sync_url = f"sqlite:///{path}"
    engine = create_engine(sync_url)
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            version = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    finally:
        engine.dispose()
    assert tables == model_tables() | {"alembic_version"}
    assert [tuple(row) for row in version] == [(_head(),)]
    assert_no_diff(schema_diff(sync_url), "SQLite")


def _head() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


# -- downgrade -------------------------------------------------------------------------------


def test_postgres_downgrade_to_base_and_upgrade_again(fresh_pg: FreshPostgres) -> None:
    upgrade(fresh_pg.settings)
    config = alembic_config(fresh_pg.owner_async_url)

    command.downgrade(config, "base")
    left = {
        row[0]
        for row in fresh_pg.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    }
    assert left == {"alembic_version"}, f"downgrade left tables behind: {sorted(left)}"
    assert fresh_pg.query("SELECT version_num FROM alembic_version") == []
    assert fresh_pg.query("SELECT policyname, tablename FROM pg_policies") == []

    upgrade(fresh_pg.settings)
    assert fresh_pg.query("SELECT version_num FROM alembic_version") == [(_head(),)]
    assert_no_diff(schema_diff(fresh_pg.owner_sync_url), "PostgreSQL after downgrade/upgrade")
    assert _tables_without_rls(fresh_pg) == []


# -- Row-Level Security and the app role -------------------------------------------------------

TENANT_TABLES_SQL = """
SELECT DISTINCT c.table_name
FROM information_schema.columns c
JOIN information_schema.tables t USING (table_schema, table_name)
WHERE c.table_schema = 'public' AND c.column_name = 'agency_id' AND t.table_type = 'BASE TABLE'
"""


def _tenant_tables(db: FreshPostgres) -> set[str]:
    return {row[0] for row in db.query(TENANT_TABLES_SQL)} | {"agencies"}


def _tables_without_rls(db: FreshPostgres) -> list[tuple[str, bool, bool, int]]:
    """(table, relrowsecurity, relforcerowsecurity, policies) of tenant tables lacking any."""
    rows = db.query(
        """
        SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
               (SELECT count(*) FROM pg_policies p
                WHERE p.schemaname = 'public' AND p.tablename = c.relname)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
        """
    )
    tenant = _tenant_tables(db)
    return sorted(
        (name, rls, force, int(policies))
        for name, rls, force, policies in rows
        if name in tenant and not (rls and force and policies > 0)
    )


def test_every_tenant_table_has_forced_rls_and_a_policy(migrated_pg: FreshPostgres) -> None:
    tenant = _tenant_tables(migrated_pg)
    # Sanity: the query finds the tenant tables the models declare.
    assert {t.name for t in Base.metadata.sorted_tables if "agency_id" in t.c} <= tenant
    assert {"audit_events", "credentials", "memberships"} <= tenant
    assert _tables_without_rls(migrated_pg) == [], (
        "(table, relrowsecurity, relforcerowsecurity, policies): every table with agency_id "
        "(and agencies) needs ENABLE + FORCE ROW LEVEL SECURITY and a policy "
        "(agency.kernel.rls.enable_tenant_rls in a migration)"
    )


def test_app_role_owns_nothing_and_cannot_bypass_rls(migrated_pg: FreshPostgres) -> None:
    owned = migrated_pg.query(
        f"""
        SELECT c.relname, c.relkind
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_roles r ON r.oid = c.relowner
        WHERE r.rolname = '{APP_ROLE}' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        """
    )
    assert owned == [], f"{APP_ROLE} owns relations, so RLS would not bind it: {owned}"
    owners = {
        row[0]
        for row in migrated_pg.query("SELECT tableowner FROM pg_tables WHERE schemaname = 'public'")
    }
    assert owners == {OWNER}
    role = migrated_pg.query(
        f"SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = '{APP_ROLE}'"
    )
    assert role == [(False, False)], f"{APP_ROLE} must be neither SUPERUSER nor BYPASSRLS"
    # It was granted what the app needs, and nothing that would let it change the schema.
    privileges = migrated_pg.query(
        f"""
        SELECT DISTINCT privilege_type FROM information_schema.role_table_grants
        WHERE grantee = '{APP_ROLE}' AND table_schema = 'public'
        """
    )
    granted = {row[0] for row in privileges}
    assert {"SELECT", "INSERT", "UPDATE", "DELETE"} <= granted
    assert not granted & {"TRUNCATE", "TRIGGER", "REFERENCES"}, granted
