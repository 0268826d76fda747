"""Test harness: real PostgreSQL and Redis servers started for the run, migrated with Alembic.

The app connects as ``agency_app``, a role that owns nothing, so PostgreSQL's Row-Level
Security binds every query exactly as in production. Each test starts from empty tables.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import argon2
import dramatiq
import httpx
import psycopg
import pytest
import redis
import uvicorn
from litestar import Litestar
from sqlalchemy import text

from agency.access import secrets
from agency.access.permissions import ALL_PERMISSIONS
from agency.app import create_app
from agency.assembly import build_runtime
from agency.auth.service import CredentialService
from agency.config import (
    DatabaseSettings,
    RateLimitSettings,
    RedisSettings,
    Settings,
    WorkerSettings,
)
from agency.kernel.migrate import upgrade
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import Subject, bind_system, bind_tenant
from agency.models import Base
from agency.tenant.service import bootstrap_agency
from tests import jobs_for_tests  # noqa: F401 - declares the test job before the broker
from tests.support.servers import PostgresServer, RedisServer, free_port
from tests.support.smtp import SmtpServer, smtp_settings

OWNER, APP_ROLE, DB = "agency_owner", "agency_app", "agency_test"
OWNER_PW, APP_PW = "owner-pw", "app-pw"
PASSWORD = "correct horse battery staple"
PRODUCTION_HASHING = secrets._hasher, secrets._DUMMY_HASH


# A test using one of these starts or waits on something outside the test process (a peer, a
# server on a socket, a Dramatiq worker, moto's S3, processes): it belongs to the slow tier.
# Modules whose every test is slow say so themselves (``pytestmark = pytest.mark.slow``).
SLOW_FIXTURES = frozenset(
    {
        "appview",
        "bounded_server",
        "idp_a",
        "idp_b",
        "live_server",
        "mail_worker",
        "media_worker",
        "metricnet",
        "oauth_server",
        "pds",
        "pds_peer",
        "prism_mastodon",
        "prism_pinterest",
        "prism_x",
        "processes",
        "receiver",
        "s3_endpoint",
        "stubnet",
        "testnet",
        "two_schedulers",
        "worker",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        uses = getattr(item, "fixturenames", ())
        if SLOW_FIXTURES.intersection(uses) or item.get_closest_marker("production_password_cost"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def pg() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.create_role(OWNER, OWNER_PW)
        server.create_role(APP_ROLE, APP_PW)
        server.create_database(DB, owner=OWNER)
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        yield server
    finally:
        server.close()


def make_settings(
    pg: PostgresServer, redis_url: str | None, *, app_filter: bool = True
) -> Settings:
    return Settings(
        database=DatabaseSettings(
            url=pg.sqlalchemy_url(APP_ROLE, APP_PW, DB),
            migration_url=pg.sqlalchemy_url(OWNER, OWNER_PW, DB),
            app_role=APP_ROLE,
            pool_size=5,
        ),
        redis=RedisSettings(url=redis_url),
        worker=WorkerSettings(threads=2, scheduler_interval_seconds=0.2),
        # Tests log in far more often than people; tests/api/test_rate_limits.py sets its own.
        rate_limits=RateLimitSettings(
            credentials_per_ip_per_minute=100_000,
            credentials_per_account_per_hour=100_000,
            requests_per_credential_per_minute=100_000,
        ),
        app_tenant_filter=app_filter,
    )


@pytest.fixture(scope="session")
def settings(pg: PostgresServer, redis_server: RedisServer) -> Settings:
    settings = make_settings(pg, redis_server.url)
    upgrade(settings)
    return settings


@pytest.fixture(scope="session")
def runtime(settings: Settings) -> Runtime:
    return build_runtime(settings)


@pytest.fixture(scope="session")
def app(settings: Settings, runtime: Runtime) -> Litestar:
    return create_app(settings, runtime)


TABLES = [t.name for t in reversed(Base.metadata.sorted_tables)]
# Children first, in one round trip. DELETE, not TRUNCATE: a test leaves a few rows in a few
# tables, and TRUNCATE rewrites every table and index it names (30 to 140 ms a test here,
# against about 1 ms for these DELETEs).
EMPTY_TABLES = "; ".join(f"DELETE FROM {table}" for table in TABLES)


class Cleaner:
    """Empties the database and Redis after each test that used them, on connections kept for
    the whole run (a test that restarts a server gets a new one on the next use)."""

    def __init__(self, pg: PostgresServer, redis_url: str) -> None:
        self.pg = pg
        self.redis = redis.Redis.from_url(redis_url)
        self._conn: psycopg.Connection[Any] | None = None

    def database(self) -> None:
        for attempt in (1, 2):
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = self.pg.connect(DB)
                self._conn.execute(EMPTY_TABLES)  # as the superuser: RLS does not bind it
                return
            except psycopg.OperationalError:
                self._conn = None  # the test restarted the server: connect again
                if attempt == 2:
                    raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self.redis.close()


@pytest.fixture(scope="session")
def cleaner(pg: PostgresServer, redis_server: RedisServer) -> Iterator[Cleaner]:
    found = Cleaner(pg, redis_server.url)
    try:
        yield found
    finally:
        found.close()


@pytest.fixture(autouse=True)
def clean_database(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "settings" not in request.fixturenames:
        return
    cleaner: Cleaner = request.getfixturevalue("cleaner")
    cleaner.database()
    cleaner.redis.flushdb()


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing() -> Iterator[None]:
    """Argon2id with its cheapest parameters while tests run, as the production cost (about
    0.2 s of CPU and 64 MiB a hash) would be most of the suite's time: every tenant's owner
    and every login hashes. Same algorithm, same code path; a test marked
    ``production_password_cost`` gets the production cost back."""
    saved = secrets._hasher, secrets._DUMMY_HASH
    cheap = argon2.PasswordHasher.from_parameters(argon2.profiles.CHEAPEST)
    secrets._hasher, secrets._DUMMY_HASH = cheap, cheap.hash("not a real password")
    try:
        yield
    finally:
        secrets._hasher, secrets._DUMMY_HASH = saved


@pytest.fixture(autouse=True)
def production_password_cost(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("production_password_cost") is None:
        yield
        return
    cheap = secrets._hasher, secrets._DUMMY_HASH
    secrets._hasher, secrets._DUMMY_HASH = PRODUCTION_HASHING
    try:
        yield
    finally:
        secrets._hasher, secrets._DUMMY_HASH = cheap


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@dataclass
class Tenant:
    agency_id: uuid.UUID
    slug: str
    owner_id: uuid.UUID
    owner_email: str
    token: str  # an API token with every permission

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def make_tenant(runtime: Runtime, slug: str) -> Tenant:
    async with runtime.session() as session:
        await bind_system(session)
        email = f"owner@{slug}.example"
        agency, user = await bootstrap_agency(
            session,
            name=slug.title(),
            slug=slug,
            owner_email=email,
            owner_name=f"Owner of {slug}",
            owner_password=PASSWORD,
        )
        await bind_tenant(session, agency.id)
        subject = Subject(agency_id=agency.id, kind="system", permissions=ALL_PERMISSIONS)
        issued = await CredentialService(session, subject).create_api_token(
            "tests", sorted(ALL_PERMISSIONS), 1
        )
        await session.commit()
        return Tenant(agency.id, slug, user.id, email, issued.token)


@pytest.fixture
async def tenant_a(runtime: Runtime) -> Tenant:
    return await make_tenant(runtime, "alpha")


@pytest.fixture
async def tenant_b(runtime: Runtime) -> Tenant:
    return await make_tenant(runtime, "bravo")


async def count_rows(runtime: Runtime, table: str) -> int:
    async with runtime.session() as session:
        await bind_system(session)
        return int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


class LiveServer:
    """An ASGI app (ours, or a network's fake) served by uvicorn on a loopback port, in a
    thread with its own loop."""

    def __init__(self, app: Callable[[Any, Any, Any], Awaitable[None]]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_server(app: Litestar) -> Iterator[LiveServer]:
    with LiveServer(app) as server:
        yield server


# -- e-mail: a real SMTP server, and the worker that sends -----------------------------------


@pytest.fixture(scope="session")
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def mail_worker(runtime: Runtime) -> Iterator[dramatiq.Worker]:
    from tests.support.publishing import running_worker

    with running_worker(runtime, {"mail"}, threads=1) as consumer:
        yield consumer


@pytest.fixture
def smtp_on(runtime: Runtime, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> SmtpServer:
    """Mail goes through the test SMTP server, whose mailbox starts empty."""
    monkeypatch.setattr(runtime.settings, "mail", smtp_settings(smtp))
    smtp.handler.reset()
    return smtp


__all__ = ["asyncio"]
