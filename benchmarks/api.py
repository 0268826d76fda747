"""Throughput and latency of a tenant-scoped list endpoint next to a bare Litestar endpoint.

On a throwaway PostgreSQL with the app's schema, 10,000 agencies and 1,000,000 audit events
(``_data.py``), the app is served by uvicorn in a child process (1, then 2 workers;
``_server.py``) and one and the same load generator (``_load.py``) drives, alternately,

* ``GET /audit-events?limit=50``: authenticated (API token), tenant-scoped (RLS plus the
  app filter), the newest 50 of a tenant's events with a cursor; and
* ``GET /bench/floor?limit=50``: the floor, the same statements through raw asyncpg in a
  handler of the same app (authentication's call, the page, JSON); and
* ``GET /bench/bare``: a public handler returning ``{"status": "ok"}`` on the same app.

It prints both endpoints' throughput and latency, the ratio of their throughputs and whether
the goals are met. Before the HTTP runs, an in-process breakdown (``_breakdown.py``) times the
pieces of one list request; ``--profile`` adds a run of a 1-worker server that samples its
own stack (``_profile.py``). Only 127.0.0.1 is contacted; every loop is bounded.

    .venv/bin/python benchmarks/api.py            # full run, about 6 minutes on 2 cores
    .venv/bin/python benchmarks/api.py --quick    # smoke test, 1,000 agencies, under a minute
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks`, `tests` importable

from tests.support.servers import PostgresServer, free_port

from agency.config import DatabaseSettings
from agency.kernel.migrate import upgrade
from benchmarks._breakdown import breakdown, print_costs
from benchmarks._data import (
    FULL,
    QUICK,
    CalendarScene,
    analyze_calendar,
    explain_list_query,
    machine_info,
    make_settings,
    mint_tokens,
    seed,
    seed_calendar,
    start_postgres,
)
from benchmarks._load import (
    HEADER,
    CpuProbe,
    Result,
    Sample,
    drive,
    pool,
    raw_get,
    row,
    run_on_uvloop,
    summarise,
)
from benchmarks._profile import print_profile
from benchmarks._server import (
    BARE_PATH,
    FLOOR_PATH,
    LIST_PATH,
    ROOT,
    sanity_check,
    server_env,
    uvicorn_server,
)

GOAL_RATIO = 0.5
GOAL_P99_MS = 25.0
GOAL_CONCURRENCY = 64
GOAL_LIST_CPU_MS = 1.0
GOAL_CALENDAR_P95_MS = 30.0
CALENDAR_WORKERS = 2
CALENDAR_CONCURRENCY = 16

Tokens = Sequence[tuple[uuid.UUID, str]]


def _int_list(value: str) -> list[int]:
    return [int(v) for v in value.split(",") if v.strip()]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add = parser.add_argument
    add("--quick", action="store_true", help="1,000 agencies, 100,000 events, short runs")
    add("--workers", type=_int_list, default=[1, 2], help="uvicorn workers, e.g. 1,2")
    add("--concurrency", type=_int_list, default=[GOAL_CONCURRENCY], help="e.g. 16,64")
    add("--warmup", type=float, default=None, help="seconds per run, not measured")
    add("--duration", type=float, default=None, help="measured seconds per run")
    add("--repeat", type=int, default=None, help="rounds of bare + list")
    add("--pool-size", type=int, default=None, help="app default unless set")
    add("--max-overflow", type=int, default=None, help="app default unless set")
    add("--no-breakdown", action="store_true", help="skip the in-process breakdown")
    add("--no-calendar", action="store_true", help="skip the calendar scenario")
    add("--profile", action="store_true", help="finally, profile a 1-worker server under load")
    add("--json", type=Path, default=None, help="also write every figure here")
    add(
        "--baseline",
        type=Path,
        default=None,
        help="another checkout of the app (same migrations): every server runs from it too, "
        "its endpoints named with a trailing '-b', side by side with this tree's",
    )
    args = parser.parse_args(argv)
    scale = QUICK if args.quick else FULL
    fields = DatabaseSettings.model_fields
    for name, default in (
        ("warmup", scale.warmup),
        ("duration", scale.duration),
        ("repeat", scale.repeat),
        ("pool_size", fields["pool_size"].default),
        ("max_overflow", fields["max_overflow"].default),
    ):
        if getattr(args, name) is None:
            setattr(args, name, default)
    args.scale = scale
    return args


def trees(args: argparse.Namespace) -> list[tuple[str, Path]]:
    """The source trees served, each with the suffix of its endpoints' names: the baseline
    first when one is given, then this one."""
    here = [("", ROOT)]
    return [("-b", args.baseline.resolve()), *here] if args.baseline else here


def measure_http(args: argparse.Namespace, pg: PostgresServer, tokens: Tokens) -> list[Result]:
    """For each worker count and concurrency: ``repeat`` rounds of bare, floor, then list."""
    results: list[Result] = []
    env = server_env(pg, args.pool_size, args.max_overflow)
    for workers, (suffix, root) in itertools.product(args.workers, trees(args)):
        port = free_port()
        with uvicorn_server(env, workers, port, root) as pid:
            sanity_check(port, tokens[0][1])
            probe = CpuProbe(server_pid=pid, postgres_pid=pg.pid or 0)
            endpoints = {
                name + suffix: [raw_get(port, path, token) for _, token in tokens]
                for name, path in (
                    ("bare", BARE_PATH),
                    ("floor", FLOOR_PATH),
                    ("list", LIST_PATH),
                )
            }
            print(f"\n{HEADER}")
            for concurrency in args.concurrency:
                samples: dict[str, list[Sample]] = {name: [] for name in endpoints}
                for rnd in range(1, args.repeat + 1):
                    for name, requests in endpoints.items():
                        sample = run_on_uvloop(
                            drive(port, requests, concurrency, args.warmup, args.duration, probe)
                        )
                        samples[name].append(sample)
                        results.append(summarise(name, workers, concurrency, str(rnd), sample))
                        print(row(results[-1]), flush=True)
                        if sample.errors:
                            print(f"    statuses: {sample.statuses}")
                for name, taken in samples.items():
                    results.append(summarise(name, workers, concurrency, "all", pool(taken)))
                    if len(taken) > 1:
                        print(row(results[-1]), flush=True)
    return results


def measure_calendar(
    args: argparse.Namespace, pg: PostgresServer, scene: CalendarScene
) -> tuple[list[Result], dict[str, Any]]:
    """A month of one brand's calendar (10 channels, 300 publications), 16 concurrent
    requests on 2 workers: the read a frontend calls most, against its p95 goal. Served with
    the process's calendar cache off (``cal-off``: every answer made anew) and on
    (``calendar``: the load reads, nothing writes, so every answer after the first is kept),
    and from the baseline tree when one is given (``cal-b``)."""
    env = server_env(pg, args.pool_size, args.max_overflow)
    off = {**env, "AGENCY_PUBLISHING__CALENDAR_CACHE_SIZE": "0"}
    runs = [("cal-off", off, ROOT), ("calendar", env, ROOT)]
    if args.baseline:
        runs.insert(0, ("cal-b", env, args.baseline.resolve()))
    results: list[Result] = []
    print(f"\ncalendar: GET {scene.path.partition('?')[0]} over a month\n{HEADER}")
    pooled: dict[str, Result] = {}
    for name, run_env, root in runs:
        port = free_port()
        with uvicorn_server(run_env, CALENDAR_WORKERS, port, root) as pid:
            probe = CpuProbe(server_pid=pid, postgres_pid=pg.pid or 0)
            requests = [raw_get(port, scene.path, scene.token)]
            samples = []
            for rnd in range(1, args.repeat + 1):
                sample = run_on_uvloop(
                    drive(port, requests, CALENDAR_CONCURRENCY, args.warmup, args.duration, probe)
                )
                samples.append(sample)
                results.append(
                    summarise(name, CALENDAR_WORKERS, CALENDAR_CONCURRENCY, str(rnd), sample)
                )
                print(row(results[-1]), flush=True)
            pooled[name] = summarise(
                name, CALENDAR_WORKERS, CALENDAR_CONCURRENCY, "all", pool(samples)
            )
            results.append(pooled[name])
            if len(samples) > 1:
                print(row(pooled[name]), flush=True)
    measured = pooled["calendar"]
    met = measured.p95_ms < GOAL_CALENDAR_P95_MS and measured.errors == 0
    print(
        f"    goal calendar p95 < {GOAL_CALENDAR_P95_MS:g} ms at {CALENDAR_CONCURRENCY} "
        f"concurrent on {CALENDAR_WORKERS} workers (measured {measured.p95_ms:.1f} ms, "
        f"{pooled['cal-off'].p95_ms:.1f} ms with the cache off): {_met(met)}"
    )
    return results, {"calendar_p95_ms": measured.p95_ms, "calendar_p95_met": met}


def report(results: Sequence[Result]) -> list[dict[str, Any]]:
    """Print the ratio list rps / bare rps and the goals, per worker count and concurrency."""
    print("\nratio = tenant-scoped list rps / bare rps (same server, same load generator)")
    verdict: list[dict[str, Any]] = []
    pooled = {(r.endpoint, r.workers, r.concurrency): r for r in results if r.round == "all"}
    for (endpoint, workers, concurrency), listed in pooled.items():
        if not endpoint.startswith("list"):
            continue
        suffix = endpoint.removeprefix("list")
        bare = pooled[("bare" + suffix, workers, concurrency)]
        floor = pooled[("floor" + suffix, workers, concurrency)]
        ratio = listed.rps / bare.rps if bare.rps else float("nan")
        line = f"  {endpoint} workers={workers} concurrency={concurrency}: "
        line += f"{listed.rps:,.0f} / {bare.rps:,.0f} = {ratio:.3f}"
        line += (
            f"\n    server CPU ms/request: list {listed.server_cpu_ms_per_request:.2f}, "
            f"floor {floor.server_cpu_ms_per_request:.2f}, bare "
            f"{bare.server_cpu_ms_per_request:.2f} (goal: list <= {GOAL_LIST_CPU_MS:g})"
        )
        ratios = [
            a / b
            for a, b in zip(
                _round_rps(results, endpoint, workers, concurrency),
                _round_rps(results, "bare" + suffix, workers, concurrency),
                strict=True,
            )
            if b
        ]
        if len(ratios) > 1:
            line += f" (rounds {min(ratios):.3f}..{max(ratios):.3f})"
        entry: dict[str, Any] = {
            "endpoint": endpoint,
            "workers": workers,
            "concurrency": concurrency,
            "ratio": ratio,
            "list_cpu_ms": listed.server_cpu_ms_per_request,
            "floor_cpu_ms": floor.server_cpu_ms_per_request,
            "list_cpu_met": listed.server_cpu_ms_per_request <= GOAL_LIST_CPU_MS,
        }
        if concurrency == GOAL_CONCURRENCY:
            ratio_ok = ratio >= GOAL_RATIO
            p99_ok = listed.p99_ms < GOAL_P99_MS and listed.errors == 0
            entry |= {"ratio_met": ratio_ok, "p99_met": p99_ok}
            line += (
                f"\n    goal ratio >= {GOAL_RATIO}: {_met(ratio_ok)}; "
                f"goal list p99 < {GOAL_P99_MS:g} ms at {GOAL_CONCURRENCY} concurrent "
                f"(measured {listed.p99_ms:.1f} ms): {_met(p99_ok)}"
            )
        verdict.append(entry)
        print(line)
    return verdict


def _round_rps(results: Sequence[Result], endpoint: str, workers: int, conc: int) -> list[float]:
    return [
        r.rps
        for r in results
        if (r.endpoint, r.workers, r.concurrency) == (endpoint, workers, conc) and r.round != "all"
    ]


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def profile_run(args: argparse.Namespace, pg: PostgresServer, tokens: Tokens) -> None:
    """Load a 1-worker server that samples its own stack with the list endpoint; print it."""
    path = Path(tempfile.mkdtemp(prefix="bench-profile-")) / "profile.json"
    env = server_env(pg, args.pool_size, args.max_overflow, profile=path)
    port, concurrency = free_port(), args.concurrency[-1]
    with uvicorn_server(env, 1, port) as pid:
        probe = CpuProbe(server_pid=pid, postgres_pid=pg.pid or 0)
        requests = [raw_get(port, LIST_PATH, token) for _, token in tokens]
        # No warm-up: the sampler's CPU total then covers exactly these requests.
        sample = run_on_uvloop(drive(port, requests, concurrency, 0.0, args.duration, probe))
    print(f"\nprofiled run (1 worker, sampler on, list only, {concurrency} conns):\n{HEADER}")
    print(row(summarise("list", 1, concurrency, "prof", sample)))
    print_profile(path, len(sample.latencies_ns))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    scale = args.scale
    t0 = time.perf_counter()
    pg = start_postgres()
    try:
        info = machine_info(pg)
        print("machine:", ", ".join(f"{k}={v}" for k, v in info.items()))
        settings = make_settings(pg)
        upgrade(settings)
        tokens = asyncio.run(mint_tokens(settings, scale.tenants))
        print(f"setup: PostgreSQL on {pg.port}, migrated, {len(tokens)} API tokens", flush=True)
        t_seed = time.perf_counter()
        seed(pg, scale)
        print(
            f"seeded {scale.agencies:,} agencies and {scale.events:,} audit events "
            f"in {time.perf_counter() - t_seed:.1f} s",
            flush=True,
        )
        print("\nEXPLAIN ANALYZE of the list query (app role, RLS on):")
        for line in explain_list_query(pg, tokens[0][0]):
            print("   ", line)

        costs = []
        if not args.no_breakdown:
            costs = run_on_uvloop(breakdown(settings, pg, tokens[0], scale.breakdown_ops))
            print_costs(costs, scale.breakdown_ops)

        print(
            f"\nload: {args.warmup:g} s warm-up + {args.duration:g} s measured per run, "
            f"{args.repeat} round(s) of bare then list; pool {args.pool_size}+"
            f"{args.max_overflow} connections per worker; tokens of {len(tokens)} agencies "
            "in rotation\ncpu srv/pg/gen: cores busy in the measured window (uvicorn, "
            "PostgreSQL, load generator); srv ms/req: server CPU per request"
        )
        results = measure_http(args, pg, tokens)
        verdict = report(results)
        if not args.no_calendar:
            scene = asyncio.run(seed_calendar(settings))
            analyze_calendar(pg)
            calendar_results, calendar_verdict = measure_calendar(args, pg, scene)
            results += calendar_results
            verdict.append(calendar_verdict)
        if args.profile:
            profile_run(args, pg, tokens)
        if args.json is not None:
            figures = {
                "machine": info,
                "scale": asdict(scale),
                "options": {k: v for k, v in vars(args).items() if k not in ("scale", "json")},
                "breakdown": [asdict(c) for c in costs],
                "results": [asdict(r) for r in results],
                "goals": verdict,
            }
            args.json.write_text(json.dumps(figures, indent=2, default=str))
    finally:
        pg.close()
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
