"""The database of the benchmark: a throwaway PostgreSQL, the app's schema, the data.

The server comes from ``tests/support/servers.py``; the schema from the app's own Alembic
migration, with the owner role and the non-owner app role that RLS binds (as
``tests/conftest.py`` does); API tokens from the app's own service code; the bulk of agencies
and audit events from SQL.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
from tests.conftest import make_tenant
from tests.support.desk import Desk
from tests.support.servers import PostgresServer

from agency.access.permissions import ALL_PERMISSIONS, Permission
from agency.app import create_app
from agency.assembly import build_runtime
from agency.auth.service import CredentialService
from agency.config import DatabaseSettings, RedisSettings, Settings
from agency.kernel.tenancy import Subject, bind_system, bind_tenant
from agency.tenant.service import bootstrap_agency

OWNER, APP_ROLE, DB = "agency_owner", "agency_app", "agency_bench"
OWNER_PW, APP_PW = "owner-pw", "app-pw"

# The statements a list request runs (as SQLAlchemy renders them), for EXPLAIN and asyncpg.
LIST_SQL = (
    "SELECT audit_events.actor_type, audit_events.actor_id, audit_events.action, "
    "audit_events.object_type, audit_events.object_id, audit_events.changes, "
    "audit_events.created_at, audit_events.id, audit_events.agency_id FROM audit_events "
    "WHERE audit_events.agency_id = $1 ORDER BY audit_events.id DESC LIMIT 51"
)
# Authentication's one call (``CredentialRepository.bind_and_find_held``): it binds the agency
# for the transaction, then reads the credential joined to its holder's membership (the
# app's first use of a credential; later ones run ``bind_agency``, the binding and the
# agency's access version alone, while the process keeps the credential).
AUTHENTICATE_SQL = "SELECT * FROM authenticate_credential($1, $2)"


@dataclass(frozen=True)
class Scale:
    agencies: int
    events: int
    tenants: int  # agencies that get an API token; the load rotates over them
    warmup: float
    duration: float
    repeat: int
    breakdown_ops: int


FULL = Scale(10_000, 1_000_000, tenants=8, warmup=3, duration=15, repeat=3, breakdown_ops=1000)
QUICK = Scale(1_000, 100_000, tenants=4, warmup=1, duration=3, repeat=1, breakdown_ops=200)

UUID7_AT = """
CREATE FUNCTION pg_temp.uuid7_at(ts timestamptz) RETURNS uuid LANGUAGE sql VOLATILE AS $$
  SELECT (lpad(to_hex(floor(extract(epoch FROM ts) * 1000)::bigint), 12, '0') || '7'
          || substr(replace(gen_random_uuid()::text, '-', ''), 14))::uuid
$$
"""


def start_postgres() -> PostgresServer:
    # A larger buffer cache than the test default, so the 1M-row table and its indexes stay
    # in PostgreSQL's memory: the benchmark measures the API, not the disk.
    server = PostgresServer(settings={"shared_buffers": "1GB", "work_mem": "64MB"})
    try:
        server.create_role(OWNER, OWNER_PW)
        server.create_role(APP_ROLE, APP_PW)
        server.create_database(DB, owner=OWNER)
    except BaseException:
        server.close()
        raise
    return server


def make_settings(pg: PostgresServer) -> Settings:
    return Settings(
        database=DatabaseSettings(
            url=pg.sqlalchemy_url(APP_ROLE, APP_PW, DB),
            migration_url=pg.sqlalchemy_url(OWNER, OWNER_PW, DB),
            app_role=APP_ROLE,
        ),
        redis=RedisSettings(url=None),  # the in-process stub broker: the list never enqueues
    )


async def mint_tokens(
    settings: Settings, count: int, permissions: tuple[str, ...] = (Permission.AUDIT_READ.value,)
) -> list[tuple[uuid.UUID, str]]:
    """Create ``count`` agencies and an API token in each (``audit:read`` unless
    ``permissions`` says otherwise), with app code."""
    runtime = build_runtime(settings)
    minted: list[tuple[uuid.UUID, str]] = []
    try:
        for i in range(count):
            slug = f"bench-{i:02d}"
            async with runtime.session() as session:
                await bind_system(session)
                agency, _ = await bootstrap_agency(
                    session,
                    name=f"Bench {i}",
                    slug=slug,
                    owner_email=f"owner@{slug}.example",
                    owner_name=f"Owner of {slug}",
                    owner_password=None,
                )
                await bind_tenant(session, agency.id)
                subject = Subject(agency_id=agency.id, kind="system", permissions=ALL_PERMISSIONS)
                issued = await CredentialService(session, subject).create_api_token(
                    "benchmark", list(permissions), None
                )
                await session.commit()
                minted.append((agency.id, issued.token))
    finally:
        await runtime.dispose_current_loop()
    return minted


def seed(pg: PostgresServer, scale: Scale) -> None:
    """Fill ``agencies`` up to ``scale.agencies`` and ``audit_events`` with ``scale.events``.

    Events are spread round-robin over every agency (about events/agencies each) and over the
    past year in time order, with time-ordered (version 7) ids like the app's, so that a
    tenant's rows lie scattered over the table as they would in production.
    """
    with psycopg.connect(pg.url(OWNER, OWNER_PW, DB), autocommit=True) as conn:
        conn.execute("SELECT set_config('app.system', 'on', false)")  # RLS is forced on owner
        conn.execute(UUID7_AT)
        counted = conn.execute("SELECT count(*) FROM agencies").fetchone()
        missing = scale.agencies - (int(counted[0]) if counted else 0)
        conn.execute(
            f"""
            INSERT INTO agencies (id, name, slug, version, created_at)
            SELECT pg_temp.uuid7_at(ts), 'Agency ' || g, 'agency-' || lpad(g::text, 6, '0'), 1, ts
            FROM generate_series(1, {missing}) AS g,
                 LATERAL (SELECT now() - interval '730 days' + g * interval '1 minute') AS t(ts)
            """
        )
        conn.execute(
            "CREATE TEMP TABLE bench_agency AS "
            "SELECT (row_number() OVER (ORDER BY id) - 1)::int AS n, id FROM agencies"
        )
        conn.execute("CREATE UNIQUE INDEX ON bench_agency (n)")
        conn.execute("ANALYZE bench_agency")
        chunk = 250_000
        for start in range(0, scale.events, chunk):
            stop = min(start + chunk, scale.events)
            conn.execute(
                f"""
                INSERT INTO audit_events (id, agency_id, actor_type, actor_id, action,
                                          object_type, object_id, changes, created_at)
                SELECT pg_temp.uuid7_at(t.ts), a.id,
                       (ARRAY['user', 'api_token', 'system'])[1 + g % 3],
                       CASE WHEN g % 3 = 2 THEN NULL ELSE gen_random_uuid() END,
                       (ARRAY['member.invited', 'member.role_changed', 'api_token.created',
                              'agency.updated', 'auth.login'])[1 + g % 5],
                       (ARRAY['member', 'membership', 'api_token', 'agency', 'user'])[1 + g % 5],
                       gen_random_uuid(),
                       json_build_object('name', json_build_array('before ' || g, 'after ' || g)),
                       t.ts
                FROM generate_series({start}, {stop - 1}) AS g
                JOIN bench_agency AS a ON a.n = g % {scale.agencies}
                CROSS JOIN LATERAL (
                    SELECT now() - interval '366 days'
                           + g * (interval '365 days' / {scale.events})
                ) AS t(ts)
                ORDER BY g
                """
            )
            print(f"  audit_events: {stop:,} / {scale.events:,}", flush=True)
        conn.execute("VACUUM (ANALYZE) agencies, audit_events, credentials, memberships, users")


def analyze_calendar(pg: PostgresServer) -> None:
    """Statistics for the calendar's tables, as autovacuum gathers them within a minute of an
    import: without them PostgreSQL plans the month's join as if each table held one row (a
    nested loop re-reading every publication for each variant, 19 ms instead of 0.6)."""
    with psycopg.connect(pg.url(OWNER, OWNER_PW, DB), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) publications, publication_variants, brands, channels")


def explain_list_query(pg: PostgresServer, agency_id: uuid.UUID) -> list[str]:
    """EXPLAIN ANALYZE of the list query, as the app role under RLS (the last of 5 runs)."""
    query = "EXPLAIN (ANALYZE, BUFFERS) " + LIST_SQL.replace("$1", f"'{agency_id}'::uuid")
    plan: list[str] = []
    with psycopg.connect(pg.url(APP_ROLE, APP_PW, DB)) as conn:
        conn.execute("SELECT set_config('app.agency_id', %s, true)", (str(agency_id),))
        for _ in range(5):
            plan = [str(line[0]) for line in conn.execute(query).fetchall()]
        conn.rollback()
    return plan


def _proc_field(path: str, prefix: str) -> str:
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    return "unknown"


def machine_info(pg: PostgresServer) -> dict[str, str]:
    mem_kib = _proc_field("/proc/meminfo", "MemTotal:").split()[0]
    distribution = "unknown"
    with contextlib.suppress(OSError):
        distribution = platform.freedesktop_os_release().get("PRETTY_NAME", distribution)
    with pg.connect() as conn:
        shown = conn.execute("SHOW server_version").fetchone()
    packages = ("litestar", "uvicorn", "uvloop", "httptools", "sqlalchemy", "asyncpg", "msgspec")
    return {
        "cpus": str(os.cpu_count()),
        "cpu_model": _proc_field("/proc/cpuinfo", "model name"),
        "memory": f"{int(mem_kib) / 1024 / 1024:.1f} GiB" if mem_kib.isdigit() else "unknown",
        "os": f"{distribution}, {platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "postgresql": str(shown[0]) if shown else "unknown",
        **{name: importlib.metadata.version(name) for name in packages},
    }


CALENDAR_NETWORKS = (
    ("mastodon", 3),
    ("x", 2),
    ("threads", 2),
    ("bluesky", 2),
    ("linkedin", 1),
)  # 10 channels of networks that take text alone
CALENDAR_POSTS = 300


@dataclass(frozen=True)
class CalendarScene:
    token: str
    path: str  # GET /calendar over the month, of the brand


async def seed_calendar(settings: Settings) -> CalendarScene:
    """One agency's brand with 10 channels and 300 publications over the next month, through
    the app's own import endpoint (in this process); the month's calendar request."""
    runtime = build_runtime(settings)
    try:
        app = create_app(settings, runtime)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            tenant = await make_tenant(runtime, "calendar")
            desk = Desk(client, runtime, tenant)
            brand = await desk.brand("maison-calendrier")
            channels = [
                await desk.channel(brand, network)
                for network, count in CALENDAR_NETWORKS
                for _ in range(count)
            ]
            start = (datetime.now(UTC) + timedelta(days=2)).replace(
                hour=0, minute=0, second=0, microsecond=0, tzinfo=None
            )
            lines = ["title;channel_id;text;local_time;campaign;tags"]
            step = timedelta(days=30) / CALENDAR_POSTS
            for i in range(CALENDAR_POSTS):
                when = (start + i * step).strftime("%Y-%m-%d %H:%M")
                lines.append(f"Post {i};{channels[i % len(channels)]};Text {i};{when};spring;a")
            done = await client.post(
                f"/brands/{brand}/publications/import",
                content="\n".join(lines) + "\n",
                headers={**desk.headers, "Content-Type": "text/csv"},
            )
            if done.status_code != 201 or done.json()["accepted"] != CALENDAR_POSTS:
                raise RuntimeError(f"calendar import answered {done.status_code}: {done.text}")
        end = start + timedelta(days=31)
        path = (
            f"/calendar?from={start:%Y-%m-%dT%H:%M:%SZ}&to={end:%Y-%m-%dT%H:%M:%SZ}"
            f"&brand_id={brand}"
        )
        return CalendarScene(token=tenant.token, path=path)
    finally:
        await runtime.dispose_current_loop()
