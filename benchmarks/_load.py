"""The load generator, CPU accounting from /proc, and the figures a run yields.

A closed loop: ``concurrency`` keep-alive connections to 127.0.0.1, each with one request in
flight, for ``warmup`` seconds (not measured) and then ``duration`` seconds. Raw asyncio and
httptools on uvloop, to cost as little CPU as possible: on a small machine it shares the
cores with the server and PostgreSQL, and the CPU columns say how much each of them took.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import httptools
import uvloop

HOST = "127.0.0.1"
MAX_REQUESTS_PER_CONNECTION = 5_000_000  # a hard bound on top of the time limit
CLK_TCK = os.sysconf("SC_CLK_TCK")

T = TypeVar("T")


def run_on_uvloop(coro: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


# -- CPU accounting ----------------------------------------------------------------------------


def _stat(pid: int | str) -> list[bytes] | None:
    """The fields of /proc/PID/stat after the command name (field 3 onwards), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()
    except OSError:
        return None


def _cpu_seconds(root: int) -> float:
    """User + system CPU seconds of ``root`` and its descendants, the exited ones included.

    A process that has exited and been waited for counts in its parent's cutime and cstime:
    PostgreSQL backends and pool connections come and go during a run.
    """
    children: dict[int, list[int]] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        fields = _stat(entry) if entry.isdigit() else None
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
            ticks[int(entry)] = sum(int(f) for f in fields[11:15])  # utime ... cstime
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += ticks.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total / CLK_TCK


@dataclass
class CpuProbe:
    server_pid: int
    postgres_pid: int

    def snapshot(self) -> tuple[float, float, float, float]:
        """Wall clock, then CPU seconds of the server, PostgreSQL and this process."""
        return (
            time.perf_counter(),
            _cpu_seconds(self.server_pid),
            _cpu_seconds(self.postgres_pid),
            time.process_time(),
        )


# -- HTTP --------------------------------------------------------------------------------------


class HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with at most one request in flight."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[int] | None = None
        self.body_bytes = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)

    def on_body(self, body: bytes) -> None:
        self.body_bytes += len(body)

    def on_message_complete(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(self.parser.get_status_code())

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("connection closed by the server"))

    def _fail(self, exc: BaseException) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    async def request(self, raw: bytes) -> int:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionError("connection is closed")
        self.waiter = asyncio.get_running_loop().create_future()
        self.body_bytes = 0
        self.transport.write(raw)
        return await self.waiter


async def _connect(port: int) -> HttpConnection:
    _, protocol = await asyncio.get_running_loop().create_connection(HttpConnection, HOST, port)
    return protocol


def raw_get(port: int, path: str, token: str | None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {HOST}:{port}", "Accept: application/json"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# -- one run -----------------------------------------------------------------------------------


@dataclass
class Sample:
    latencies_ns: list[int]
    statuses: dict[int, int]
    body_bytes: int
    elapsed: float
    cpu_server: float  # CPU seconds during the measured window
    cpu_postgres: float
    cpu_loadgen: float

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != 200)


async def drive(
    port: int,
    requests: Sequence[bytes],
    concurrency: int,
    warmup: float,
    duration: float,
    probe: CpuProbe,
) -> Sample:
    """``concurrency`` connections, connection i sending ``requests[i % len]`` back to back."""
    conns = [await _connect(port) for _ in range(concurrency)]
    measure_from = time.perf_counter_ns() + int(warmup * 1e9)
    measure_to = measure_from + int(duration * 1e9)
    latencies: list[int] = []
    statuses: Counter[int] = Counter()
    body_bytes = 0
    snaps: list[tuple[float, float, float, float]] = []

    async def worker(index: int) -> None:
        nonlocal body_bytes
        conn = conns[index]
        raw = requests[index % len(requests)]
        for _ in range(MAX_REQUESTS_PER_CONNECTION):
            t0 = time.perf_counter_ns()
            if t0 >= measure_to:
                return
            try:
                status = await conn.request(raw)
            except (ConnectionError, httptools.HttpParserError):
                status = 0
                conns[index] = conn = await _connect(port)
            t1 = time.perf_counter_ns()
            if t0 < measure_from:
                continue
            statuses[status] += 1
            if status == 200:
                latencies.append(t1 - t0)
                body_bytes += conn.body_bytes

    async def sampler() -> None:
        for until in (measure_from, measure_to):
            await asyncio.sleep(max(0.0, (until - time.perf_counter_ns()) / 1e9))
            snaps.append(probe.snapshot())

    try:
        await asyncio.wait_for(
            asyncio.gather(sampler(), *(worker(i) for i in range(concurrency))),
            timeout=warmup + duration + 60,
        )
    finally:
        for conn in conns:
            if conn.transport is not None:
                conn.transport.close()
    (t_a, *cpu_a), (t_b, *cpu_b) = snaps
    scale = duration / (t_b - t_a)  # CPU over exactly the measured window
    server, postgres, loadgen = ((b - a) * scale for a, b in zip(cpu_a, cpu_b, strict=True))
    return Sample(latencies, dict(statuses), body_bytes, duration, server, postgres, loadgen)


def pool(samples: Sequence[Sample]) -> Sample:
    """Several runs taken as one."""
    statuses: Counter[int] = Counter()
    for s in samples:
        statuses.update(s.statuses)
    return Sample(
        latencies_ns=[ns for s in samples for ns in s.latencies_ns],
        statuses=dict(statuses),
        body_bytes=sum(s.body_bytes for s in samples),
        elapsed=sum(s.elapsed for s in samples),
        cpu_server=sum(s.cpu_server for s in samples),
        cpu_postgres=sum(s.cpu_postgres for s in samples),
        cpu_loadgen=sum(s.cpu_loadgen for s in samples),
    )


# -- figures -----------------------------------------------------------------------------------


@dataclass
class Result:
    endpoint: str
    workers: int
    concurrency: int
    round: str  # "1", "2", ... or "all" (every round pooled)
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_body_bytes: float
    cpu_server: float  # cores busy on average (1.0 = one core all the time)
    cpu_postgres: float
    cpu_loadgen: float
    server_cpu_ms_per_request: float


def _percentile(sorted_ns: Sequence[int], q: float) -> float:
    """Nearest-rank percentile, in milliseconds."""
    if not sorted_ns:
        return float("nan")
    rank = max(0, min(len(sorted_ns) - 1, round(q * len(sorted_ns) + 0.5) - 1))
    return sorted_ns[rank] / 1e6


def summarise(endpoint: str, workers: int, concurrency: int, rnd: str, s: Sample) -> Result:
    lat = sorted(s.latencies_ns)
    ok = len(lat)
    return Result(
        endpoint=endpoint,
        workers=workers,
        concurrency=concurrency,
        round=rnd,
        requests=ok + s.errors,
        errors=s.errors,
        rps=ok / s.elapsed,
        p50_ms=_percentile(lat, 0.50),
        p90_ms=_percentile(lat, 0.90),
        p95_ms=_percentile(lat, 0.95),
        p99_ms=_percentile(lat, 0.99),
        max_ms=lat[-1] / 1e6 if lat else float("nan"),
        mean_body_bytes=s.body_bytes / ok if ok else 0.0,
        cpu_server=s.cpu_server / s.elapsed,
        cpu_postgres=s.cpu_postgres / s.elapsed,
        cpu_loadgen=s.cpu_loadgen / s.elapsed,
        server_cpu_ms_per_request=s.cpu_server / ok * 1e3 if ok else float("nan"),
    )


HEADER = (
    f"{'endpoint':<8} {'wrk':>3} {'conc':>4} {'round':>5} {'requests':>9} {'errors':>6} "
    f"{'rps':>7} {'p50 ms':>7} {'p90 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7} "
    f"{'bytes':>6} "
    f"{'cpu srv':>7} {'cpu pg':>6} {'cpu gen':>7} {'srv ms/req':>10}"
)


def row(r: Result) -> str:
    return (
        f"{r.endpoint:<8} {r.workers:>3} {r.concurrency:>4} {r.round:>5} {r.requests:>9,} "
        f"{r.errors:>6} {r.rps:>7,.0f} {r.p50_ms:>7.2f} {r.p90_ms:>7.2f} {r.p95_ms:>7.2f} "
        f"{r.p99_ms:>7.2f} "
        f"{r.max_ms:>7.1f} {r.mean_body_bytes:>6.0f} {r.cpu_server:>7.2f} {r.cpu_postgres:>6.2f} "
        f"{r.cpu_loadgen:>7.2f} {r.server_cpu_ms_per_request:>10.3f}"
    )
