"""The publishing pipeline under a real schedule: how late do posts go out?

A throwaway PostgreSQL and Redis, the app's schema, one agency, N brands with one stand-in
network channel each (sealed credentials), and publications with one approved variant each,
scheduled over a window that starts shortly after the processes are up: a steady stream
plus a burst on one second (the top of the hour). The scheduler and the workers run as
their own processes (``python -m tests.support.processes``: what ``agency scheduler`` and
``agency worker`` run, with the stand-in connector installed); the network is
``tests/support/stubnet.py`` served by uvicorn in its own process, answering after a
realistic time (``--latency realistic``, the default: log-normal, median 400 ms, p99 3 s; the
photo of the 2 % of posts that carry one takes 30 s to upload) or a fixed one. Photos go up
``--media-lead`` seconds ahead of their post (600 by default; 0: with the post, at its time).

Printed: lateness from due time to the network call (p50/p95/p99/max) for the steady part
and for the burst, the time for the burst to be fully out, the highest publications per
second sustained over 10 s, the peak RSS of each process (VmHWM), duplicates and losses.

    .venv/bin/python benchmarks/scheduler.py                # 100,000 over 10 minutes
    .venv/bin/python benchmarks/scheduler.py --scale 0.1    # 10,000 over 1 minute
    .venv/bin/python benchmarks/scheduler.py --scale 0.1 --kill   # SIGKILLs halfway
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks`, `tests` importable

from tests.support.images import picture
from tests.support.servers import PostgresServer, RedisServer, free_port
from tests.support.stubnet import TOKEN

from agency.channel.credentials import seal
from agency.config import DatabaseSettings, RedisSettings, Settings
from agency.connector.base import Credentials
from agency.kernel.migrate import upgrade
from agency.kernel.secrets import SecretBox
from agency.media.storage import object_key
from benchmarks._data import APP_PW, APP_ROLE, DB, OWNER, OWNER_PW
from benchmarks._sched_net import LATENCY_ENV, REALISTIC

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
GOAL_P99 = 1.0
GOAL_BURST = 15.0
GOAL_RSS_MB = 300.0
TIMELINE_STEP = 5  # seconds of due time per line of the lateness timeline


@dataclass
class Plan:
    variants: int
    brands: int
    burst: int
    window: float  # seconds over which the steady part is due
    lead: float  # seconds from the end of seeding to the first due time
    workers: int
    threads: int
    media_share: float = 0.02  # posts with a photo (their publish call takes 30 s)

    @classmethod
    def scaled(
        cls, scale: float, workers: int, threads: int, lead: float, media_share: float
    ) -> Plan:
        return cls(
            variants=int(100_000 * scale),
            brands=max(10, int(1_000 * scale)),
            burst=int(10_000 * scale),
            window=600 * scale,
            lead=lead,
            workers=workers,
            threads=threads,
            media_share=media_share,
        )

    def with_media(self, i: int) -> bool:
        """Whether post ``i`` carries a photo: every (1 / media_share)th post."""
        if self.media_share <= 0:
            return False
        every = max(1, round(1 / self.media_share))
        return i % every == every // 2


# -- processes ------------------------------------------------------------------------------


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    peak_kb: int = 0
    cpu: float = 0.0  # seconds of CPU (user + system), last seen

    def sample(self) -> None:
        self.peak_kb = max(self.peak_kb, tree_hwm_kb(self.proc.pid))
        self.cpu = max(self.cpu, tree_cpu_seconds(self.proc.pid))


def tree_cpu_seconds(pid: int | None) -> float:
    """User + system CPU of a process and its children (PostgreSQL's backends too)."""
    if pid is None:
        return 0.0
    ticks = 0
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for p in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_hwm_kb(pid: int) -> int:
    """VmHWM of a process plus its children (uvicorn, dramatiq are single processes here)."""
    total = 0
    pids = [pid]
    with contextlib.suppress(OSError):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    for p in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
    return total


@dataclass
class Fleet:
    env: dict[str, str]
    logs: Path
    children: list[Child] = field(default_factory=list)  # every child ever started

    def start(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> Child:
        log = self.logs / f"{len(self.children)}-{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env or self.env, stdout=out, stderr=subprocess.STDOUT
            )
        child = Child(name, proc, log)
        self.children.append(child)
        return child

    def process(self, kind: str, threads: int | None = None) -> Child:
        cmd = [sys.executable, "-m", "tests.support.processes", kind]
        if threads:
            cmd += ["--threads", str(threads)]
        return self.start(kind, cmd)

    def sample(self) -> None:
        for child in self.children:
            if child.proc.poll() is None:
                child.sample()

    def kill(self, child: Child) -> None:
        child.sample()
        child.proc.send_signal(signal.SIGKILL)
        child.proc.wait(10)

    def close(self) -> None:
        for child in self.children:
            if child.proc.poll() is None:
                child.proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.proc.wait(10)


def wait_for(child: Child, marker: bytes, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while marker not in child.log.read_bytes():
        if child.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{child.name} did not start:\n{child.log.read_text()[-3000:]}")
        time.sleep(0.05)


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent busy (every process, ours or not), from /proc/stat."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


Sample = tuple[float, float, float, tuple[tuple[int, float], ...]]


def burst_report(samples: list[Sample], arrivals: list[float], burst_at: float, out: float) -> None:
    """Around the burst, in 2 s steps: posts heard, cores our processes used, cores the machine
    used (anything else running shows as the difference), and each worker process's cores
    (one process taking most of a burst shows there; '-': restarted in the step)."""
    print(
        "around the burst (2 s steps from its due time):"
        " heard / our cores / machine cores / each worker's"
    )
    heard = Counter(int((at - burst_at) // 2) for at in arrivals)
    for step in range(-2, int(out // 2) + 3):
        lo, hi = burst_at + 2 * step, burst_at + 2 * step + 2
        inside = [s for s in samples if lo <= s[0] <= hi]
        if len(inside) < 2:
            continue
        (t0, ours0, all0, each0), (t1, ours1, all1, each1) = inside[0], inside[-1]
        span = max(t1 - t0, 1e-6)
        workers = " ".join(
            f"{(c1 - c0) / span:5.2f}" if i0 == i1 else "    -"
            for (i0, c0), (i1, c1) in zip(each0, each1, strict=False)
        )
        print(
            f"  {2 * step:+5d}s {heard.get(step, 0):>6} "
            f"{(ours1 - ours0) / span:5.2f} {(all1 - all0) / span:5.2f}   {workers}"
        )


def _sleep_until(instant: float) -> None:
    time.sleep(max(0.0, instant - time.time()))


def counted(port: int) -> int:
    """Posts the network stored so far (cheap: polled every second during the run)."""
    with urllib.request.urlopen(f"http://{HOST}:{port}/bench/count", timeout=30) as r:
        return int(json.loads(r.read())["posts"])


def received(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://{HOST}:{port}/bench/received", timeout=30) as r:
        return dict(json.loads(r.read()))


# -- data -----------------------------------------------------------------------------------


def seed(
    pg: PostgresServer, settings: Settings, plan: Plan, start: datetime, media_root: Path
) -> list[datetime]:
    """One agency, the brands, a channel each, a photo each (in the local media store), and
    the publications; returns the due times."""
    box = SecretBox.from_settings(settings.secrets, settings.auth.secret_key.get_secret_value())
    steady = plan.variants - plan.burst
    dues = [start + timedelta(seconds=plan.window * i / max(steady, 1)) for i in range(steady)]
    burst_at = start + timedelta(seconds=plan.window / 2)
    dues += [burst_at] * plan.burst
    agency = uuid.uuid4()
    brands = [uuid.uuid4() for _ in range(plan.brands)]
    channels = [uuid.uuid4() for _ in range(plan.brands)]
    photos = [uuid.uuid4() for _ in range(plan.brands)]
    photo = picture("PNG", (640, 480))
    for b, m in zip(brands, photos, strict=True):
        path = media_root / object_key(agency, b, m)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(photo)
    now = datetime.now(UTC)
    with pg.connect(DB) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO agencies (id, name, slug, version, created_at) "
            "VALUES (%s, 'Bench', 'bench', 1, %s)",
            (agency, now),
        )
        with cur.copy(
            "COPY brands (id, agency_id, name, slug, timezone, locale, reporting_line, "
            "editorial_charter, community_charter, network_objectives, publish_grace_minutes, "
            "approval_policy, version, created_at) FROM STDIN"
        ) as copy:
            for i, b in enumerate(brands):
                copy.write_row(
                    (b, agency, f"Brand {i}", f"brand-{i}", "Europe/Paris", "fr",
                     "communication", "{}", "{}", "{}", 60, "none", 1, now)
                )  # fmt: skip
        with cur.copy(
            "COPY channels (id, agency_id, brand_id, network, account_id, account_kind, name, "
            "scopes, refreshable, health, connected_at, credentials, version, created_at) "
            "FROM STDIN"
        ) as copy:
            for i, (c, b) in enumerate(zip(channels, brands, strict=True)):
                # Each account sees its own posts (reconciliation reads them).
                sealed = seal(box, Credentials(access_token=TOKEN, extra={"account": f"acct-{i}"}))
                copy.write_row(
                    (c, agency, b, "stubnet", f"acct-{i}", "user", f"Account {i}", "[]",
                     False, "ok", now, sealed, 1, now)
                )  # fmt: skip
        with cur.copy(
            "COPY media (id, agency_id, brand_id, kind, mime_type, size_bytes, width, height, "
            "sha256, storage_key, version, created_at) FROM STDIN"
        ) as copy:
            digest = hashlib.sha256(photo).hexdigest()
            for b, m in zip(brands, photos, strict=True):
                copy.write_row(
                    (m, agency, b, "image", "image/png", len(photo), 640, 480, digest,
                     object_key(agency, b, m), 1, now)
                )  # fmt: skip
        with (
            cur.copy(
                "COPY publications (id, agency_id, brand_id, title, status, scheduled_at, "
                "reporting_line, tags, utm, version, created_at, approved_at) FROM STDIN"
            ) as pubs,
        ):
            ids = [uuid.uuid4() for _ in dues]
            for i, (p, due) in enumerate(zip(ids, dues, strict=True)):
                pubs.write_row(
                    (p, agency, brands[i % plan.brands], f"Post {i}", "scheduled", due,
                     "communication", "[]", "{}", 1, now, now)
                )  # fmt: skip
        with cur.copy(
            "COPY publication_variants (id, agency_id, publication_id, brand_id, channel_id, "
            "network, text, options, media_ids, status, due_at, content_version, "
            "approved_version, attempt_count, created_at) FROM STDIN"
        ) as copy:
            for i, (p, due) in enumerate(zip(ids, dues, strict=True)):
                k = i % plan.brands
                media = json.dumps([str(photos[k])] if plan.with_media(i) else [])
                copy.write_row(
                    (uuid.uuid4(), agency, p, brands[k], channels[k], "stubnet", f"bench-{i}",
                     "{}", media, "scheduled", due, 1, 1, 0, now)
                )  # fmt: skip
        conn.commit()
        cur.execute("ANALYZE")
    return dues


# -- scoring --------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarise(label: str, values: list[float]) -> str:
    if not values:
        return f"{label}: none"
    return (
        f"{label}: n={len(values)} p50={pct(values, 0.5):.3f}s p95={pct(values, 0.95):.3f}s "
        f"p99={pct(values, 0.99):.3f}s max={max(values):.3f}s mean={statistics.mean(values):.3f}s"
    )


def _by_post(posts: list[list[Any]]) -> list[list[list[Any]]]:
    found: dict[str, list[list[Any]]] = {}
    for post in posts:
        found.setdefault(post[0], []).append(post)
    return list(found.values())


def score(plan: Plan, dues: list[datetime], posts: list[list[Any]]) -> dict[str, Any]:
    steady = plan.variants - plan.burst
    first: dict[int, float] = {}
    counts: Counter[int] = Counter()
    for text, _key, at in posts:
        i = int(text.split("-", 1)[1])
        counts[i] += 1
        first[i] = min(first.get(i, at), at)
    late_steady = [first[i] - dues[i].timestamp() for i in range(steady) if i in first]
    late_burst = [
        first[i] - dues[i].timestamp() for i in range(steady, plan.variants) if i in first
    ]
    late_media = [first[i] - dues[i].timestamp() for i in first if plan.with_media(i)]
    burst_at = dues[-1].timestamp() if plan.burst else 0.0
    start = dues[0].timestamp()
    timeline: dict[int, list[float]] = {}
    for i, at in first.items():
        bucket = int((dues[i].timestamp() - start) // TIMELINE_STEP)
        timeline.setdefault(bucket, []).append(at - dues[i].timestamp())
    seconds = Counter(int(at) for at in first.values())
    best = 0.0
    if seconds:
        lo, hi = min(seconds), max(seconds)
        for s in range(lo, hi + 1):
            best = max(best, sum(seconds.get(s + k, 0) for k in range(10)) / 10)
    # The goal's "steady stream due meanwhile": steady posts due from the burst's second
    # until its last post was out.
    out = max(late_burst) if late_burst else 0.0
    late_meanwhile = [
        first[i] - dues[i].timestamp()
        for i in range(steady)
        if i in first and burst_at <= dues[i].timestamp() <= burst_at + out
    ]
    return {
        "steady": late_steady,
        "steady_meanwhile": late_meanwhile,
        "burst": late_burst,
        "media": late_media,
        "timeline": timeline,
        "burst_out": (max(late_burst) if len(late_burst) == plan.burst else None),
        "burst_first": burst_at,
        "sustained": best,
        "duplicates": sum(1 for c in counts.values() if c > 1),
        "extra_posts": sum(c - 1 for c in counts.values() if c > 1),
        "losses": plan.variants - len(first),
    }


# -- the run --------------------------------------------------------------------------------


def statements_report(pg: PostgresServer, posts: int, top: int = 25) -> None:
    """PostgreSQL's statements from the first due time on, costliest first (pg_stat_statements)."""
    with pg.connect(DB) as conn:
        found = conn.execute(
            "SELECT calls, total_exec_time, rows, query FROM pg_stat_statements "
            "ORDER BY total_exec_time DESC"
        ).fetchall()
    rows = [(int(str(r[0])), float(str(r[1])), int(str(r[2])), str(r[3])) for r in found]
    calls = sum(r[0] for r in rows)
    spent = sum(r[1] for r in rows)
    print(
        f"PostgreSQL statements: {calls:,} ({calls / posts:.2f} per post), "
        f"{spent / 1000:.1f} s executing ({spent / posts:.3f} ms per post); the costliest:"
    )
    for n, total, count, query in rows[:top]:
        text = " ".join(query.split())[:150]
        print(f"  {total / posts:6.3f} ms/post {n / posts:6.3f} calls/post {count:>8} rows  {text}")


def wait_settled(pg: PostgresServer, within: float) -> float | None:
    """When no post is left scheduled or on the wire (None: not within ``within`` s)."""
    until = time.time() + within
    while time.time() < until:
        with pg.connect(DB) as conn:
            left = conn.execute(
                "SELECT count(*) FROM publication_variants"
                " WHERE status IN ('scheduled', 'publishing', 'unknown')"
            ).fetchone()
        if left is not None and left[0] == 0:
            return time.time()
        time.sleep(0.5)
    return None


def in_doubt_report(pg: PostgresServer, start: datetime, killed_at: float | None) -> None:
    """The calls in doubt (``unknown``): when their posts were due and their calls begun,
    from the first due time, and against the kill."""
    with pg.connect(DB) as conn:
        rows = conn.execute(
            "SELECT extract(epoch FROM v.due_at), extract(epoch FROM a.started_at)"
            " FROM publication_attempts a JOIN publication_variants v ON v.id = a.variant_id"
            " WHERE a.outcome = 'unknown'"
        ).fetchall()
    origin = start.timestamp()
    pairs = [(float(str(r[0])), float(str(r[1]))) for r in rows]
    due = sorted(d - origin for d, _ in pairs)
    begun = sorted(b - origin for _, b in pairs)
    print(f"calls in doubt: {len(rows)}")
    print(f"  due (s from the first due time): {summarise_range(due)}")
    print(f"  attempt begun:                   {summarise_range(begun)}")
    said_of(pg, "unknown")
    if killed_at is not None:
        print(f"  the kill at +{killed_at - origin:.1f} s")
        before = sum(1 for d, _ in pairs if d <= killed_at)
        print(f"  due before the kill: {before}, after it: {len(rows) - before}")


def said_of(pg: PostgresServer, outcome: str) -> None:
    """The messages of the attempts that ended ``outcome``, the commonest first."""
    with pg.connect(DB) as conn:
        said = conn.execute(
            "SELECT coalesce(message, '(none)'), count(*) FROM publication_attempts"
            " WHERE outcome = %s GROUP BY 1 ORDER BY 2 DESC LIMIT 5",
            (outcome,),
        ).fetchall()
    for message, count in said:
        print(f"  {count} x {str(message)[:160]}")


def summarise_range(values: list[float]) -> str:
    if not values:
        return "none"
    return (
        f"min {values[0]:+.2f} p50 {pct(values, 0.5):+.2f} p99 {pct(values, 0.99):+.2f}"
        f" max {values[-1]:+.2f}"
    )


def run(
    plan: Plan,
    kill: bool,
    stale: float,
    latency: str,
    media_lead: float = 600.0,
    interval: float = 1.0,
    concurrency: int | None = None,
    extra: dict[str, str] | None = None,
    pg_statements: bool = False,
) -> int:
    logs = Path(tempfile.mkdtemp(prefix="bench-scheduler-"))
    media_root = logs / "media"
    print(
        f"plan: {plan}; kill={kill}; media_lead={media_lead}; interval={interval}; "
        f"concurrency={concurrency or 'default'}; settings={extra or {}}; logs in {logs}",
        flush=True,
    )
    pg_settings = {"shared_buffers": "1GB", "max_connections": "200"}
    if pg_statements:  # and the plans of the slow ones in the server's log, kept with ours
        pg_settings["shared_preload_libraries"] = "pg_stat_statements,auto_explain"
        pg_settings["auto_explain.log_min_duration"] = "30ms"
    pg = PostgresServer(settings=pg_settings)
    redis = RedisServer()
    fleet: Fleet | None = None
    try:
        pg.create_role(OWNER, OWNER_PW)
        pg.create_role(APP_ROLE, APP_PW)
        pg.create_database(DB, owner=OWNER)
        settings = Settings(
            database=DatabaseSettings(
                url=pg.sqlalchemy_url(APP_ROLE, APP_PW, DB),
                migration_url=pg.sqlalchemy_url(OWNER, OWNER_PW, DB),
                app_role=APP_ROLE,
            ),
            redis=RedisSettings(url=redis.url),
        )
        upgrade(settings)
        if pg_statements:
            pg.execute("CREATE EXTENSION pg_stat_statements", DB)
        net_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENCY_", "PG"))}
        env.update(
            {
                "AGENCY_DATABASE_URL": settings.database.url,
                "AGENCY_DATABASE_APP_ROLE": APP_ROLE,
                "AGENCY_DATABASE_POOL_SIZE": str(plan.threads + 4),
                "AGENCY_DATABASE_MAX_OVERFLOW": "10",
                "AGENCY_HTTP_TIMEOUT_SECONDS": "60",  # the 30 s media calls
                "AGENCY_MEDIA__STORAGE": "local",
                "AGENCY_MEDIA__LOCAL_PATH": str(media_root),
                "AGENCY_REDIS_URL": redis.url,
                "AGENCY_NETWORKS__STUBNET__BASE_URL": f"http://{HOST}:{net_port}",
                "AGENCY_WORKER_THREADS": str(plan.threads),
                "AGENCY_WORKER_SCHEDULER_INTERVAL_SECONDS": str(interval),
                "AGENCY_PUBLISHING__STALE_ATTEMPT_SECONDS": str(stale),
                "AGENCY_PUBLISHING__MEDIA_LEAD_SECONDS": str(media_lead),
                **(
                    {"AGENCY_PUBLISHING__CONCURRENCY": str(concurrency)}
                    if concurrency is not None
                    else {}
                ),
                **(extra or {}),
                # This checkout's code, not whichever copy the environment has installed.
                "PYTHONPATH": os.pathsep.join(str(ROOT / d) for d in ("src", "connectors", "")),
            }
        )
        fleet = Fleet(env, logs)
        net = fleet.start(
            "stubnet",
            [sys.executable, "-m", "uvicorn", "benchmarks._sched_net:net_app", "--factory",
             "--host", HOST, "--port", str(net_port), "--loop", "uvloop", "--http", "httptools",
             "--no-access-log", "--log-level", "warning", "--backlog", "4096"],
            {**env, LATENCY_ENV: latency},
        )  # fmt: skip
        t0 = time.time()
        start = datetime.now(UTC) + timedelta(seconds=plan.lead)
        dues = seed(pg, settings, plan, start, media_root)
        print(f"seeded {plan.variants:,} variants in {time.time() - t0:.1f}s", flush=True)
        scheduler = fleet.process("scheduler")
        workers = [fleet.process("worker", plan.threads) for _ in range(plan.workers)]
        for w in workers:
            wait_for(w, b"worker started")
        wait_for(scheduler, b"scheduler started")
        while counted(net_port) < 0:  # the network is up
            time.sleep(0.1)
        slack = (start - datetime.now(UTC)).total_seconds()
        print(f"processes up; first due in {slack:.1f}s", flush=True)
        if slack < 0:
            print("WARNING: the window started before the processes were up", flush=True)
        end = start.timestamp() + plan.window
        half = start.timestamp() + plan.window / 2 + 2  # just after the burst
        # CPU from the first due time on: the processes' work for the posts, per post.
        _sleep_until(start.timestamp())
        fleet.sample()
        base = {id(c): c.cpu for c in fleet.children}
        servers = {"postgresql": pg.pid, "redis": redis.pid}
        servers_base = {name: tree_cpu_seconds(pid) for name, pid in servers.items()}
        if pg_statements:
            pg.execute("SELECT pg_stat_statements_reset()", DB)
        killed = False
        killed_at: float | None = None
        last, last_change = -1, time.time()
        samples: list[Sample] = []  # time, our CPU, the machine's, each worker's
        while True:
            time.sleep(1)
            fleet.sample()
            now = time.time()
            ours = sum(c.cpu for c in fleet.children)
            ours += sum(tree_cpu_seconds(pid) for pid in servers.values())
            each = tuple((id(w), w.cpu) for w in workers)
            samples.append((now, ours, machine_busy_seconds(), each))
            if kill and not killed and now >= half:
                print("SIGKILL worker 0 and the scheduler", flush=True)
                fleet.kill(workers[0])
                fleet.kill(scheduler)
                scheduler = fleet.process("scheduler")
                workers[0] = fleet.process("worker", plan.threads)
                killed, killed_at = True, now
            got = counted(net_port)
            if got != last:
                last, last_change = got, now
            if now > end and got >= plan.variants:
                time.sleep(3)  # any late duplicate
                break
            if now > end and now - last_change > max(60.0, 3 * stale):
                print("stalled: no new post for a while", flush=True)
                break
        fleet.sample()
        servers_cpu = {n: tree_cpu_seconds(pid) - servers_base[n] for n, pid in servers.items()}
        heard_all = time.time()
        # The network hears a call when it arrives and answers after its latency: the last
        # calls' answers are recorded after that (up to the slowest call's latency).
        settled = wait_settled(pg, within=max(60.0, stale))
        print(
            f"every post heard, then recorded {settled - heard_all + 3:.1f} s after the last"
            if settled
            else "NOT every post recorded within the wait",
            flush=True,
        )
        data = received(net_port)
        result = score(plan, dues, data["posts"])
        with pg.connect(DB) as conn:
            rows = conn.execute(
                "SELECT status, count(*) FROM publication_variants GROUP BY status"
            ).fetchall()
            statuses = {str(row[0]): row[1] for row in rows}
            rows = conn.execute(
                "SELECT outcome, count(*) FROM publication_attempts GROUP BY outcome"
            ).fetchall()
            outcomes = {str(row[0]): row[1] for row in rows}
        print()
        print(summarise("lateness, steady", result["steady"]))
        print(summarise("lateness, burst ", result["burst"]))
        print(
            summarise("lateness, steady due while the burst went out", result["steady_meanwhile"])
        )
        print(summarise("lateness, posts with media (in the above)", result["media"]))
        print(f"lateness by due time ({TIMELINE_STEP} s steps from the first): p50 / p99 / max")
        for bucket, values in sorted(result["timeline"].items()):
            print(
                f"  +{bucket * TIMELINE_STEP:>4}s n={len(values):<6} {pct(values, 0.5):7.3f}"
                f" {pct(values, 0.99):7.3f} {max(values):7.3f}"
            )
        out = result["burst_out"]
        print(
            f"burst of {plan.burst:,} fully out after: {out:.2f}s" if out else "burst: not all out"
        )
        print(f"highest sustained (10 s window): {result['sustained']:.1f} publications/s")
        if plan.burst and out:
            arrivals = [min(at for _, _, at in group) for group in _by_post(data["posts"])]
            burst_report(samples, arrivals, result["burst_first"], out)
        print(f"network calls: {data['calls']:,}; posts stored: {len(data['posts']):,}")
        print(f"duplicates: {result['duplicates']} ({result['extra_posts']} extra posts)")
        print(f"losses: {result['losses']}")
        print(f"variant statuses in the database: {statuses}")
        print(f"attempts by outcome: {outcomes}")
        if outcomes.get("unknown"):
            in_doubt_report(pg, start, killed_at)
        if outcomes.get("failed"):
            print("failed attempts (each retried or given up as the pipeline says):")
            said_of(pg, "failed")
        print("peak RSS (VmHWM):")
        for child in fleet.children:
            print(f"  {child.name:<10} pid {child.proc.pid:<7} {child.peak_kb / 1024:7.1f} MB")
        print("CPU from the first due time on (user + system), per post:")
        spent: dict[str, float] = {}
        for child in fleet.children:
            spent[child.name] = spent.get(child.name, 0.0) + child.cpu - base.get(id(child), 0.0)
        spent.update(servers_cpu)
        for name, seconds in spent.items():
            print(f"  {name:<10} {seconds:7.1f} s  {seconds / plan.variants * 1000:6.2f} ms/post")
        total = sum(spent.values())
        print(f"  {'all':<10} {total:7.1f} s  {total / plan.variants * 1000:6.2f} ms/post")
        worst = max(
            (c.peak_kb for c in fleet.children if c.name in ("worker", "scheduler")), default=0
        )
        goals = {
            "p99 steady < 1 s": pct(result["steady"], 0.99) < GOAL_P99,
            "burst out < 15 s": bool(out is not None and out < GOAL_BURST),
            "worker/scheduler < 300 MB": worst / 1024 < GOAL_RSS_MB,
            "0 duplicates": result["duplicates"] == 0,
            "0 losses": result["losses"] == 0,
        }
        for goal, met in goals.items():
            print(f"  {'met' if met else 'NOT MET'}: {goal}")
        if pg_statements:
            statements_report(pg, plan.variants)
            shutil.copy(pg.log_path, logs / "postgresql.log")
        _ = net
        return 0
    finally:
        if fleet is not None:
            fleet.close()
        redis.close()
        pg.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=1.0, help="0.1: 10,000 over 1 minute")
    parser.add_argument("--kill", action="store_true", help="SIGKILL a worker and the scheduler")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")
    parser.add_argument("--lead", type=float, default=60.0, help="seconds before the first due")
    parser.add_argument(
        "--stale", type=float, default=30.0, help="a call's lease, renewed while it lasts"
    )
    parser.add_argument(
        "--latency",
        default=REALISTIC,
        help="the network's answer time: 'realistic' (log-normal, median 400 ms, p99 3 s; "
        "30 s for an upload) or a number of seconds for every call",
    )
    parser.add_argument(
        "--media-lead",
        type=float,
        default=600.0,
        help="seconds ahead of its post a photo is uploaded (0: with the post)",
    )
    parser.add_argument(
        "--media-share", type=float, default=0.02, help="share of the posts with a photo"
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=1.0,
        help="how often the scheduler looks for due work (the product's default: 1 s)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="publish calls in flight per worker process (default: the product's)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="AGENCY_NAME=VALUE",
        help="a setting of the worker and scheduler processes (repeatable)",
    )
    parser.add_argument(
        "--pg-statements",
        action="store_true",
        help="print PostgreSQL's costliest statements (pg_stat_statements)",
    )
    args = parser.parse_args(argv)
    plan = Plan.scaled(args.scale, args.workers, args.threads, args.lead, args.media_share)
    return run(
        plan,
        args.kill,
        args.stale,
        args.latency,
        media_lead=args.media_lead,
        interval=args.interval,
        concurrency=args.concurrency,
        extra=dict(item.split("=", 1) for item in args.set),
        pg_statements=args.pg_statements,
    )


if __name__ == "__main__":
    sys.exit(main())
