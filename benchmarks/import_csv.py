"""How long a CSV import of N rows takes: the real endpoint, in this process, against a
throwaway PostgreSQL (the app's migrations, the app role under RLS).

    .venv/bin/python benchmarks/import_csv.py [--rows 1000] [--repeat 2] [--profile]

One brand with Mastodon, X, Threads (250 posts per 24 hours: the quota is checked) and
Bluesky channels, and a webhook subscription, so that every row also writes its event and
delivery. Each run imports into a fresh brand: a dry run, then the import. Prints the time of
both, the statements the import ran, and with --profile the top functions of the import.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import pstats
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from sqlalchemy import event
from tests.conftest import APP_ROLE, DB, OWNER, make_settings, make_tenant
from tests.support.desk import Desk
from tests.support.servers import PostgresServer, RedisServer

from agency.app import create_app
from agency.assembly import build_runtime
from agency.kernel.migrate import upgrade
from agency.kernel.runtime import Runtime

NETWORKS = ("mastodon", "x", "threads", "bluesky")


def csv_body(channels: list[str], rows: int, start: datetime) -> str:
    """``rows`` posts, one every 20 minutes, round-robin over the channels (same format as a
    French spreadsheet: ``;``)."""
    lines = ["title;channel_id;text;local_time;campaign;tags"]
    for i in range(rows):
        when = (start + timedelta(minutes=20 * i)).strftime("%Y-%m-%d %H:%M")
        channel = channels[i % len(channels)]
        lines.append(f"Post {i};{channel};Text of post {i} #spring;{when};spring;a,b")
    return "\n".join(lines) + "\n"


class StatementCounter:
    def __init__(self, runtime: Runtime) -> None:
        self.count = 0
        event.listen(runtime.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, *_: object) -> None:
        self.count += 1


async def one_run(
    client: httpx.AsyncClient,
    desk: Desk,
    rows: int,
    n: int,
    counter: StatementCounter,
    profile: bool,
) -> tuple[float, float, int]:
    brand = await desk.brand(f"bench-{n}")
    channels = [await desk.channel(brand, network) for network in NETWORKS]
    body = csv_body(channels, rows, datetime.now(UTC).replace(tzinfo=None) + timedelta(days=30))
    url = f"/brands/{brand}/publications/import"
    headers = {**desk.headers, "Content-Type": "text/csv"}
    began = time.perf_counter()
    dry = await client.post(url, params={"dry_run": "true"}, content=body, headers=headers)
    dry_s = time.perf_counter() - began
    assert dry.status_code == 200 and dry.json()["refused"] == 0, dry.text[:2000]
    profiler = cProfile.Profile() if profile else None
    before = counter.count
    began = time.perf_counter()
    if profiler:
        profiler.enable()
    done = await client.post(url, content=body, headers=headers)
    if profiler:
        profiler.disable()
    import_s = time.perf_counter() - began
    assert done.status_code == 201 and done.json()["accepted"] == rows, done.text[:2000]
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    return dry_s, import_s, counter.count - before


async def bench(runtime: Runtime, rows: int, repeat: int, profile: bool) -> None:
    app = create_app(runtime.settings, runtime)
    counter = StatementCounter(runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=600) as c:
        tenant = await make_tenant(runtime, "bench")
        desk = Desk(c, runtime, tenant)
        hook = await c.post(
            "/webhooks", json={"url": "https://hooks.example.com/agency"}, headers=desk.headers
        )
        assert hook.status_code == 201, hook.text
        for n in range(repeat):
            dry_s, import_s, statements = await one_run(c, desk, rows, n, counter, profile)
            print(
                f"run {n + 1}: {rows} rows, dry run {dry_s:.2f}s, import {import_s:.2f}s "
                f"({statements} statements, {statements / rows:.2f} a row)",
                flush=True,
            )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    pg = PostgresServer()
    redis = RedisServer()
    try:
        pg.create_role(OWNER, "owner-pw")
        pg.create_role(APP_ROLE, "app-pw")
        pg.create_database(DB, owner=OWNER)
        settings = make_settings(pg, redis.url)
        upgrade(settings)
        runtime = build_runtime(settings)
        asyncio.run(bench(runtime, args.rows, args.repeat, args.profile))
        return 0
    finally:
        with contextlib.suppress(Exception):
            redis.close()
        pg.close()


if __name__ == "__main__":
    raise SystemExit(main())
