"""The worker and the scheduler as child processes (``python -m tests.support.processes``),
driven from a test: started, waited for, killed with SIGKILL; and the API in the test's own
process to schedule and read (the ``world`` fixture of the process tests)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agency.config import ConnectorSettings, NetworkSettings, PublishingSettings, Settings
from agency.connector.registry import Registry
from agency.kernel.runtime import Runtime
from tests.conftest import Tenant, make_settings
from tests.support.publishing import serving
from tests.support.servers import PostgresServer, RedisServer
from tests.support.stubnet import StubNetConnector, StubNetState
from tests.support.world import World

ROOT = Path(__file__).resolve().parents[2]
STALE_SECONDS = 4  # the call lease; its heartbeat renews it every third of it


class Processes:
    """Worker and scheduler children, each logging to its own file; all killed at teardown."""

    READY = {"worker": b"worker started", "scheduler": b"scheduler started"}

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.running: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
        self.started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, kind: str) -> None:
        log = self.logs / f"{len(self.started)}-{kind}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tests.support.processes", kind],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.running[kind] = (proc, log)
        self.started.append((proc, log))

    async def ready(self, within: float = 30) -> None:
        """Wait until every running child says it has started (imports take seconds)."""
        deadline = time.monotonic() + within
        for kind, (proc, log) in self.running.items():
            while self.READY[kind] not in log.read_bytes():
                assert proc.poll() is None, f"{kind} exited:\n{log.read_text()}"
                assert time.monotonic() < deadline, f"{kind} not started:\n{log.read_text()}"
                await asyncio.sleep(0.05)

    def kill(self, kind: str) -> None:
        proc, _ = self.running.pop(kind)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def close(self) -> None:
        for proc, _ in self.started:
            if proc.poll() is None:
                proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(10)

    def tail(self) -> str:
        return "".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for _, log in self.started)


def process_env(settings: Settings, net_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENCY_")}
    env.update(
        {
            "AGENCY_DATABASE_URL": settings.database.url,
            "AGENCY_DATABASE_APP_ROLE": settings.database.app_role or "",
            "AGENCY_DATABASE_POOL_SIZE": "5",
            "AGENCY_REDIS_URL": settings.redis.url or "",
            "AGENCY_NETWORKS__STUBNET__BASE_URL": net_url,
            "AGENCY_HTTP_TIMEOUT_SECONDS": "30",
            "AGENCY_WORKER_THREADS": "2",
            "AGENCY_WORKER_SCHEDULER_INTERVAL_SECONDS": "0.2",
            "AGENCY_PUBLISHING__LEASE_SECONDS": "2",
            "AGENCY_PUBLISHING__STALE_ATTEMPT_SECONDS": str(STALE_SECONDS),
            # This checkout's code, not whichever copy the environment has installed.
            "PYTHONPATH": os.pathsep.join(str(ROOT / d) for d in ("src", "connectors", "")),
        }
    )
    return env


@pytest.fixture
async def world(
    pg: PostgresServer,
    redis_server: RedisServer,
    runtime: Runtime,
    stubnet: tuple[StubNetState, str],
    tenant_a: Tenant,
) -> AsyncIterator[World]:
    """The API in this process (to schedule and read); nothing is published from here."""
    state, url = stubnet
    settings = make_settings(pg, redis_server.url)
    settings.connectors = ConnectorSettings(networks={"stubnet": NetworkSettings(base_url=url)})
    settings.publishing = PublishingSettings(stale_attempt_seconds=STALE_SECONDS)
    async with serving(runtime, settings, Registry([StubNetConnector])) as (client, served):
        yield World(client, served, state, tenant_a)


@pytest.fixture
def processes(world: World, stubnet: tuple[StubNetState, str]) -> Iterator[Processes]:
    env = process_env(world.runtime.settings, stubnet[1])
    with tempfile.TemporaryDirectory(prefix="agency-processes-") as logs:
        procs = Processes(env, Path(logs))
        try:
            yield procs
        finally:
            procs.close()
            sys.stderr.write(procs.tail())
