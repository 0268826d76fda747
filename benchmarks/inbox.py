"""The inbox at scale: one brand's list under load, and how soon a new comment is listed.

On a throwaway PostgreSQL with the app's schema, several agencies share 1,000 brands (3
channels each, 10 followed posts per channel) and their inbox: 100,000 messages arrived
over the last day and 6 days of history before it (700,000 messages), triaged (origin,
type, why, deadline, status) as collection leaves them. Then:

* **list**: ``GET /inbox/messages?brand_id=...&limit=50`` (the inbox of one brand, newest
  first) at 16 concurrent requests on 2 uvicorn workers, 16 brands of 8 agencies in
  rotation, each with its agency's API token: p50/p95/p99 and server CPU per request, next
  to ``/bench/bare`` on the same server and to the **floor**, the same page's statement
  through raw asyncpg (BEGIN, the agency bound for RLS, the SELECT, COMMIT), 16 at a time;
* **visibility**: channels fall due as the 5-minute rhythm spreads them (3,000 channels:
  10 a second). A scheduler loop ticks every second, claims the due channels with the
  app's claim and runs the app's collecting job (4 at a time, like a worker's 4 threads)
  against an in-process stand-in network that answers each thread with one new comment
  after ``--network-ms`` (150 ms: a network's API round trip). After each job, the
  brand's inbox is read through the HTTP API until the new comment is listed: the time
  from the channel being due to that response is the figure, p95 against 5 s.

    .venv/bin/python benchmarks/inbox.py           # full scale, under 3 minutes on 2 cores
    .venv/bin/python benchmarks/inbox.py --quick   # 100 brands, 70,000 messages, a minute
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks`, `tests` importable

import asyncpg  # type: ignore[import-untyped]
import httpx
import psycopg
from tests.support.servers import PostgresServer, free_port

from agency.access.permissions import Permission
from agency.assembly import build_runtime
from agency.channel.credentials import seal
from agency.config import Settings
from agency.connector import Capability, Connector, Credentials, Limits
from agency.connector.registry import Registry
from agency.connector.types import Comment
from agency.inbox.collecting import Collector
from agency.inbox.repository import LISTED, InboxSweepRepository
from agency.kernel.db import utcnow
from agency.kernel.migrate import upgrade
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import bind_system
from benchmarks._data import (
    APP_PW,
    APP_ROLE,
    DB,
    OWNER,
    OWNER_PW,
    UUID7_AT,
    machine_info,
    make_settings,
    mint_tokens,
    start_postgres,
)
from benchmarks._load import HEADER, CpuProbe, Sample, drive, raw_get, row, run_on_uvloop, summarise
from benchmarks._profile import print_profile
from benchmarks._reporting_data import _insert_select, brand_columns
from benchmarks._server import BARE_PATH, _http_get, server_env, uvicorn_server
from benchmarks.reporting import load_average

GOAL_LIST_P95_MS = 50.0
GOAL_VISIBLE_P95_S = 5.0
CONCURRENCY = 16
WORKERS = 2
NETWORKS = ("facebook", "instagram", "x", "linkedin", "mastodon")
CHANNELS_PER_BRAND = 3
THREADS_PER_CHANNEL = 10
HISTORY_DAYS = 6
JOBS_AT_ONCE = 4  # one worker process's threads (AGENCY_WORKER__THREADS)


@dataclass(frozen=True)
class Scale:
    agencies: int
    brands: int
    messages_per_day: int
    warmup: float
    duration: float
    visibility_seconds: float  # how long channels keep falling due


FULL = Scale(8, 1000, 100_000, warmup=3, duration=15, visibility_seconds=60)
QUICK = Scale(4, 100, 10_000, warmup=1, duration=4, visibility_seconds=30)


@dataclass(frozen=True)
class Agency:
    id: uuid.UUID
    token: str


async def _agencies(settings: Settings, count: int) -> list[Agency]:
    """``count`` agencies, each with a ``comments:read`` API token, with the app's code."""
    minted = await mint_tokens(settings, count, (Permission.COMMENTS_READ.value,))
    return [Agency(agency_id, token) for agency_id, token in minted]


def seed(
    pg: PostgresServer, agencies: Sequence[Agency], scale: Scale, sealed: str
) -> dict[str, int]:
    """Brands round-robin over the agencies, their channels, followed posts and messages."""
    counts: dict[str, int] = {}
    channels = scale.brands * CHANNELS_PER_BRAND
    threads = channels * THREADS_PER_CHANNEL
    with psycopg.connect(pg.url(OWNER, OWNER_PW, DB), autocommit=True) as conn:
        conn.execute("SELECT set_config('app.system', 'on', false)")  # RLS is forced on owner
        conn.execute(UUID7_AT)
        conn.execute("CREATE TEMP TABLE bench_agency (n int PRIMARY KEY, id uuid)")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO bench_agency VALUES (%s, %s)",
                [(n, a.id) for n, a in enumerate(agencies)],
            )
        counts["brands"] = _insert_select(
            conn,
            "brands",
            brand_columns("a.id"),
            f"generate_series(0, {scale.brands - 1}) AS g "
            f"JOIN bench_agency a ON a.n = g % {len(agencies)}",
        )
        conn.execute(
            "CREATE TEMP TABLE bench_brand AS SELECT (row_number() OVER (ORDER BY id) - 1)::int "
            "AS n, id, agency_id FROM brands"
        )
        conn.execute("CREATE UNIQUE INDEX ON bench_brand (n)")
        networks = "ARRAY[" + ", ".join(f"'{n}'" for n in NETWORKS) + "]"
        counts["channels"] = _insert_select(
            conn,
            "channels",
            {
                "id": "pg_temp.uuid7_at(now() - interval '399 days' + g * interval '1 second')",
                "agency_id": "b.agency_id",
                "brand_id": "b.id",
                "network": f"({networks})[1 + g % {len(NETWORKS)}]",
                "account_id": "'acct-' || g",
                "account_kind": "'page'",
                "name": "'Account ' || g",
                "scopes": "'[]'",
                "refreshable": "false",
                "health": "'ok'",
                "credentials": f"'{sealed}'",
                "connected_at": "now()",
                "version": "1",
                "created_at": "now()",
            },
            f"generate_series(0, {channels - 1}) AS g "
            f"JOIN bench_brand b ON b.n = g / {CHANNELS_PER_BRAND}",
        )
        conn.execute(
            "CREATE TEMP TABLE bench_channel AS SELECT (row_number() OVER (ORDER BY id) - 1)::int"
            " AS n, id, brand_id, agency_id, network FROM channels"
        )
        conn.execute("CREATE UNIQUE INDEX ON bench_channel (n)")
        # Followed, read a minute ago, next pull far away: the visibility run sets its own.
        counts["inbox_channels"] = _insert_select(
            conn,
            "inbox_channels",
            {
                "id": "c.id",
                "agency_id": "c.agency_id",
                "brand_id": "c.brand_id",
                "network": "c.network",
                "next_pull_at": "now() + interval '1 day'",
                "cursor": "now() - interval '1 minute'",
                "last_pulled_at": "now() - interval '1 minute'",
                "created_at": "now()",
            },
            "bench_channel c",
        )
        counts["inbox_threads"] = _insert_select(
            conn,
            "inbox_threads",
            {
                "id": "pg_temp.uuid7_at(now() - interval '14 days' + g * interval '10 ms')",
                "agency_id": "c.agency_id",
                "brand_id": "c.brand_id",
                "channel_id": "c.id",
                "network": "c.network",
                "post_id": "'post-' || g",
                "title": "'Post ' || g",
                "published_at": "now() - interval '14 days' + g * interval '10 ms'",
                "last_message_at": "now()",
                "created_at": "now()",
            },
            f"generate_series(0, {threads - 1}) AS g "
            f"JOIN bench_channel c ON c.n = g / {THREADS_PER_CHANNEL}",
        )
        conn.execute(
            "CREATE TEMP TABLE bench_thread AS SELECT (row_number() OVER (ORDER BY id) - 1)::int"
            " AS n, id, brand_id, channel_id, agency_id, network FROM inbox_threads"
        )
        conn.execute("CREATE UNIQUE INDEX ON bench_thread (n)")
        total = scale.messages_per_day * (1 + HISTORY_DAYS)
        span = f"interval '{24 * (1 + HISTORY_DAYS)} hours'"
        chunk = 200_000
        for start in range(0, total, chunk):
            stop = min(start + chunk, total)
            # Message g arrives at g * span / total from the start of the history, on thread
            # (g * 7919) mod threads: a brand's messages scattered over the table, in time order.
            _insert_select(
                conn,
                "inbox_messages",
                {
                    "id": "pg_temp.uuid7_at(t.ts)",
                    "agency_id": "th.agency_id",
                    "brand_id": "th.brand_id",
                    "channel_id": "th.channel_id",
                    "thread_id": "th.id",
                    "network": "th.network",
                    "network_id": "'c-' || g",
                    "parent_id": "CASE WHEN g % 4 = 0 THEN 'c-' || (g - 4) END",
                    "author_id": "'u-' || (g % 50000)",
                    "author_name": "'Person ' || (g % 50000)",
                    "text": "'Bonjour, une question sur la commande numéro ' || g || ' ?'",
                    "received_at": "t.ts",
                    "origin": "(ARRAY['customer', 'prospect', 'unknown', 'unknown', "
                    "'journalist', 'troll', 'influencer'])[1 + g % 7]",
                    "origin_why": "'No list or word of the brand matched.'",
                    "kind": "(ARRAY['question', 'complaint', 'praise', 'other', 'question', "
                    "'spam'])[1 + g % 6]",
                    "kind_why": "'\"?\" makes a question.'",
                    "status": "CASE WHEN g % 6 = 5 THEN 'closed' WHEN t.ts < now() - interval "
                    "'1 day' THEN (ARRAY['answered', 'closed'])[1 + g % 2] "
                    "ELSE (ARRAY['new', 'new', 'assigned', 'answered', 'waiting'])[1 + g % 5] END",
                    "due_at": "CASE WHEN g % 6 = 5 THEN NULL ELSE t.ts + interval '4 hours' END",
                    "answered_at": "CASE WHEN g % 2 = 0 AND t.ts < now() - interval '1 day' "
                    "THEN t.ts + interval '1 hour' END",
                    "hidden": "false",
                    "version": "1",
                    "created_at": "t.ts",
                },
                f"generate_series({start}, {stop - 1}) AS g "
                f"JOIN bench_thread th ON th.n = (g::bigint * 7919) % {threads} "
                f"CROSS JOIN LATERAL (SELECT now() - {span} + g * ({span} / {total})) AS t(ts) "
                "ORDER BY g",
            )
            print(f"  inbox_messages: {stop:,} / {total:,}", flush=True)
        counts["inbox_messages"] = total
        conn.execute(
            "VACUUM (ANALYZE) brands, channels, inbox_channels, inbox_threads, inbox_messages,"
            " credentials, memberships, users, agencies"
        )
    return counts


def brands_of(
    pg: PostgresServer, agencies: Sequence[Agency], count: int
) -> list[tuple[Agency, uuid.UUID]]:
    """``count`` brands, taken round-robin over the agencies."""
    with psycopg.connect(pg.url(OWNER, OWNER_PW, DB), autocommit=True) as conn:
        conn.execute("SELECT set_config('app.system', 'on', false)")
        found = []
        for i in range(count):
            agency = agencies[i % len(agencies)]
            rows = conn.execute(
                "SELECT id FROM brands WHERE agency_id = %s ORDER BY id OFFSET %s LIMIT 1",
                (agency.id, i // len(agencies)),
            ).fetchone()
            assert rows is not None
            found.append((agency, rows[0]))
    return found


# -- the list and its floor ---------------------------------------------------------------------

# The page's statement as the app's repository builds it (``MessageRepository.listed``: the
# listed columns, not deleted, of the brand, newest first, one row more than the page).
FLOOR_SQL = (
    "SELECT " + ", ".join(c.key for c in LISTED) + " FROM inbox_messages "
    "WHERE inbox_messages.agency_id = $1 "
    "AND inbox_messages.deleted_at IS NULL AND inbox_messages.brand_id = $2 "
    "ORDER BY inbox_messages.id DESC LIMIT 51"
)


def explain(pg: PostgresServer, agency: Agency, brand_id: uuid.UUID) -> list[str]:
    """EXPLAIN ANALYZE of the page's statement as the app role under RLS (the last of 3)."""
    sql = FLOOR_SQL.replace("$1", f"'{agency.id}'::uuid").replace("$2", f"'{brand_id}'::uuid")
    plan: list[str] = []
    with psycopg.connect(pg.url(APP_ROLE, APP_PW, DB)) as conn:
        conn.execute("SELECT set_config('app.agency_id', %s, true)", (str(agency.id),))
        for _ in range(3):
            rows = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}").fetchall()
            plan = [str(r[0]) for r in rows]
        conn.rollback()
    return plan


def list_path(brand_id: uuid.UUID) -> str:
    return f"/inbox/messages?brand_id={brand_id}&limit=50"


async def floor(
    pg: PostgresServer, brands: Sequence[tuple[Agency, uuid.UUID]], warmup: float, duration: float
) -> Sample:
    """The page's statement through raw asyncpg, ``CONCURRENCY`` at a time."""
    pool_ = await asyncpg.create_pool(
        f"postgresql://{APP_ROLE}:{APP_PW}@127.0.0.1:{pg.port}/{DB}",
        min_size=CONCURRENCY,
        max_size=CONCURRENCY,
    )
    latencies: list[int] = []
    begin = time.perf_counter_ns()
    measure_from = begin + int(warmup * 1e9)
    measure_to = measure_from + int(duration * 1e9)

    async def worker(i: int) -> None:
        agency, brand = brands[i % len(brands)]
        while (t0 := time.perf_counter_ns()) < measure_to:
            async with pool_.acquire() as conn, conn.transaction():
                await conn.execute("SELECT set_config('app.agency_id', $1, true)", str(agency.id))
                rows = await conn.fetch(FLOOR_SQL, agency.id, brand)
            t1 = time.perf_counter_ns()
            if len(rows) != 51:
                raise RuntimeError(f"floor read {len(rows)} rows, not 51")
            if t0 >= measure_from:
                latencies.append(t1 - t0)

    try:
        cpu0 = time.process_time()
        await asyncio.gather(*(worker(i) for i in range(CONCURRENCY)))
        cpu = time.process_time() - cpu0
    finally:
        await pool_.close()
    return Sample(latencies, {200: len(latencies)}, 0, duration, cpu, 0.0, 0.0)


def measure_list(
    pg: PostgresServer,
    brands: Sequence[tuple[Agency, uuid.UUID]],
    scale: Scale,
    port: int,
    pid: int,
) -> dict[str, Any]:
    agency, brand = brands[0]
    status, body = _http_get(port, list_path(brand), agency.token)
    page = json.loads(body) if status == 200 else {}
    if status != 200 or len(page.get("items", [])) != 50 or not page.get("next_cursor"):
        raise RuntimeError(f"inbox list answered {status}: {body[:300]!r}")
    probe = CpuProbe(server_pid=pid, postgres_pid=pg.pid or 0)
    requests = {
        "bare": [raw_get(port, BARE_PATH, None)],
        "inbox": [raw_get(port, list_path(b), a.token) for a, b in brands],
    }
    print(f"\nlist: GET /inbox/messages?brand_id=...&limit=50, {len(brands)} brands\n{HEADER}")
    figures: dict[str, Any] = {}
    for name, raws in requests.items():
        sample = run_on_uvloop(drive(port, raws, CONCURRENCY, scale.warmup, scale.duration, probe))
        result = summarise(name, WORKERS, CONCURRENCY, "1", sample)
        print(row(result), flush=True)
        if sample.errors:
            print(f"    statuses: {sample.statuses}")
        figures[name] = result
    sample = run_on_uvloop(floor(pg, brands, scale.warmup, scale.duration))
    floor_result = summarise("floor", 0, CONCURRENCY, "1", sample)
    print(row(floor_result) + "   (raw asyncpg from this process: srv = its CPU, the client's)")
    figures["floor"] = floor_result
    inbox = figures["inbox"]
    met = inbox.p95_ms < GOAL_LIST_P95_MS and inbox.errors == 0
    print(
        f"    goal inbox list p95 < {GOAL_LIST_P95_MS:g} ms at {CONCURRENCY} concurrent on "
        f"{WORKERS} workers (measured {inbox.p95_ms:.1f} ms; floor {floor_result.p95_ms:.1f} "
        f"ms): {'met' if met else 'MISSED'}"
    )
    return {k: vars(v) for k, v in figures.items()} | {"list_p95_met": met}


def profile_list(
    pg: PostgresServer, settings: Settings, brands: Sequence[tuple[Agency, uuid.UUID]], scale: Scale
) -> None:
    """The list alone on a 1-worker server that samples its own stack; where its time goes."""
    path = Path(tempfile.mkdtemp(prefix="bench-profile-")) / "profile.json"
    db = settings.database
    env = server_env(pg, db.pool_size, db.max_overflow, profile=path)
    port = free_port()
    with uvicorn_server(env, 1, port) as pid:
        probe = CpuProbe(server_pid=pid, postgres_pid=pg.pid or 0)
        raws = [raw_get(port, list_path(b), a.token) for a, b in brands]
        # No warm-up: the sampler's CPU total then covers exactly these requests.
        sample = run_on_uvloop(drive(port, raws, CONCURRENCY, 0.0, scale.duration, probe))
    print(f"\nprofiled run (1 worker, sampler on, inbox list only):\n{HEADER}")
    print(row(summarise("inbox", 1, CONCURRENCY, "prof", sample)))
    print_profile(path, len(sample.latencies_ns))


# -- visibility ---------------------------------------------------------------------------------


class StandInNetwork(Connector):
    """Every network of the seed, in this process: each read of a thread answers one new
    comment, written a second ago, after ``delay`` seconds (the API's round trip)."""

    network: ClassVar[str] = "facebook"
    display_name: ClassVar[str] = "Stand-in"
    default_base_url: ClassVar[str] = "http://stand-in.invalid"
    limits = Limits(max_text_length=500)
    capabilities = frozenset({Capability.COMMENTS})
    delay: ClassVar[float] = 0.15
    served: ClassVar[int] = 0

    async def comments(self, post_id: str, since: datetime | None = None) -> list[Comment]:
        await asyncio.sleep(self.delay)
        StandInNetwork.served += 1
        n = StandInNetwork.served
        return [
            Comment(
                comment_id=f"new-{n}",
                post_id=post_id,
                text=f"Bonjour, où en est ma commande {n} ?",
                author_id=f"fan-{n % 997}",
                author_name=f"Fan {n % 997}",
                created_at=utcnow() - timedelta(seconds=1),
            )
        ]


def stand_in_registry(delay: float) -> Registry:
    classes = [
        type(f"StandIn_{name}", (StandInNetwork,), {"network": name, "delay": delay})
        for name in NETWORKS
    ]
    return Registry(classes)


def schedule(pg: PostgresServer, scale: Scale, start_in: float, every: float) -> int:
    """Channels fall due one after another at the rate of the pull rhythm (``every``
    seconds over all channels), from ``start_in`` seconds on, for ``visibility_seconds``;
    the others stay far away. The channels due: their count."""
    with psycopg.connect(pg.url(OWNER, OWNER_PW, DB), autocommit=True) as conn:
        conn.execute("SELECT set_config('app.system', 'on', false)")
        total = int(conn.execute("SELECT count(*) FROM inbox_channels").fetchone()[0])  # type: ignore[index]
        gap = every / total
        count = max(1, int(scale.visibility_seconds / gap))
        cur = conn.execute(
            f"""
            UPDATE inbox_channels AS ic SET next_pull_at = clock_timestamp()
                + make_interval(secs => {start_in} + o.n * {gap}::float8), lease_until = NULL
            FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM inbox_channels) AS o
            WHERE o.id = ic.id AND o.n < {count}
            """
        )
        return cur.rowcount


async def visibility(
    settings: Settings,
    pg: PostgresServer,
    port: int,
    tokens: dict[uuid.UUID, str],
    scale: Scale,
    delay: float,
    jobs_at_once: int,
    reads_at_once: int,
) -> dict[str, Any]:
    settings = copy.copy(settings)
    settings.inbox = settings.inbox.model_copy(update={"pull_concurrency": reads_at_once})
    runtime = Runtime(settings, build_runtime(settings).broker, stand_in_registry(delay))
    seen: list[float] = []  # seconds from due to listed, one per channel
    jobs = asyncio.Semaphore(jobs_at_once)
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)
    due_of: dict[uuid.UUID, tuple[datetime, uuid.UUID]] = {}

    async def job(agency_id: uuid.UUID, channel_ids: list[uuid.UUID]) -> None:
        async with jobs, runtime.session() as session:
            await Collector(session, agency_id, runtime).pull(channel_ids)
            await session.commit()
        headers = {"Authorization": f"Bearer {tokens[agency_id]}"}
        await asyncio.gather(*(listed(channel_id, headers) for channel_id in channel_ids))

    async def listed(channel_id: uuid.UUID, headers: dict[str, str]) -> None:
        """The brand's inbox, newest first, read until this channel's new comment is there."""
        due, brand_id = due_of[channel_id]
        for _ in range(100):
            page = (await client.get(list_path(brand_id), headers=headers)).json()
            if any(
                m["channel_id"] == str(channel_id) and m["network_id"].startswith("new-")
                for m in page["items"]
            ):
                seen.append((datetime.now(UTC) - due).total_seconds())
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"channel {channel_id}: its new comment never listed")

    with psycopg.connect(pg.url(OWNER, OWNER_PW, DB), autocommit=True) as conn:
        conn.execute("SELECT set_config('app.system', 'on', false)")
        channels = schedule(pg, scale, 2.0, settings.inbox.pull_every_seconds)
        for cid, due, brand in conn.execute(
            "SELECT id, next_pull_at, brand_id FROM inbox_channels"
            " WHERE next_pull_at < now() + interval '1 hour'"
        ).fetchall():
            due_of[cid] = (due, brand)
    interval = settings.worker.scheduler_interval_seconds
    batch = settings.inbox.pull_batch
    tasks: list[asyncio.Task[None]] = []
    started = time.perf_counter()
    try:
        while len(seen) < channels and time.perf_counter() - started < scale.visibility_seconds * 4:
            async with runtime.session() as session:
                await bind_system(session)
                now = utcnow()
                lease = now + timedelta(seconds=settings.inbox.lease_seconds)
                rows = await InboxSweepRepository(session).claim_pulls(
                    now, lease, settings.inbox.claim_batch
                )
                await session.commit()
            by_agency: dict[uuid.UUID, list[uuid.UUID]] = {}
            for agency_id, channel_id in rows:
                by_agency.setdefault(agency_id, []).append(channel_id)
            for agency_id, ids in by_agency.items():
                for low in range(0, len(ids), batch):
                    task = asyncio.create_task(job(agency_id, ids[low : low + batch]))
                    tasks.append(task)
            if failed := [t for t in tasks if t.done() and t.exception()]:
                failed[0].result()
            await asyncio.sleep(interval if len(rows) < settings.inbox.claim_batch else 0)
        await asyncio.gather(*tasks)
    finally:
        await client.aclose()
        await runtime.dispose_current_loop()
    ordered = sorted(seen)

    def pct(q: float) -> float:
        return ordered[max(0, round(q * len(ordered) + 0.5) - 1)] if ordered else float("nan")

    figures = {
        "channels": channels,
        "listed": len(seen),
        "network_ms": delay * 1000,
        "jobs_at_once": jobs_at_once,
        "reads_at_once": reads_at_once,
        "comments_served": StandInNetwork.served,
        "p50_s": pct(0.50),
        "p95_s": pct(0.95),
        "p99_s": pct(0.99),
        "max_s": ordered[-1] if ordered else float("nan"),
    }
    met = len(seen) == channels and figures["p95_s"] < GOAL_VISIBLE_P95_S
    print(
        f"\nvisibility: {channels:,} channels due over {scale.visibility_seconds:g} s (the "
        f"{settings.inbox.pull_every_seconds:g}-second rhythm of all of them), "
        f"{THREADS_PER_CHANNEL} threads each, one new comment per thread after "
        f"{delay * 1000:.0f} ms, {jobs_at_once} jobs at once, {reads_at_once} reads at once "
        f"per job; {len(seen):,} listed\n"
        f"    due -> listed: p50 {figures['p50_s']:.2f} s, p95 {figures['p95_s']:.2f} s, "
        f"p99 {figures['p99_s']:.2f} s, max {figures['max_s']:.2f} s\n"
        f"    goal p95 < {GOAL_VISIBLE_P95_S:g} s: {'met' if met else 'MISSED'}"
    )
    return figures | {"visible_p95_met": met}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 brands, 70,000 messages")
    parser.add_argument("--network-ms", type=float, default=150.0, help="stand-in's delay")
    parser.add_argument("--no-visibility", action="store_true", help="the list only")
    parser.add_argument(
        "--jobs", type=int, default=JOBS_AT_ONCE, help="pull jobs at once (worker threads)"
    )
    parser.add_argument(
        "--reads",
        type=lambda v: [int(n) for n in v.split(",")],
        default=None,
        help="reads at once per pull job (AGENCY_INBOX__PULL_CONCURRENCY; default the "
        "setting's), comma-separated: one visibility run each",
    )
    parser.add_argument("--profile", action="store_true", help="profile the list at the end")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure here")
    args = parser.parse_args(argv)
    scale = QUICK if args.quick else FULL
    t0 = time.perf_counter()
    pg = start_postgres()
    figures: dict[str, Any] = {"load_before": load_average()}
    try:
        info = machine_info(pg)
        print("machine:", ", ".join(f"{k}={v}" for k, v in info.items()))
        print("load average before:", figures["load_before"])
        settings = make_settings(pg)
        upgrade(settings)
        agencies = asyncio.run(_agencies(settings, scale.agencies))
        sealed = seal(build_runtime(settings).secrets, Credentials(access_token="bench"))
        t_seed = time.perf_counter()
        figures["counts"] = seed(pg, agencies, scale, sealed)
        print(f"seeded {figures['counts']} in {time.perf_counter() - t_seed:.1f} s", flush=True)
        brands = brands_of(pg, agencies, 16)
        print("\nEXPLAIN ANALYZE of the page's statement (app role, RLS on):")
        for line in explain(pg, *brands[0]):
            print("   ", line)
        env = server_env(pg, settings.database.pool_size, settings.database.max_overflow)
        port = free_port()
        with uvicorn_server(env, WORKERS, port) as pid:
            figures["list"] = measure_list(pg, brands, scale, port, pid)
            figures["load_after_list"] = load_average()
            print("load average:", figures["load_after_list"])
            if not args.no_visibility:
                tokens = {a.id: a.token for a in agencies}
                for reads in args.reads or [settings.inbox.pull_concurrency]:
                    run = asyncio.run(
                        visibility(
                            settings,
                            pg,
                            port,
                            tokens,
                            scale,
                            args.network_ms / 1000,
                            args.jobs,
                            reads,
                        )
                    )
                    figures[f"visibility_reads_{reads}"] = run
                    figures[f"load_after_visibility_reads_{reads}"] = load_average()
                    print("load average:", figures[f"load_after_visibility_reads_{reads}"])
        if args.profile:
            profile_list(pg, settings, brands, scale)
        if args.json is not None:
            args.json.write_text(json.dumps({"machine": info} | figures, indent=2, default=str))
    finally:
        pg.close()
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
