"""/health latency while anonymous clients post logins (issue 9: hashing on the event loop).

    .venv/bin/python benchmarks/login_health.py [--clients 8] [--seconds 10]

A throwaway PostgreSQL with one agency; the API served by uvicorn (one process, as
``agency serve`` runs it) in a child process that imports ``agency`` from ``PYTHONPATH``, so
the same script measures an older checkout too. ``--clients`` anonymous clients post logins
with unknown e-mail addresses (each an Argon2 verification) back to back, while a probe asks
``/health`` every 20 ms. Three rounds: no load, logins with rate limits off (the hashing
alone), logins with the default limits (most attempts answered 429 before any hash).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `tests` importable as a script

from tests.support.servers import PostgresServer, free_port

OWNER, APP_ROLE, DB = "agency_owner", "agency_app", "agency_bench"
KEY = "benchmark-secret-key-of-at-least-32-characters"


def _env(pg: PostgresServer, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENCY_", "PG"))}
    env.update(
        AGENCY_DATABASE_URL=pg.sqlalchemy_url(APP_ROLE, "app-pw", DB),
        AGENCY_DATABASE_MIGRATION_URL=pg.sqlalchemy_url(OWNER, "owner-pw", DB),
        AGENCY_DATABASE_APP_ROLE=APP_ROLE,
        AGENCY_SECRET_KEY=KEY,
        **extra,
    )
    return env


async def _probe(url: str, seconds: float) -> list[float]:
    latencies = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            response = await client.get("/health")
            assert response.status_code == 200, response.text
            latencies.append(time.perf_counter() - began)
            await asyncio.sleep(0.02)
    return latencies


async def _attack(url: str, stop: asyncio.Event, statuses: Counter[int]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        while not stop.is_set():
            email = f"{uuid.uuid4().hex[:12]}@nobody.example"
            response = await client.post("/auth/login", json={"email": email, "password": "x"})
            statuses[response.status_code] += 1


async def _round(url: str, clients: int, seconds: float) -> tuple[list[float], Counter[int]]:
    stop, statuses = asyncio.Event(), Counter[int]()
    attackers = [asyncio.create_task(_attack(url, stop, statuses)) for _ in range(clients)]
    await asyncio.sleep(0.5 if clients else 0)
    latencies = await _probe(url, seconds)
    stop.set()
    await asyncio.gather(*attackers)
    return latencies, statuses


def _serve(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "uvicorn", "agency.asgi:app", "--port", str(port)]
    process = subprocess.Popen(
        [*cmd, "--no-access-log", "--log-level", "warning"], env=env, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not start")


def _figures(name: str, latencies: list[float], statuses: Counter[int]) -> str:
    ms = sorted(x * 1000 for x in latencies)
    p95 = ms[int(len(ms) * 0.95) - 1]
    answers = ", ".join(f"{count} x {status}" for status, count in sorted(statuses.items()))
    return f"| {name} | {statistics.median(ms):.1f} | {p95:.1f} | {ms[-1]:.1f} | {answers or '-'} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with PostgresServer() as pg:
        pg.create_role(OWNER, "owner-pw")
        pg.create_role(APP_ROLE, "app-pw")
        pg.create_database(DB, owner=OWNER)
        subprocess.run([sys.executable, "-m", "agency", "db", "upgrade"], env=_env(pg), check=True)
        print("| round | /health p50 ms | p95 ms | max ms | login answers |")
        print("|---|---|---|---|---|")
        rounds = [
            ("no load", 0, {}),
            (f"{args.clients} clients, limits off", args.clients, {"off": "1"}),
            (f"{args.clients} clients, default limits", args.clients, {}),
        ]
        for name, clients, options in rounds:
            extra = {"AGENCY_RATE_LIMITS__ENABLED": "false"} if options else {}
            port = free_port()
            server = _serve(_env(pg, **extra), port)
            try:
                url = f"http://127.0.0.1:{port}"
                latencies, statuses = asyncio.run(_round(url, clients, args.seconds))
                print(_figures(name, latencies, statuses), flush=True)
            finally:
                server.terminate()
                server.wait(30)


if __name__ == "__main__":
    main()
