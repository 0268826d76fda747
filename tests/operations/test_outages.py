"""PostgreSQL and Redis restart under running processes: what the operator reads, and how long
until everything is done.

The worker and the scheduler are real processes (``python -m tests.support.processes``, what
``agency worker`` and ``agency scheduler`` run); the test's own PostgreSQL and Redis servers
are stopped and started under them. The recovery times printed are measured here, with the
short leases of these tests; docs/deployment.md gives them with the defaults.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agency.kernel.runtime import Runtime
from tests.conftest import APP_PW
from tests.support.process_world import STALE_SECONDS, Processes
from tests.support.process_world import processes as processes
from tests.support.process_world import world as world
from tests.support.servers import PostgresServer, RedisServer
from tests.support.world import World, scheduled_post
from tests.support.world import stubnet as stubnet

pytestmark = pytest.mark.slow


def _log(running: Processes, kind: str) -> Path:
    return running.running[kind][1]


async def _until(check: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


async def _reconnected(api: World) -> None:
    """What a client sees first: the one request that finds the pool's old connections dead
    fails (and renews the pool); the next one is answered."""
    for _ in range(3):
        if (await api.client.get("/brands", headers=api.headers)).status_code == 200:
            return
    raise AssertionError("the API did not reconnect")


def _published(p: dict[str, object]) -> bool:
    variants = p["variants"]
    assert isinstance(variants, list)
    return p["status"] == variants[0]["status"] == "published"


async def test_a_worker_losing_its_database_mid_batch_says_so_once(
    world: World,
    processes: Processes,
    pg: PostgresServer,
    runtime: Runtime,
) -> None:
    try:
        await _database_lost_mid_batch(world, processes, pg)
    finally:
        pg.start()
        runtime.renew_pools()  # the session's pools (every loop's): their connections died


async def _database_lost_mid_batch(
    world: World,
    processes: Processes,
    pg: PostgresServer,
) -> None:
    processes.start("worker")
    processes.start("scheduler")
    await processes.ready()
    text = "Sent while the database went away"
    draft = await scheduled_post(world, text)
    world.net.plan.append("hold")  # the network stores the post, then holds its answer
    await world.make_due(draft["id"])
    assert await asyncio.to_thread(world.net.received.wait, 15), "no call reached the network"

    pg.stop("fast")  # the post is on the network; its answer is not saved yet
    world.net.released.set()
    worker, scheduler = _log(processes, "worker"), _log(processes, "scheduler")
    await _until(lambda: "were sent" in worker.read_text(), 30, "the worker said nothing")
    await asyncio.sleep(3)  # the outage goes on: claims and jobs keep meeting it
    pg.start()
    back = time.monotonic()
    await _reconnected(world)
    done = await world.until(draft["id"], _published, 60, scheduler=False)
    recovered = time.monotonic() - back

    said = worker.read_text() + scheduler.read_text()
    assert "Traceback" not in said and "Retries exceeded" not in said, said
    [line] = [line for line in said.splitlines() if "were sent" in line]
    assert "1 of 1 posts" in line and "reconciled" in line and "never sent twice" in line
    assert "the database at postgresql+asyncpg://agency_app:***@" in line  # no password
    assert APP_PW not in said
    assert said.count("the database unreachable") <= 2  # once per process, if at all
    assert "the database reachable again after" in scheduler.read_text()
    assert done["variants"][0]["post_id"] == world.net.posts[0]["id"]
    assert world.net.count(text) == 1
    sys.stderr.write(
        f"\ndatabase back -> post reconciled and published: {recovered:.1f}s "
        f"(stale attempts after {STALE_SECONDS}s)\n"
    )


async def test_a_redis_restart_is_said_once_and_publishing_resumes(
    world: World,
    processes: Processes,
    redis_server: RedisServer,
) -> None:
    try:
        await _redis_restarted(world, processes, redis_server)
    finally:
        redis_server.start()


async def _redis_restarted(
    world: World,
    processes: Processes,
    redis_server: RedisServer,
) -> None:
    processes.start("worker")
    processes.start("scheduler")
    await processes.ready()
    redis_server.stop("fast")
    worker, scheduler = _log(processes, "worker"), _log(processes, "scheduler")
    await _until(lambda: "Redis unreachable" in worker.read_text(), 30, "the worker said nothing")
    text = "Scheduled while Redis was away"
    draft = await scheduled_post(world, text)
    await world.make_due(draft["id"])
    await _until(
        lambda: "Redis unreachable" in scheduler.read_text(), 30, "the scheduler said nothing"
    )
    await asyncio.sleep(3)
    redis_server.start()
    back = time.monotonic()
    done = await world.until(draft["id"], _published, 60, scheduler=False)
    recovered = time.monotonic() - back

    said = worker.read_text() + scheduler.read_text()
    assert "Traceback" not in said, said
    assert "Consumer encountered a connection error" not in said
    assert worker.read_text().count("Redis unreachable") == 1
    assert "Redis reachable again after" in worker.read_text()
    assert "Redis reachable again after" in scheduler.read_text()
    assert done["status"] == "published" and world.net.count(text) == 1
    sys.stderr.write(f"\nRedis back -> lost message re-sent and published: {recovered:.1f}s\n")
