"""Where a worker's time goes per publication: N due variants published one after another in
this process (no broker), against the stub network with no latency, under cProfile.

    .venv/bin/python benchmarks/publish_profile.py --count 400 [--concurrency 8] [--profile]

Prints wall time, this process's CPU time, PostgreSQL's CPU time (all its processes, from
/proc) and the SQL statements per publication, and with --profile the top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import pstats
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event, select
from tests.support.servers import PostgresServer, RedisServer, _child_pids, free_port
from tests.support.stubnet import StubNetConnector

from agency.assembly import build_runtime
from agency.config import (
    ConnectorSettings,
    DatabaseSettings,
    NetworkSettings,
    RedisSettings,
    Settings,
)
from agency.connector.registry import Registry, installed
from agency.kernel import eventloop
from agency.kernel.jobs import JobBuffer, collecting
from agency.kernel.migrate import upgrade
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import bind_system
from agency.publication.models import Variant
from agency.publication.pipeline import Publisher
from benchmarks._data import APP_PW, APP_ROLE, DB, OWNER, OWNER_PW
from benchmarks.scheduler import Plan, seed


def serve_stubnet() -> tuple[str, subprocess.Popen[bytes]]:
    """The network in its own process, so that it takes no CPU (or GIL) from this one."""
    port = free_port()
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "benchmarks._sched_net:net_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
         "--no-access-log"],
        cwd=root,
        env={**os.environ, "BENCH_NET_LATENCY": "0", "PYTHONPATH": str(root)},
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return f"http://127.0.0.1:{port}", proc
        time.sleep(0.1)
    raise RuntimeError("the stub network did not start")


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU of a process and its children (PostgreSQL's backends)."""
    if pid is None:
        return 0.0
    total = 0
    for p in [pid, *_child_pids(pid)]:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


async def publish_all(
    runtime: Runtime, concurrency: int, batch: int
) -> tuple[int, float, float, int]:
    async with runtime.session() as session:
        await bind_system(session)
        rows = (await session.execute(select(Variant.agency_id, Variant.id))).all()
    statements = 0

    def count(*_: object) -> None:
        nonlocal statements
        statements += 1

    event.listen(runtime.engine.sync_engine, "before_cursor_execute", count)
    batches: asyncio.Queue[tuple[uuid.UUID, list[uuid.UUID]]] = asyncio.Queue()
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        batches.put_nowait((chunk[0][0], [row[1] for row in chunk]))

    async def one_worker() -> None:
        while not batches.empty():
            agency_id, variant_ids = batches.get_nowait()
            session = runtime.session()
            buffer = JobBuffer()
            try:
                with collecting(buffer):
                    await Publisher(session, agency_id, runtime).publish_many(variant_ids)
                await session.commit()
            finally:
                await session.close()

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one_worker() for _ in range(concurrency)))
    event.remove(runtime.engine.sync_engine, "before_cursor_execute", count)
    async with runtime.session() as session:
        await bind_system(session)
        found = await session.execute(select(Variant.status).where(Variant.status != "published"))
        unpublished = len(found.all())
    if unpublished:
        raise SystemExit(f"{unpublished} variants not published")
    return len(rows), time.perf_counter() - wall, time.process_time() - cpu, statements


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch", type=int, default=20, help="variants per publish job")
    parser.add_argument(
        "--loop", choices=["uvloop", "asyncio"], default="uvloop", help="the worker's: uvloop"
    )
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--sort", default="tottime", help="pstats order: tottime, cumulative")
    args = parser.parse_args()
    pg = PostgresServer(settings={"shared_buffers": "512MB", "max_connections": "100"})
    redis = RedisServer()
    try:
        pg.create_role(OWNER, OWNER_PW)
        pg.create_role(APP_ROLE, APP_PW)
        pg.create_database(DB, owner=OWNER)
        url, net = serve_stubnet()
        settings = Settings(
            database=DatabaseSettings(
                url=pg.sqlalchemy_url(APP_ROLE, APP_PW, DB),
                migration_url=pg.sqlalchemy_url(OWNER, OWNER_PW, DB),
                app_role=APP_ROLE,
                pool_size=args.concurrency + 2,
            ),
            redis=RedisSettings(url=redis.url),
            connectors=ConnectorSettings(networks={"stubnet": NetworkSettings(base_url=url)}),
        )
        upgrade(settings)
        plan = Plan(
            variants=args.count, brands=20, burst=0, window=1, lead=0, workers=1, threads=1,
            media_share=0.0,
        )  # fmt: skip
        media_root = Path(tempfile.mkdtemp(prefix="publish-profile-"))
        seed(pg, settings, plan, datetime.now(UTC) - timedelta(seconds=5), media_root)
        registry = Registry([*installed().values(), StubNetConnector])
        runtime = build_runtime(settings, connectors=registry)
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        pg_cpu = cpu_seconds(pg.pid)
        publishing = publish_all(runtime, args.concurrency, args.batch)
        run = eventloop.run if args.loop == "uvloop" else asyncio.run
        count, wall, cpu, statements = run(publishing)
        pg_cpu = cpu_seconds(pg.pid) - pg_cpu
        if profiler:
            profiler.disable()
        print(
            f"{count} publications, {args.concurrency} jobs at once of {args.batch}: "
            f"{wall:.2f}s wall ({count / wall:.0f}/s), "
            f"{cpu / count * 1000:.2f} ms of this process's CPU each, "
            f"{pg_cpu / count * 1000:.2f} ms of PostgreSQL's, "
            f"{statements / count:.2f} statements each"
        )
        if profiler:
            lines = int(os.environ.get("PROFILE_LINES", "45"))
            pstats.Stats(profiler).sort_stats(args.sort).print_stats(lines)
        return 0
    finally:
        with contextlib.suppress(NameError):
            net.kill()
        redis.close()
        pg.close()


if __name__ == "__main__":
    raise SystemExit(main())
