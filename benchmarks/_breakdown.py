"""What one list request costs, piece by piece, in this process: no HTTP, no other load.

From raw asyncpg (the floor: the same statements with no framework at all) through a
SQLAlchemy session, Core and ORM selects, to the whole app called as an ASGI callable.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from litestar import Litestar
from sqlalchemy import select
from tests.support.servers import PostgresServer

from agency.access.secrets import SESSION_PREFIX, parse_bearer
from agency.assembly import build_runtime
from agency.audit.models import AuditEvent
from agency.config import Settings
from agency.kernel.memory import tune_gc
from agency.kernel.tenancy import bind_tenant
from benchmarks._data import APP_PW, APP_ROLE, AUTHENTICATE_SQL, DB, LIST_SQL
from benchmarks._profile import GcTimer
from benchmarks._server import BARE_PATH, FLOOR_PATH, LIST_PATH, bench_app


@dataclass
class Cost:
    what: str
    wall_ms: float
    cpu_ms: float
    gc_ms: float


async def _asgi_get(app: Litestar, target: str, token: str) -> None:
    """One request straight into the ASGI app: no socket, no HTTP parsing."""
    path, _, query = target.partition("?")
    sent: list[dict[str, Any]] = []
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)  # type: ignore[arg-type]
    if sent[0]["status"] != 200:
        raise RuntimeError(f"in-process GET {target} answered {sent[0]['status']}")


async def breakdown(
    settings: Settings, pg: PostgresServer, tenant: tuple[uuid.UUID, str], ops: int
) -> list[Cost]:
    """CPU and wall time per operation of the pieces of one list request."""
    agency_id, token = tenant
    bearer = parse_bearer(token, SESSION_PREFIX)
    assert bearer is not None
    runtime = build_runtime(settings)
    app = bench_app(settings, runtime)
    tune_gc()  # as the server does once it has started
    costs: list[Cost] = []

    async def measure(what: str, op: Callable[[], Awaitable[object]]) -> None:
        """The best of 3 rounds: a shared small machine is noisy, and noise only adds."""
        for _ in range(max(10, ops // 10)):
            await op()
        rounds: list[Cost] = []
        for _ in range(3):
            with GcTimer() as timer:
                t0, c0 = time.perf_counter(), time.process_time()
                for _ in range(ops):
                    await op()
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            rounds.append(Cost(what, wall / ops * 1e3, cpu / ops * 1e3, timer.seconds / ops * 1e3))
        costs.append(min(rounds, key=lambda cost: cost.cpu_ms))

    dsn = pg.url(APP_ROLE, APP_PW, DB)
    bound, raw = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        await bound.execute(f"SELECT set_config('app.agency_id', '{agency_id}', false)")
        await measure("asyncpg: SELECT 1", lambda: bound.fetchval("SELECT 1"))
        await measure("asyncpg: the list query (51 rows)", lambda: bound.fetch(LIST_SQL, agency_id))

        async def raw_request() -> None:
            """The app's statements with no framework: the floor."""
            async with raw.transaction():
                await raw.fetchrow(AUTHENTICATE_SQL, agency_id, bearer.object_id)
                await raw.fetch(LIST_SQL, agency_id)

        await measure("asyncpg floor: BEGIN, authenticate, list, COMMIT", raw_request)
    finally:
        await bound.close()
        await raw.close()

    async def session_only() -> None:
        async with runtime.session() as session:
            await bind_tenant(session, agency_id)
            await session.commit()

    await measure("SQLAlchemy: session, bind_tenant, commit, close", session_only)
    columns = AuditEvent.__table__.c
    core = select(*columns).where(columns.agency_id == agency_id).order_by(columns.id.desc())
    orm = select(AuditEvent).where(AuditEvent.agency_id == agency_id).order_by(columns.id.desc())
    async with runtime.session() as session:
        await bind_tenant(session, agency_id)

        async def core_rows() -> None:
            (await session.execute(core.limit(51))).all()

        async def orm_rows() -> None:
            (await session.execute(orm.limit(51))).scalars().all()
            session.expunge_all()  # each request starts with an empty identity map

        await measure("SQLAlchemy Core: the list query, rows", core_rows)
        await measure("SQLAlchemy ORM: the list query, 51 AuditEvent objects", orm_rows)
        await session.rollback()

    for path in (LIST_PATH, FLOOR_PATH, BARE_PATH):
        await measure(f"app in-process: GET {path}", partial(_asgi_get, app, path, token))
    await runtime.dispose_current_loop()
    return costs


def print_costs(costs: list[Cost], ops: int) -> None:
    print(f"\nin-process cost per operation ({ops:,} operations each):")
    print(f"    {'operation':<58} {'wall ms':>8} {'cpu ms':>7} {'of it gc':>8}")
    for cost in costs:
        print(f"    {cost.what:<58} {cost.wall_ms:>8.3f} {cost.cpu_ms:>7.3f} {cost.gc_ms:>8.3f}")
