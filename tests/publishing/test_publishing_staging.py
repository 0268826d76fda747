"""Media staged ahead: a post's photo goes up minutes before its time, and the call at its
instant only names it. Through the API, the scheduler's ticks and a real Dramatiq worker on
Redis, against the stand-in network, which drops an upload no post took after its
``media_ttl`` and refuses a post naming one it dropped (docs/publishing.md)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import dramatiq
import pytest
from sqlalchemy import select, text

from agency.kernel.db import utcnow
from agency.kernel.scheduling import tick
from agency.kernel.tenancy import bind_system
from agency.publication.models import MediaStaging
from tests.support.images import picture
from tests.support.publishing import delivered, running_worker
from tests.support.world import World
from tests.support.world import stubnet as stubnet
from tests.support.world import world as world

pytestmark = pytest.mark.slow


@pytest.fixture
def worker(world: World) -> Iterator[dramatiq.Worker]:
    # Looked for at every tick (every few seconds by default): the tests' times are short.
    world.runtime.settings.publishing.staging_interval_seconds = 0
    with running_worker(world.runtime) as consumer:
        yield consumer


async def photo(world: World, brand: str, width: int = 320) -> tuple[str, bytes]:
    content = picture("PNG", (width, 240))
    uploaded = await world.client.post(
        f"/brands/{brand}/media",
        files={"file": ("vitrine.png", content, "image/png")},
        headers=world.headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    return str(uploaded.json()["id"]), content


async def photo_post(
    world: World, due_in: float, subscribe: bool = False
) -> tuple[dict[str, Any], datetime, bytes]:
    """A post with a photo, scheduled ``due_in`` seconds from now."""
    brand = await world.brand()
    channel = await world.channel(brand)
    if subscribe:
        subscribed = await world.client.post(
            "/webhooks",
            json={
                "url": "https://hooks.example.com/agency",
                "event_types": ["publication.media_staging_failed"],
            },
            headers=world.headers,
        )
        assert subscribed.status_code == 201, subscribed.text
    media_id, content = await photo(world, brand)
    draft = await world.draft(
        brand, {"channel_id": channel, "text": "La vitrine de Noël", "media_ids": [media_id]}
    )
    due = utcnow() + timedelta(seconds=due_in)
    response = await world.schedule(draft, due)
    assert response.status_code == 200, response.text
    return dict(response.json()), due, content


async def staging_of(world: World, publication: dict[str, Any]) -> MediaStaging | None:
    variant_id = uuid.UUID(str(publication["variants"][0]["id"]))
    async with world.runtime.session() as session:
        await bind_system(session)
        found: MediaStaging | None = (
            await session.execute(select(MediaStaging).where(MediaStaging.variant_id == variant_id))
        ).scalar_one_or_none()
        return found


async def ticking_until(world: World, done: Any, within: float = 8.0) -> None:
    """Scheduler ticks until ``done()`` (async) holds."""
    stop = time.monotonic() + within
    while time.monotonic() < stop:
        await tick(world.runtime)
        if await done():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("not reached in time")


async def staged(world: World, publication: dict[str, Any], uploads: int = 1) -> MediaStaging:
    async def done() -> bool:
        row = await staging_of(world, publication)
        return row is not None and row.status == "staged" and len(world.net.media) >= uploads

    await ticking_until(world, done, within=20)
    row = await staging_of(world, publication)
    assert row is not None
    return row


async def published(world: World, publication: dict[str, Any], due: datetime) -> dict[str, Any]:
    wait = due.timestamp() - time.time() + 20
    return await world.until(str(publication["id"]), delivered, within=wait)


def uploads_after(world: World, instant: datetime) -> list[str]:
    return [m for m, f in world.net.media.items() if f["received_at"] >= instant.timestamp()]


async def attempts(world: World, publication: dict[str, Any]) -> list[dict[str, Any]]:
    response = await world.client.get(
        f"/publications/{publication['id']}/attempts", headers=world.headers
    )
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_a_photo_goes_up_ahead_and_the_post_at_its_time_only_names_it(
    world: World, worker: dramatiq.Worker
) -> None:
    publication, due, content = await photo_post(world, due_in=9)
    row = await staged(world, publication)
    [(media_id, uploaded)] = world.net.media.items()
    assert uploaded["sha256"] == hashlib.sha256(content).hexdigest()
    assert uploaded["received_at"] < due.timestamp() - 5  # minutes ahead in production
    assert row.references == [media_id]
    assert world.net.posts == []

    done = await published(world, publication, due)
    assert done["status"] == "published", done
    [post] = world.net.posts
    assert post["media_ids"] == [media_id]
    assert uploads_after(world, due - timedelta(seconds=4)) == []  # one small call at the time
    late = post["received_at"] - due.timestamp()
    assert 0 <= late < 1.0, f"the network heard of the post {late:+.3f}s from its time"
    kinds = [(a["kind"], a["outcome"]) for a in await attempts(world, publication)]
    assert kinds == [("stage_media", "staged"), ("publish", "published")]
    for _ in range(5):  # what the post named is never taken for a stale upload
        await tick(world.runtime)
        await asyncio.sleep(0.2)
    assert not world.net.media[media_id].get("deleted_at")
    settled = await staging_of(world, publication)
    assert settled is not None and settled.references == []  # out of the sweep's index


async def test_an_upload_the_network_cannot_delete_yet_is_tried_again_later(
    world: World, worker: dramatiq.Worker
) -> None:
    publication, _, _ = await photo_post(world, due_in=30)
    await staged(world, publication)
    world.net.deletes_fail = 1  # the network answers the first delete with a 503
    canceled = await world.client.post(
        f"/publications/{publication['id']}/cancel", headers=world.headers
    )
    assert canceled.status_code == 200, canceled.text

    async def waiting() -> bool:
        row = await staging_of(world, publication)
        return row is not None and row.not_before is not None and row.attempt_count == 1

    await ticking_until(world, waiting)
    row = await staging_of(world, publication)
    assert row is not None and row.references  # kept for the next try, ten minutes on
    [upload] = world.net.media.values()
    assert not upload.get("deleted_at")


async def test_an_upload_that_expires_before_the_post_is_redone_in_time(
    world: World, worker: dramatiq.Worker
) -> None:
    # The network keeps an unused upload 14 s: staged at once, it would be gone at 16 s.
    world.net.media_ttl = 14.0
    publication, due, content = await photo_post(world, due_in=16)
    await staged(world, publication)

    async def renewed() -> bool:
        row = await staging_of(world, publication)
        return row is not None and row.expires_at is not None and row.expires_at > due

    await ticking_until(world, renewed, within=14)
    done = await published(world, publication, due)
    assert done["status"] == "published", done
    [post] = world.net.posts  # the network refuses a post naming a file it dropped
    assert len(world.net.media) >= 2
    last = max(world.net.media, key=lambda m: world.net.media[m]["received_at"])
    assert post["media_ids"] == [last]
    assert world.net.media[last]["sha256"] == hashlib.sha256(content).hexdigest()
    assert uploads_after(world, due - timedelta(seconds=4)) == []


async def test_a_refused_upload_is_reported_before_the_posts_time(
    world: World, worker: dramatiq.Worker
) -> None:
    world.net.upload_plan.append("refuse")
    publication, due, _ = await photo_post(world, due_in=9, subscribe=True)

    async def reported() -> bool:
        row = await staging_of(world, publication)
        return row is not None and row.reported_at is not None

    await ticking_until(world, reported)
    assert utcnow() < due - timedelta(seconds=3)
    variant = (await world.get(str(publication["id"])))["variants"][0]
    assert variant["status"] == "scheduled"
    assert "could not be uploaded ahead" in variant["last_error"]
    assert "This file breaks the rules" in variant["last_error"]
    [attempt] = await attempts(world, publication)
    assert (attempt["kind"], attempt["outcome"], attempt["http_status"]) == (
        "stage_media",
        "failed",
        403,
    )
    [event] = await events(world, "publication.media_staging_failed")
    assert event["variant_id"] == variant["id"]
    assert "could not be uploaded ahead" in event["error"]
    assert datetime.fromisoformat(event["due_at"]) == due

    # Reported, not retried; at its time the photo goes up with the post, as before.
    done = await published(world, publication, due)
    assert done["status"] == "published", done
    assert done["variants"][0]["last_error"] is None
    [post] = world.net.posts
    assert post["media_ids"] and uploads_after(world, due - timedelta(seconds=1)) != []


async def test_an_upload_that_fails_for_a_while_is_tried_again_before_the_post(
    world: World, worker: dramatiq.Worker
) -> None:
    world.net.upload_plan.append("500")
    publication, due, _ = await photo_post(world, due_in=24)

    async def failed_once() -> bool:
        row = await staging_of(world, publication)
        return row is not None and row.attempt_count == 1

    await ticking_until(world, failed_once)
    variant = (await world.get(str(publication["id"])))["variants"][0]
    assert variant["last_error"] is None  # not reported: there is time to try again
    row = await staged(world, publication, uploads=1)
    assert utcnow() < due - timedelta(seconds=3)
    assert row.reported_at is None

    done = await published(world, publication, due)
    assert done["status"] == "published", done
    [post] = world.net.posts
    assert post["media_ids"] == row.references
    kinds = [(a["kind"], a["outcome"]) for a in await attempts(world, publication)]
    assert kinds == [
        ("stage_media", "failed"),
        ("stage_media", "staged"),
        ("publish", "published"),
    ]


async def test_a_photo_changed_after_staging_is_staged_again_and_the_new_one_goes(
    world: World, worker: dramatiq.Worker
) -> None:
    publication, due, _ = await photo_post(world, due_in=10)
    await staged(world, publication)
    current = await world.get(str(publication["id"]))
    variant = current["variants"][0]
    brand = current["brand_id"]
    other, content = await photo(world, brand, width=400)
    response = await world.client.patch(
        f"/publications/{publication['id']}",
        json={"variants": [{"channel_id": variant["channel_id"], "media_ids": [other]}]},
        headers={**world.headers, "If-Match": f'"{current["version"]}"'},
    )
    assert response.status_code == 200, response.text
    row = await staged(world, publication, uploads=2)
    assert row.media_ids == [other]
    # The first photo, uploaded for the content before the edit, is deleted.
    [first] = [m for m in world.net.media if m not in row.references]
    await ticking_until(world, lambda: _deleted(world, first))

    done = await published(world, publication, due)
    assert done["status"] == "published", done
    [post] = world.net.posts
    [media_id] = post["media_ids"]
    assert media_id == row.references[0]
    assert world.net.media[media_id]["sha256"] == hashlib.sha256(content).hexdigest()
    assert uploads_after(world, due - timedelta(seconds=4)) == []


async def test_a_post_canceled_after_staging_never_goes_out(
    world: World, worker: dramatiq.Worker
) -> None:
    publication, due, _ = await photo_post(world, due_in=8)
    await staged(world, publication)
    canceled = await world.client.post(
        f"/publications/{publication['id']}/cancel", headers=world.headers
    )
    assert canceled.status_code == 200, canceled.text
    while time.time() < due.timestamp() + 2:
        await tick(world.runtime)
        await asyncio.sleep(0.2)
    assert world.net.posts == []
    # Where the network can, the upload no post will name is deleted (a job, best effort).
    [upload] = world.net.media.values()
    assert upload.get("deleted_at"), upload
    row = await staging_of(world, publication)
    assert row is not None and row.references == [], row


async def _deleted(world: World, media_id: str) -> bool:
    return bool(world.net.media[media_id].get("deleted_at"))


async def events(world: World, kind: str) -> list[dict[str, Any]]:
    async with world.runtime.session() as session:
        await bind_system(session)
        rows = await session.execute(
            text("SELECT body FROM webhook_events WHERE type = :t ORDER BY created_at"), {"t": kind}
        )
        return [json.loads(body)["data"] for (body,) in rows]
