"""A new, empty database on the test run's PostgreSQL server (migration and privilege tests)."""

from __future__ import annotations

import uuid
from typing import Any

from agency.config import DatabaseSettings, Settings
from tests.conftest import APP_PW, APP_ROLE, OWNER, OWNER_PW
from tests.support.servers import PostgresServer


class FreshPostgres:
    """A new, empty database on the session's server, owned by the owner role."""

    def __init__(self, pg: PostgresServer) -> None:
        self.pg = pg
        self.name = f"agency_mig_{uuid.uuid4().hex[:12]}"
        pg.create_database(self.name, owner=OWNER)
        self.settings = Settings(
            database=DatabaseSettings(
                url=pg.sqlalchemy_url(APP_ROLE, APP_PW, self.name),
                migration_url=pg.sqlalchemy_url(OWNER, OWNER_PW, self.name),
                app_role=APP_ROLE,
                pool_size=1,
            )
        )

    @property
    def owner_async_url(self) -> str:
        return self.pg.sqlalchemy_url(OWNER, OWNER_PW, self.name)

    @property
    def owner_sync_url(self) -> str:
        return self.pg.sqlalchemy_url(OWNER, OWNER_PW, self.name, driver="psycopg")

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` run as the superuser (catalog queries)."""
        with self.pg.connect(self.name) as conn:
            return list(conn.execute(sql).fetchall())  # type: ignore[call-overload]

    def drop(self) -> None:
        self.pg.drop_database(self.name)
