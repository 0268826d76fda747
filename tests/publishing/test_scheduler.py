"""The scheduler is safe with replicas: two real scheduler processes, each due run once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from sqlalchemy import func, select, update

from agency.auth.models import Credential
from agency.config import Settings
from agency.kernel.db import utcnow
from agency.kernel.jobs import JobBuffer, collecting
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import bind_system
from agency.maintenance.tasks import purge_expired
from tests.conftest import Tenant
from tests.support.servers import PostgresServer

pytestmark = pytest.mark.slow

PERIODIC = "maintenance.purge_expired"


def _scheduler_process(settings: Settings) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "AGENCY_DATABASE_URL": settings.database.url,
        "AGENCY_REDIS_URL": settings.redis.url or "",
        "AGENCY_SECRET_KEY": "scheduler-test-key-of-at-least-32-characters",
        "AGENCY_WORKER_SCHEDULER_INTERVAL_SECONDS": "0.02",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "agency", "scheduler"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.fixture
def two_schedulers(settings: Settings) -> Iterator[list[subprocess.Popen[bytes]]]:
    processes = [_scheduler_process(settings) for _ in range(2)]
    try:
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)


def _wait(predicate: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_two_schedulers_enqueue_each_due_run_once(
    pg: PostgresServer, settings: Settings, two_schedulers: list[subprocess.Popen[bytes]]
) -> None:
    assert settings.redis.url
    broker = redis.Redis.from_url(settings.redis.url)

    def messages() -> int:
        """Messages of the periodic job under test (other periodic jobs run too)."""
        stored = broker.hvals("dramatiq:default.msgs")
        return sum(1 for raw in stored if json.loads(raw)["actor_name"] == PERIODIC)

    _wait(lambda: messages() >= 1)  # the first run, due at start-up
    rounds = 6
    with pg.connect("agency_test") as conn:
        for _ in range(rounds):
            conn.execute(
                "UPDATE periodic_jobs SET next_run_at = now() - interval '1 second' "
                "WHERE name = %s",
                (PERIODIC,),
            )
            # Both schedulers tick every 20 ms: both see the row due within this window.
            time.sleep(0.4)
    time.sleep(0.3)
    assert all(p.poll() is None for p in two_schedulers), "a scheduler died"
    assert messages() == 1 + rounds


async def test_the_purge_removes_what_ended_long_ago_in_every_agency(
    runtime: Runtime, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    long_ago = utcnow() - timedelta(days=31)
    async with runtime.session() as session:
        await bind_system(session)
        await session.execute(
            update(Credential)
            .where(Credential.agency_id == tenant_a.agency_id)
            .values(revoked_at=long_ago)
        )
        await session.commit()
    async with runtime.session() as session:
        with collecting(JobBuffer()):
            await purge_expired(session, runtime)
        await session.commit()
    async with runtime.session() as session:
        await bind_system(session)
        left = (
            await session.execute(select(Credential.agency_id, func.count()).group_by("agency_id"))
        ).all()
    assert dict(left) == {tenant_b.agency_id: 1}
