"""Publishing exactly once across real process deaths: the worker and the scheduler run as
their own processes (``python -m tests.support.processes``, what ``agency worker`` and
``agency scheduler`` run, with the stand-in network installed) and are killed with SIGKILL."""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.process_world import STALE_SECONDS, Processes, process_env
from tests.support.process_world import processes as processes
from tests.support.process_world import world as world
from tests.support.publishing import soon
from tests.support.stubnet import StubNetState
from tests.support.world import World, scheduled_post
from tests.support.world import stubnet as stubnet

pytestmark = pytest.mark.slow


async def test_killed_worker_and_scheduler_publish_once(world: World, processes: Processes) -> None:
    processes.start("worker")
    processes.start("scheduler")
    await processes.ready()
    text = "Killed mid-call, published once"
    draft = await scheduled_post(world, text)
    world.net.plan.append("hold")  # the network stores the post, then holds its answer
    await world.make_due(draft["id"])

    # The network has the post; the worker's answer is not saved yet: kill the worker.
    assert await asyncio.to_thread(world.net.received.wait, 15), "no call reached the network"
    processes.kill("worker")
    world.net.released.set()
    # The scheduler dies mid-run too, and comes back.
    processes.kill("scheduler")
    processes.start("scheduler")
    processes.start("worker")
    await processes.ready()

    done = await world.until(
        draft["id"],
        lambda p: p["status"] == p["variants"][0]["status"] == "published",
        30,
        scheduler=False,
    )
    assert done["status"] == "published"
    assert world.net.count(text) == 1
    assert done["variants"][0]["post_id"] == world.net.posts[0]["id"]


async def test_a_crisis_started_mid_batch_stops_what_has_not_left(
    world: World, stubnet: tuple[StubNetState, str]
) -> None:
    """Six due posts go out two by two through a real worker (two calls at once); the crisis starts
    while the first pair is on the wire. That pair was already leaving and is published; the
    worker's re-check before each later call sees the pause and sends nothing more, and a
    post approved before the crisis and scheduled during it is held by the worker when due."""
    env = process_env(world.runtime.settings, stubnet[1])
    env.update(
        {
            "AGENCY_WORKER_THREADS": "1",
            "AGENCY_PUBLISHING__PUBLISH_BATCH": "2",
            # Two calls in flight at once: a batch is re-checked when its calls may leave.
            "AGENCY_PUBLISHING__CONCURRENCY": "2",
            "AGENCY_PUBLISHING__STALE_ATTEMPT_SECONDS": "60",
        }
    )
    with tempfile.TemporaryDirectory(prefix="agency-processes-") as logs:
        processes = Processes(env, Path(logs))
        try:
            await _crisis_mid_batch(world, processes)
        finally:
            processes.close()
            sys.stderr.write(processes.tail())


async def _crisis_mid_batch(world: World, processes: Processes) -> None:
    brand = await world.brand()
    channel = await world.channel(brand)
    ids = []
    for n in range(6):
        draft = await world.draft(brand, {"channel_id": channel, "text": f"Post {n}"})
        scheduled = await world.schedule(draft, soon())
        assert scheduled.status_code == 200, scheduled.text
        ids.append(draft["id"])
    # Approved before the crisis, scheduled during it.
    statement = await world.draft(brand, {"channel_id": channel, "text": "Statement"})
    submitted = await world.client.post(
        f"/publications/{statement['id']}/submit", headers=world.headers
    )
    assert submitted.json()["status"] == "approved", submitted.text
    world.net.plan.append("hold")  # the first call of the first pair waits on the wire
    for n, publication_id in enumerate(ids):
        # In due order, close enough to be sent two by two (a batch spans at most a second).
        await world.make_due(publication_id, seconds_ago=10 - n / 10)
    processes.start("worker")
    processes.start("scheduler")
    await processes.ready()
    assert await asyncio.to_thread(world.net.received.wait, 20), "no call reached the network"

    started = await world.client.post(
        f"/brands/{brand}/crisis", json={"reason": "Bad buzz"}, headers=world.headers
    )
    assert started.status_code == 201, started.text
    crisis_id = started.json()["id"]
    statement = await world.get(statement["id"])
    assert (await world.schedule(statement, soon())).status_code == 200
    await world.make_due(statement["id"])
    world.net.released.set()

    def settled(p: dict[str, Any]) -> bool:
        v = p["variants"][0]
        return v["status"] == "published" or v["held_at"] is not None

    states = [await world.until(i, settled, 30, scheduler=False) for i in [*ids, statement["id"]]]
    published = [p for p in states if p["status"] == "published"]
    held = [p for p in states if p["variants"][0]["held_at"] is not None]
    assert len(published) == 2 and len(held) == 5, states
    await asyncio.sleep(1.5)  # the scheduler and the worker keep running: still nothing
    assert len(world.net.posts) == 2
    assert {p["text"] for p in world.net.posts} == {p["variants"][0]["text"] for p in published}
    timeline = await world.client.get(f"/crises/{crisis_id}/timeline", headers=world.headers)
    events = timeline.json()["events"]
    kinds = sorted(e["kind"] for e in events)
    assert kinds == ["held"] * 5 + ["notified"] + ["published"] * 2 + ["started"]
    by_worker = [e for e in events if e["kind"] == "held" and e["actor"]["kind"] == "system"]
    assert [e["publication_id"] for e in by_worker] == [statement["id"]]


async def test_a_live_worker_keeps_its_lease_and_a_dead_ones_call_is_reconciled_soon(
    world: World, processes: Processes
) -> None:
    """While its worker lives, a call held on the wire for three leases stays ``publishing``
    (the worker renews its lease); once the worker is killed, the lease ends and the post is
    reconciled within seconds (the lease, not the old five minutes)."""
    processes.start("worker")
    processes.start("scheduler")
    await processes.ready()
    text = "Long call, then a dead worker"
    draft = await scheduled_post(world, text)
    world.net.plan.append("hold")
    await world.make_due(draft["id"])
    assert await asyncio.to_thread(world.net.received.wait, 15), "no call reached the network"

    await asyncio.sleep(3 * STALE_SECONDS)
    current = await world.get(draft["id"])
    assert current["variants"][0]["status"] == "publishing", current
    attempts = await world.client.get(
        f"/publications/{draft['id']}/attempts", headers=world.headers
    )
    assert [a["outcome"] for a in attempts.json()["items"]] == ["pending"]

    processes.kill("worker")
    killed = time.monotonic()
    world.net.released.set()
    processes.start("worker")
    await world.until(
        draft["id"],
        lambda p: p["status"] == p["variants"][0]["status"] == "published",
        30,
        scheduler=False,
    )
    took = time.monotonic() - killed
    assert took < 5 * STALE_SECONDS + 10, f"reconciled {took:.1f}s after the worker died"
    assert world.net.count(text) == 1
    attempts = await world.client.get(
        f"/publications/{draft['id']}/attempts", headers=world.headers
    )
    outcomes = [(a["kind"], a["outcome"]) for a in attempts.json()["items"]]
    # One publish call; reading the account may happen twice when the machine is so loaded
    # that a reconciliation outlives its claim's lease (a read, never a second post).
    assert outcomes[0] == ("publish", "unknown")
    assert outcomes[1:] and set(outcomes[1:]) == {("reconcile", "found")}, outcomes
    sys.stderr.write(f"\nworker killed mid-call -> post reconciled: {took:.1f}s\n")
