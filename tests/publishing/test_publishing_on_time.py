"""Publishing on the second: posts are claimed a few seconds ahead of their time, the worker
holds them and releases each call at its instant, and what happens between the claim and
the instant (a cancel, an edit, a crisis) is seen by the re-check right before the call.
Through the API, the scheduler's ticks and a real Dramatiq worker on Redis, against the
stand-in network (docs/publishing.md)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq
import pytest
import redis
from sqlalchemy import select

from agency.config import Settings
from agency.kernel.scheduling import tick
from agency.kernel.tenancy import bind_system
from agency.publication.dispatch import Dispatchers
from agency.publication.models import Variant
from agency.publication.tasks import BURST_QUEUE, QUEUE
from tests.support.publishing import running_worker, soon
from tests.support.world import World, scheduled_post
from tests.support.world import stubnet as stubnet
from tests.support.world import world as world

pytestmark = pytest.mark.slow

AHEAD = 2.0  # seconds between the claim and the post's instant (the look-ahead is 3 s)


@pytest.fixture
def worker(world: World) -> Iterator[dramatiq.Worker]:
    with running_worker(world.runtime) as consumer:
        yield consumer


async def claimed_ahead(world: World, text: str) -> tuple[dict[str, object], datetime]:
    """A post due in AHEAD seconds, claimed now: the worker holds it until its instant."""
    publication = await scheduled_post(world, text)
    await world.make_due(publication["id"], seconds_ago=-AHEAD)
    assert await tick(world.runtime) >= 1
    due, lease = await _due_and_lease(world, publication["id"])
    assert lease is not None, "the scheduler did not claim the post ahead of its time"
    return publication, due


async def _due_and_lease(world: World, publication_id: object) -> tuple[datetime, datetime | None]:
    async with world.runtime.session() as session:
        await bind_system(session)
        row = (
            await session.execute(
                select(Variant.due_at, Variant.lease_until).where(
                    Variant.publication_id == uuid.UUID(str(publication_id))
                )
            )
        ).one()
    return row[0], row[1]


async def run_past(world: World, due: datetime, extra: float = 2.0) -> None:
    """Let the scheduler and the worker run until ``extra`` seconds after ``due``."""
    while datetime.now(due.tzinfo).timestamp() < due.timestamp() + extra:
        await tick(world.runtime)
        await asyncio.sleep(0.1)


async def test_a_post_claimed_ahead_goes_out_at_its_instant_not_before(
    world: World, worker: dramatiq.Worker
) -> None:
    publication, due = await claimed_ahead(world, "À l'heure pile")
    await asyncio.sleep(AHEAD / 2)
    assert world.net.posts == []  # claimed, but not due yet
    done = await world.until(str(publication["id"]), lambda p: p["status"] == "published")
    assert done["status"] == "published"
    [post] = world.net.posts
    late = post["received_at"] - due.timestamp()
    assert 0 <= late < 1.0, f"the network heard of the post {late:+.3f}s from its time"


async def test_a_post_held_past_its_claims_lease_is_not_claimed_again(
    world: World, worker: dramatiq.Worker
) -> None:
    """The worker renews the claims of the posts it holds (a burst can hold them longer than
    the claim's lease): the scheduler never hands a post to a worker that still holds it."""
    settings = world.runtime.settings.publishing
    settings.stale_attempt_seconds = 1.5  # the worker's beat: every 0.5 s
    assert settings.lease_seconds < AHEAD  # the claim would run out before the instant
    publication, due = await claimed_ahead(world, "Tenu jusqu'à son heure")
    holding: list[int] = []
    while datetime.now(due.tzinfo).timestamp() < due.timestamp() - 0.3:
        await tick(world.runtime)
        dispatchers = world.runtime.component(Dispatchers).each()
        holding += [count for found in dispatchers for count in found.held.values()]
        await asyncio.sleep(0.1)
    assert holding, "the worker did not hold the post"
    assert max(holding) == 1, "the post was claimed again while the worker held it"
    done = await world.until(str(publication["id"]), lambda p: p["status"] == "published")
    assert done["status"] == "published"
    assert world.net.calls == 1


async def test_a_post_canceled_after_its_claim_never_goes_out(
    world: World, worker: dramatiq.Worker
) -> None:
    publication, due = await claimed_ahead(world, "Annulé au dernier moment")
    canceled = await world.client.post(
        f"/publications/{publication['id']}/cancel", headers=world.headers
    )
    assert canceled.status_code == 200, canceled.text
    await run_past(world, due)
    assert world.net.calls == 0
    current = await world.get(str(publication["id"]))
    assert current["variants"][0]["status"] == "canceled"


async def test_a_post_edited_after_its_claim_goes_out_as_edited(
    world: World, worker: dramatiq.Worker
) -> None:
    publication, _ = await claimed_ahead(world, "Première version")
    current = await world.get(str(publication["id"]))
    variant = current["variants"][0]
    edited = await world.client.patch(
        f"/publications/{publication['id']}",
        json={"variants": [{"channel_id": variant["channel_id"], "text": "Version corrigée"}]},
        headers={**world.headers, "If-Match": f'"{current["version"]}"'},
    )
    assert edited.status_code == 200, edited.text
    done = await world.until(str(publication["id"]), lambda p: p["status"] == "published")
    assert done["variants"][0]["text"] == "Version corrigée"
    assert [p["text"] for p in world.net.posts] == ["Version corrigée"]


async def test_a_post_moved_later_after_its_claim_waits_for_its_new_time(
    world: World, worker: dramatiq.Worker
) -> None:
    publication, due = await claimed_ahead(world, "Reporté")
    off = await world.client.post(
        f"/publications/{publication['id']}/unschedule", headers=world.headers
    )
    assert off.status_code == 200, off.text
    later = datetime.fromtimestamp(due.timestamp() + 3600, due.tzinfo)
    moved = await world.schedule(off.json(), later)
    assert moved.status_code == 200, moved.text
    await run_past(world, due)
    assert world.net.calls == 0
    current = await world.get(str(publication["id"]))
    assert current["variants"][0]["status"] == "scheduled"


async def test_a_crisis_started_after_the_claim_holds_the_post(
    world: World, worker: dramatiq.Worker
) -> None:
    publication, due = await claimed_ahead(world, "Pendant la crise")
    brand = str(publication["brand_id"])
    started = await world.client.post(
        f"/brands/{brand}/crisis", json={"reason": "Bad buzz"}, headers=world.headers
    )
    assert started.status_code == 201, started.text
    await run_past(world, due)
    assert world.net.calls == 0
    current = await world.get(str(publication["id"]))
    assert current["variants"][0]["status"] == "scheduled"
    assert current["variants"][0]["held_at"] is not None


async def test_a_bursts_posts_go_to_their_own_queue_and_the_others_do_not(
    world: World, settings: Settings
) -> None:
    """Posts due at one instant by a whole group or more (a burst) wait in a queue of their
    own, with a lower priority: the posts due around it are neither grouped with the burst
    nor queued behind its messages. A worker then publishes both."""
    world.runtime.settings.publishing.publish_batch = 2
    instant = datetime.now(UTC) + timedelta(seconds=AHEAD)
    brand = await world.brand()
    channel = await world.channel(brand)

    async def post(text: str, at: datetime) -> dict[str, Any]:
        draft = await world.draft(brand, {"channel_id": channel, "text": text})
        scheduled = await world.schedule(draft, soon())
        assert scheduled.status_code == 200, scheduled.text
        await world.make_due(draft["id"], at=at)
        return dict(scheduled.json())

    burst = [await post(f"Rafale {i}", instant) for i in range(2)]
    steady = await post("Au fil de l'eau", instant + timedelta(milliseconds=300))
    assert settings.redis.url
    queued = redis.Redis.from_url(settings.redis.url)

    def waiting(queue: str) -> list[dict[str, object]]:
        return [json.loads(m) for m in queued.hvals(f"dramatiq:{queue}.msgs")]

    before = {queue: len(waiting(queue)) for queue in (BURST_QUEUE, QUEUE)}
    assert await tick(world.runtime) == 3
    [burst_group] = waiting(BURST_QUEUE)[before[BURST_QUEUE] :]
    [steady_group] = waiting(QUEUE)[before[QUEUE] :]
    assert sorted(burst_group["args"][1]) == sorted(  # type: ignore[index]
        [p["variants"][0]["id"] for p in [await world.get(str(b["id"])) for b in burst]]
    )
    assert burst_group["kwargs"] == {"burst": True}  # served after the other posts
    assert steady_group["actor_name"] == "publication.publish_many"
    with running_worker(world.runtime):
        for publication in [*burst, steady]:
            done = await world.until(str(publication["id"]), lambda p: p["status"] == "published")
            assert done["status"] == "published"
    assert world.net.calls == 3
