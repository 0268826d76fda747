"""Reporting at scale: a brand's monthly report, the agency's consolidation, and collection.

On a throwaway PostgreSQL with the app's schema (partitioned raw table included), one agency
holds 1,000 brands and 10,000 channels with 13 months of history: about a million published
posts, each read 6 times (``metric_snapshots``), and every channel's daily follower count:
**10 million raw snapshots** and the rollups they make (``_reporting_data.py``). Then:

* ``GET /brands/{id}/report`` for a month with its previous-period comparison, 16
  concurrent requests on 16 brands in rotation, served by uvicorn (2 workers): p95 next
  to the goal of 200 ms;
* the same with the process's report cache off (``AGENCY_REPORTING__REPORT_CACHE_SIZE=0``):
  every request computes its report;
* the floor of a kept report: its one stamp statement through raw asyncpg (BEGIN, RLS
  bound, the stamp, COMMIT), 16 at a time on the same 16 brands;
* ``GET /reports`` (every brand of the agency, a month and the one before): p95 next to
  the goal of 1 s;
* collection: due post pulls claimed by the scheduler's claim and recorded by the worker's
  own code (snapshot, latest figures, rollups) against an in-process network that answers
  at once: pulls per second next to what 100,000 posts in their first week need.

    .venv/bin/python benchmarks/reporting.py           # 10M snapshots, 7 to 25 minutes
    .venv/bin/python benchmarks/reporting.py --quick   # 1M snapshots, a few minutes
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks`, `tests` importable

import asyncpg  # type: ignore[import-untyped]
from tests.support.servers import free_port

from agency.kernel.migrate import upgrade
from benchmarks._data import APP_PW, APP_ROLE, DB, machine_info, make_settings, start_postgres
from benchmarks._load import HEADER, CpuProbe, drive, raw_get, row, run_on_uvloop, summarise
from benchmarks._reporting_data import (
    FULL,
    QUICK,
    Seeded,
    collection_rate,
    explain,
    seed,
    stamp_sql,
)
from benchmarks._server import _http_get, server_env, uvicorn_server

GOAL_BRAND_P95_MS = 200.0
GOAL_AGENCY_P95_MS = 1000.0
BRAND_CONCURRENCY = 16
# 100,000 posts in their first week: pulls at 1 h, 6 h, 24 h, 3 d and 7 d, so 500,000 pulls
# in a week on average; and if all of them go out in the same hour, their 1 h pulls all
# fall due within one hour.
FIRST_WEEK_PULLS = 100_000 * 5
AVERAGE_FLOOR = FIRST_WEEK_PULLS / (7 * 24 * 3600)
BURST_FLOOR = 100_000 / 3600


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def p95(latencies_ns: Sequence[int]) -> float:
    ordered = sorted(latencies_ns)
    return ordered[max(0, round(0.95 * len(ordered) + 0.5) - 1)] / 1e6 if ordered else float("nan")


def month_params(month: date) -> str:
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    end = date.fromordinal(following.toordinal() - 1)
    return f"start={month.isoformat()}&end={end.isoformat()}"


def check(port: int, seeded: Seeded, path: str) -> dict[str, Any]:
    status, body = _http_get(port, path, seeded.token)
    if status != 200:
        raise RuntimeError(f"{path} answered {status}: {body[:300]!r}")
    found: dict[str, Any] = json.loads(body)
    return found


async def stamp_floor(pg: Any, seeded: Seeded, seconds: float) -> dict[str, float]:
    """The stamp statement through raw asyncpg, 16 connections each on its own brand."""
    statements = [stamp_sql(seeded, b) for b in seeded.brand_ids[:BRAND_CONCURRENCY]]
    dsn = pg.url(APP_ROLE, APP_PW, DB)
    connections = [await asyncpg.connect(dsn) for _ in statements]
    latencies: list[int] = []
    stop = time.perf_counter() + seconds

    async def loop(conn: Any, sql: str) -> None:
        while time.perf_counter() < stop:
            started = time.perf_counter_ns()
            async with conn.transaction():
                await conn.execute(
                    "SELECT set_config('app.agency_id', $1, true)", str(seeded.agency_id)
                )
                await conn.fetchrow(sql)
            latencies.append(time.perf_counter_ns() - started)

    try:
        await asyncio.gather(
            *(loop(c, sql) for c, sql in zip(connections, statements, strict=True))
        )
    finally:
        for conn in connections:
            await conn.close()
    return {
        "requests": len(latencies),
        "p50_ms": statistics.median(latencies) / 1e6,
        "p95_ms": p95(latencies),
        "rps": len(latencies) / seconds,
    }


def brand_rounds(
    args: argparse.Namespace, port: int, seeded: Seeded, probe: CpuProbe, label: str
) -> dict[str, Any]:
    query = month_params(seeded.report_month)
    brand_requests = [
        raw_get(port, f"/brands/{b}/report?{query}", seeded.token)
        for b in seeded.brand_ids[:BRAND_CONCURRENCY]
    ]
    samples = []
    for rnd in range(1, args.repeat + 1):
        sample = run_on_uvloop(
            drive(port, brand_requests, BRAND_CONCURRENCY, args.warmup, args.duration, probe)
        )
        samples.append(sample)
        print(row(summarise(label, args.workers, BRAND_CONCURRENCY, str(rnd), sample)))
        if sample.errors:
            print(f"    statuses: {sample.statuses}")
    latencies = [ns for s in samples for ns in s.latencies_ns]
    return {
        "concurrency": BRAND_CONCURRENCY,
        "requests": len(latencies),
        "errors": sum(s.errors for s in samples),
        "p50_ms": statistics.median(latencies) / 1e6,
        "p95_ms": p95(latencies),
        "rps": len(latencies) / sum(s.elapsed for s in samples),
    }


def measure_uncached(args: argparse.Namespace, pg: Any, seeded: Seeded) -> dict[str, Any]:
    """The brand reports with the cache off: every request computes its report."""
    env = server_env(pg, pool_size=10, max_overflow=10)
    env["AGENCY_REPORTING__REPORT_CACHE_SIZE"] = "0"
    port = free_port()
    with uvicorn_server(env, args.workers, port) as pid:
        probe = CpuProbe(server_pid=pid, postgres_pid=pg.pid or 0)
        print(f"\n{HEADER}")
        return brand_rounds(args, port, seeded, probe, "brand, no cache")


def measure(args: argparse.Namespace, pg: Any, seeded: Seeded) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    env = server_env(pg, pool_size=10, max_overflow=10)
    port = free_port()
    query = month_params(seeded.report_month)
    with uvicorn_server(env, args.workers, port) as pid:
        probe = CpuProbe(server_pid=pid, postgres_pid=pg.pid or 0)
        sample_brand = check(port, seeded, f"/brands/{seeded.brand_ids[0]}/report?{query}")
        print(
            f"\na brand's month: {sample_brand['current']['posts']} posts, "
            f"{len(sample_brand['networks'])} networks, "
            f"{sum(len(n['channels']) for n in sample_brand['networks'])} channels, "
            f"previous period {sample_brand['previous_period']}"
        )
        agency = check(port, seeded, f"/reports?{query}")
        print(
            f"the agency's month: {len(agency['brands'])} brands, "
            f"{agency['current']['posts']:,} posts"
        )

        print(f"\n{HEADER}")
        figures["brand"] = brand_rounds(args, port, seeded, probe, "brand")
        agency_samples = []
        agency_request = [raw_get(port, f"/reports?{query}", seeded.token)]
        for concurrency in (1, 4):
            sample = run_on_uvloop(
                drive(port, agency_request, concurrency, args.warmup, args.duration, probe)
            )
            agency_samples.append((concurrency, sample))
            print(row(summarise("agency", args.workers, concurrency, "1", sample)))
    figures["agency"] = {
        str(c): {"requests": len(s.latencies_ns), "errors": s.errors, "p95_ms": p95(s.latencies_ns)}
        for c, s in agency_samples
    }
    return figures


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add = parser.add_argument
    add("--quick", action="store_true", help="100 brands, 1,000 channels, about 1M snapshots")
    add("--workers", type=int, default=2, help="uvicorn workers")
    add("--warmup", type=float, default=3.0)
    add("--duration", type=float, default=15.0)
    add("--repeat", type=int, default=2)
    add("--pulls", type=int, default=5000, help="post pulls in the collection run")
    add("--json", type=Path, default=None, help="also write every figure here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    scale = QUICK if args.quick else FULL
    t0 = time.perf_counter()
    pg = start_postgres()
    try:
        info = machine_info(pg)
        print("machine:", ", ".join(f"{k}={v}" for k, v in info.items()))
        print("load average at start (other work on the machine):", load_average())
        settings = make_settings(pg)
        upgrade(settings)
        t_seed = time.perf_counter()
        seeded = seed(pg, settings, scale)
        print(f"seeded in {time.perf_counter() - t_seed:.0f} s: {seeded.counts}", flush=True)
        for title, lines in explain(pg, seeded).items():
            print(f"\nEXPLAIN ANALYZE, {title} (app role, RLS on):")
            for line in lines:
                print("   ", line)
        figures = measure(args, pg, seeded)
        figures["brand_uncached"] = measure_uncached(args, pg, seeded)
        figures["stamp_floor"] = run_on_uvloop(stamp_floor(pg, seeded, args.duration))
        rate = run_on_uvloop(collection_rate(settings, seeded, args.pulls))
        figures["collection"] = rate
        figures["load_average_at_end"] = load_average()
        print("load average at the end:", figures["load_average_at_end"])
        brand, agency = figures["brand"], figures["agency"]
        print("\ngoals")
        print(
            f"  brand report p95 at {BRAND_CONCURRENCY} concurrent: {brand['p95_ms']:.1f} ms "
            f"(p50 {brand['p50_ms']:.1f} ms, {brand['rps']:.0f} req/s, {brand['errors']} errors)"
            f" vs goal < {GOAL_BRAND_P95_MS:g} ms: "
            f"{'met' if brand['p95_ms'] < GOAL_BRAND_P95_MS and not brand['errors'] else 'MISSED'}"
        )
        for name, title in (("brand_uncached", "cache off"), ("stamp_floor", "floor")):
            found = figures[name]
            print(
                f"  {title}: p50 {found['p50_ms']:.1f} ms, p95 {found['p95_ms']:.1f} ms at "
                f"{BRAND_CONCURRENCY} concurrent ({found['rps']:.0f} req/s)"
            )
        for concurrency, found in agency.items():
            ok = found["p95_ms"] < GOAL_AGENCY_P95_MS and not found["errors"]
            print(
                f"  agency consolidation p95 at {concurrency} concurrent: {found['p95_ms']:.1f} ms"
                f" vs goal < {GOAL_AGENCY_P95_MS:g} ms: {'met' if ok else 'MISSED'}"
            )
        print(
            f"  collection: {rate['pulls_per_second']:.0f} post pulls/s on one worker thread "
            f"({rate['pulls']:,} pulls in {rate['seconds']:.1f} s, claims included) vs "
            f"{AVERAGE_FLOOR:.2f}/s for 100,000 posts' first week on average and "
            f"{BURST_FLOOR:.1f}/s if they all go out in the same hour: "
            f"{'met' if rate['pulls_per_second'] > BURST_FLOOR else 'MISSED'}"
        )
        if args.json is not None:
            args.json.write_text(
                json.dumps({"machine": info, "counts": seeded.counts, **figures}, indent=2)
            )
    finally:
        pg.close()
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
