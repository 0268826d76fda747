"""Publishing exactly once: the whole path through the API, the scheduler's claim, a real
Dramatiq worker on Redis and a network on loopback (tests/support/stubnet.py), and the
faults: lost answers, 429s, cancels and edits after the message left, lost messages, two
schedulers, downtime past the grace period."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import dramatiq
import redis
from sqlalchemy import update

from agency.channel.credentials import seal, unseal
from agency.channel.models import Channel
from agency.connector import Credentials
from agency.kernel.runtime import Runtime
from agency.kernel.scheduling import tick
from agency.kernel.tenancy import bind_system
from agency.publication.models import Variant
from tests.conftest import RedisServer, Tenant
from tests.helpers import assert_problem
from tests.support.images import picture
from tests.support.publishing import (
    delivered,
    soon,
)
from tests.support.stubnet import (
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    TOKEN,
)
from tests.support.world import World, scheduled_post
from tests.support.world import stubnet as stubnet
from tests.support.world import worker as worker
from tests.support.world import world as world

# -- the whole path ------------------------------------------------------------------------------


async def test_a_scheduled_post_is_published_once_at_its_time(
    world: World, worker: dramatiq.Worker
) -> None:
    publication = await scheduled_post(world, "Nouvelle collection", first_comment="Lien en bio")
    assert publication["status"] == "scheduled"
    # Not due yet: the scheduler leaves it alone.
    await tick(world.runtime)
    await asyncio.sleep(0.3)
    assert world.net.posts == []

    await world.make_due(publication["id"])
    done = await world.until(publication["id"], delivered)
    assert done["status"] == "published"
    variant = done["variants"][0]
    assert variant["post_id"] == "stub-1"
    assert variant["post_url"] == "https://stub.invalid/stub-1"
    assert world.net.count("Nouvelle collection") == 1

    # The first comment goes under the post, after it.
    done = await world.until(
        publication["id"], lambda p: p["variants"][0]["first_comment_status"] is not None
    )
    assert done["variants"][0]["first_comment_status"] == "posted"
    assert world.net.comments[0]["post_id"] == "stub-1"
    assert world.net.comments[0]["text"] == "Lien en bio"

    attempts = (
        await world.client.get(f"/publications/{publication['id']}/attempts", headers=world.headers)
    ).json()["items"]
    assert [(a["kind"], a["outcome"]) for a in attempts] == [
        ("publish", "published"),
        ("first_comment", "published"),
    ]
    # More ticks, a duplicate message: still one post.
    for _ in range(3):
        await tick(world.runtime)
    world.runtime.broker.get_actor("publication.publish").send(
        str(world.tenant.agency_id), variant["id"]
    )
    await asyncio.sleep(1)
    assert world.net.count("Nouvelle collection") == 1


async def test_utm_parameters_are_added_to_links_when_published(
    world: World, worker: dramatiq.Worker
) -> None:
    brand = await world.brand()
    channel = await world.channel(brand)
    draft = await world.draft(
        brand,
        {"channel_id": channel, "text": "Voir https://maison.example/soldes?x=1 !"},
        utm={"source": "stubnet", "campaign": "soldes"},
    )
    assert (await world.schedule(draft, soon())).status_code == 200
    await world.make_due(draft["id"])
    await world.until(draft["id"], delivered)
    assert world.net.posts[0]["text"] == (
        "Voir https://maison.example/soldes?x=1&utm_source=stubnet&utm_campaign=soldes !"
    )


async def test_photos_go_out_with_the_post_byte_for_byte(
    world: World, worker: dramatiq.Worker
) -> None:
    brand = await world.brand()
    channel = await world.channel(brand)
    photos = [picture("PNG", (640, 480)), picture("JPEG", (800, 800))]
    media_ids = []
    for index, content in enumerate(photos):
        kind = "image/png" if index == 0 else "image/jpeg"
        uploaded = await world.client.post(
            f"/brands/{brand}/media",
            files={"file": (f"photo-{index}", content, kind)},
            headers=world.headers,
        )
        assert uploaded.status_code == 201, uploaded.text
        media_ids.append(uploaded.json()["id"])
    draft = await world.draft(
        brand, {"channel_id": channel, "text": "La vitrine de Noël", "media_ids": media_ids}
    )
    assert draft["variants"][0]["problems"] == []
    assert (await world.schedule(draft, soon())).status_code == 200
    await world.make_due(draft["id"])
    done = await world.until(draft["id"], delivered)
    assert done["status"] == "published", done
    [post] = world.net.posts
    assert [world.net.media[m]["sha256"] for m in post["media_ids"]] == [
        hashlib.sha256(content).hexdigest() for content in photos
    ]
    assert [world.net.media[m]["type"] for m in post["media_ids"]] == ["image/png", "image/jpeg"]


# -- faults --------------------------------------------------------------------------------------


async def test_a_lost_answer_is_reconciled_not_published_twice(
    world: World, worker: dramatiq.Worker
) -> None:
    world.net.plan.append("lose")  # the network takes the post; the answer never comes
    publication = await scheduled_post(world, "Réponse perdue")
    await world.make_due(publication["id"])
    done = await world.until(publication["id"], delivered, within=30)
    assert done["status"] == "published"
    assert world.net.count("Réponse perdue") == 1
    attempts = (
        await world.client.get(f"/publications/{publication['id']}/attempts", headers=world.headers)
    ).json()["items"]
    outcomes = [(a["kind"], a["outcome"]) for a in attempts]
    assert outcomes == [("publish", "unknown"), ("reconcile", "found")]
    assert "may have published" in attempts[0]["message"]


async def test_a_429_waits_for_retry_after_then_publishes(
    world: World, worker: dramatiq.Worker
) -> None:
    world.net.plan.append("429:2")
    publication = await scheduled_post(world, "Patience")
    await world.make_due(publication["id"])
    held = await world.until(publication["id"], lambda p: p["variants"][0]["attempt_count"] == 1)
    # Back on the calendar, not before the network said.
    first = await world.until(
        publication["id"], lambda p: p["variants"][0]["not_before"] is not None, scheduler=False
    )
    variant = first["variants"][0]
    assert variant["status"] in ("scheduled", "publishing", "published")
    assert held["variants"][0]["last_error"] is None or "Rate limited" in (
        held["variants"][0]["last_error"] or ""
    )
    started = asyncio.get_running_loop().time()
    done = await world.until(publication["id"], delivered)
    assert asyncio.get_running_loop().time() - started >= 1.0
    assert done["status"] == "published"
    assert world.net.count("Patience") == 1
    attempts = (
        await world.client.get(f"/publications/{publication['id']}/attempts", headers=world.headers)
    ).json()["items"]
    assert [a["outcome"] for a in attempts] == ["rate_limited", "published"]
    assert attempts[0]["retry_after_seconds"] == 2
    assert attempts[0]["http_status"] == 429


async def test_a_refusal_fails_with_the_networks_words(
    world: World, worker: dramatiq.Worker
) -> None:
    world.net.plan.append("refuse")
    publication = await scheduled_post(world, "Interdit")
    await world.make_due(publication["id"])
    done = await world.until(publication["id"], delivered)
    assert done["status"] == "failed"
    assert "403" in done["variants"][0]["last_error"]
    assert world.net.posts == []


async def test_a_500_is_an_unknown_outcome_checked_before_a_retry(
    world: World, worker: dramatiq.Worker
) -> None:
    world.net.plan.append("500")  # nothing was stored: reconciliation finds nothing
    publication = await scheduled_post(world, "Serveur en panne")
    await world.make_due(publication["id"])
    done = await world.until(publication["id"], delivered, within=30)
    assert done["status"] == "published"
    assert world.net.count("Serveur en panne") == 1
    attempts = (
        await world.client.get(f"/publications/{publication['id']}/attempts", headers=world.headers)
    ).json()["items"]
    assert [(a["kind"], a["outcome"]) for a in attempts] == [
        ("publish", "unknown"),
        ("reconcile", "not_found"),
        ("publish", "published"),
    ]


async def test_a_canceled_publication_whose_message_is_queued_is_not_published(
    world: World,
) -> None:
    publication = await scheduled_post(world, "Annulé")
    await world.make_due(publication["id"])
    # The scheduler sends the message; no worker runs yet.
    await tick(world.runtime)
    response = await world.client.post(
        f"/publications/{publication['id']}/cancel", headers=world.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "canceled"
    consumer = dramatiq.Worker(world.runtime.broker, worker_threads=1)
    consumer.start()
    try:
        world.runtime.broker.join("publishing", timeout=10_000)
    finally:
        consumer.stop()
    assert world.net.calls == 0
    assert (await world.get(publication["id"]))["variants"][0]["status"] == "canceled"


async def test_an_edit_after_the_message_left_publishes_the_edited_text(world: World) -> None:
    publication = await scheduled_post(world, "Première version")
    await world.make_due(publication["id"])
    await tick(world.runtime)  # the message is in Redis with the variant id only
    current = await world.get(publication["id"])
    variant = current["variants"][0]
    response = await world.client.patch(
        f"/publications/{publication['id']}",
        json={"variants": [{"channel_id": variant["channel_id"], "text": "Version corrigée"}]},
        headers={**world.headers, "If-Match": f'"{current["version"]}"'},
    )
    assert response.status_code == 200, response.text
    consumer = dramatiq.Worker(world.runtime.broker, worker_threads=1)
    consumer.start()
    try:
        done = await world.until(publication["id"], delivered)
    finally:
        consumer.stop()
    assert done["status"] == "published"
    assert [p["text"] for p in world.net.posts] == ["Version corrigée"]


async def test_a_message_lost_in_a_redis_restart_is_sent_again_after_the_lease(
    world: World, redis_server: RedisServer
) -> None:
    publication = await scheduled_post(world, "Message perdu")
    await world.make_due(publication["id"])
    await tick(world.runtime)
    assert redis.Redis.from_url(redis_server.url).dbsize() > 0  # the message waits in Redis
    # Redis restarts (no persistence): the message is gone.
    redis_server.restart()
    assert redis.Redis.from_url(redis_server.url).dbsize() == 0
    consumer = dramatiq.Worker(world.runtime.broker, worker_threads=1)
    consumer.start()
    try:
        done = await world.until(publication["id"], delivered)
    finally:
        consumer.stop()
    assert done["status"] == "published"
    assert world.net.count("Message perdu") == 1


async def test_two_schedulers_at_once_publish_once(world: World, worker: dramatiq.Worker) -> None:
    brand = await world.brand()
    channel = await world.channel(brand)
    ids = []
    for n in range(20):
        draft = await world.draft(brand, {"channel_id": channel, "text": f"Post {n}"})
        assert (await world.schedule(draft, soon())).status_code == 200
        await world.make_due(draft["id"])
        ids.append(draft["id"])
    # Two scheduler replicas claim at the same moment, on their own connections.
    other = Runtime(world.runtime.settings, world.runtime.broker, world.runtime.connectors)
    claimed = await asyncio.gather(tick(world.runtime), tick(other))
    assert sum(claimed) == 20
    for publication_id in ids:
        await world.until(publication_id, delivered)
    assert sorted(p["text"] for p in world.net.posts) == sorted(f"Post {n}" for n in range(20))
    await other.dispose_current_loop()


async def test_after_downtime_late_posts_go_out_and_too_late_ones_are_missed(
    world: World, worker: dramatiq.Worker
) -> None:
    brand = await world.brand(publish_grace_minutes=30)
    channel = await world.channel(brand)
    late = await world.draft(brand, {"channel_id": channel, "text": "Un peu en retard"})
    missed = await world.draft(brand, {"channel_id": channel, "text": "Trop tard"})
    for draft in (late, missed):
        assert (await world.schedule(draft, soon())).status_code == 200
    await world.make_due(late["id"], seconds_ago=10 * 60)
    await world.make_due(missed["id"], seconds_ago=45 * 60)
    assert (await world.until(late["id"], delivered))["status"] == "published"
    gone = await world.until(missed["id"], lambda p: p["status"] == "missed")
    assert "grace" in gone["variants"][0]["last_error"]
    assert [p["text"] for p in world.net.posts] == ["Un peu en retard"]


async def test_a_channel_needing_reconnect_holds_its_posts_and_says_so(
    world: World, worker: dramatiq.Worker
) -> None:
    brand = await world.brand()
    channel = await world.channel(brand)
    draft = await world.draft(brand, {"channel_id": channel, "text": "En attente"})
    assert (await world.schedule(draft, soon())).status_code == 200
    async with world.runtime.session() as session:
        await bind_system(session)
        await session.execute(
            update(Channel)
            .where(Channel.id == uuid.UUID(channel))
            .values(health="needs_reconnect", last_error="The token was revoked.")
        )
        await session.commit()
    await world.make_due(draft["id"])
    held = await world.until(draft["id"], lambda p: p["variants"][0]["hold_reason"] is not None)
    assert "reconnect" in held["variants"][0]["hold_reason"]
    assert held["variants"][0]["status"] == "scheduled"
    assert world.net.calls == 0


async def refreshable_channel(world: World, brand: str) -> str:
    """A stubnet channel whose credentials carry the refresh token the network knows."""
    channel = await world.channel(brand, refreshable=True)
    credentials = Credentials(access_token=TOKEN, refresh_token=REFRESH_TOKEN)
    async with world.runtime.session() as session:
        await bind_system(session)
        await session.execute(
            update(Channel)
            .where(Channel.id == uuid.UUID(channel))
            .values(credentials=seal(world.runtime.secrets, credentials))
        )
        await session.commit()
    return channel


async def sealed_credentials(world: World, channel: str) -> str | None:
    async with world.runtime.session() as session:
        await bind_system(session)
        found = await session.get(Channel, uuid.UUID(channel))
        assert found is not None
        return found.credentials


async def test_an_expired_token_is_refreshed_once_and_the_post_published_once(
    world: World, worker: dramatiq.Worker
) -> None:
    brand = await world.brand()
    channel = await refreshable_channel(world, brand)
    before = await sealed_credentials(world, channel)
    draft = await world.draft(brand, {"channel_id": channel, "text": "Jeton périmé"})
    assert (await world.schedule(draft, soon())).status_code == 200
    world.net.plan.append("401")  # the token expires as the post goes out

    await world.make_due(draft["id"])
    done = await world.until(draft["id"], delivered)
    assert done["status"] == "published", done
    assert world.net.count("Jeton périmé") == 1
    # One refresh at the token endpoint, with the agency's app and the channel's grant.
    assert world.net.refreshes == [
        {
            "grant_type": "refresh_token",
            "refresh_token": REFRESH_TOKEN,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
    ]
    fresh = world.net.token
    assert fresh is not None and fresh != TOKEN
    # The publish calls: the one the token died on, then the retry with the new token (not
    # another try with the dead one first).
    assert world.net.publish_tries == [(TOKEN, 401), (fresh, 201)]

    # The channel keeps the new tokens (sealed again) and is healthy.
    after = await sealed_credentials(world, channel)
    assert after is not None and after != before
    stored = unseal(world.runtime.secrets, after)
    assert (stored.access_token, stored.refresh_token) == (fresh, world.net.refresh_token)
    assert stored.expires_at is not None
    shown = (await world.client.get(f"/channels/{channel}", headers=world.headers)).json()
    assert shown["health"] == "ok"
    assert shown["last_error"] is None
    assert shown["last_refreshed_at"] is not None
    assert shown["refreshable"] is True
    # The attempt log: one publishing attempt, published, nothing alarming in it.
    attempts = (
        await world.client.get(f"/publications/{draft['id']}/attempts", headers=world.headers)
    ).json()["items"]
    assert [(a["kind"], a["outcome"]) for a in attempts] == [("publish", "published")]
    assert attempts[0]["post_id"] == done["variants"][0]["post_id"]
    assert attempts[0]["message"] is None
    assert done["variants"][0]["last_error"] is None
    assert done["variants"][0]["hold_reason"] is None
    assert done["variants"][0]["attempt_count"] == 1


async def test_calls_of_one_batch_that_hear_the_token_expired_refresh_it_once(
    world: World, worker: dramatiq.Worker
) -> None:
    brand = await world.brand()
    channel = await refreshable_channel(world, brand)
    drafts = [
        await world.draft(brand, {"channel_id": channel, "text": text})
        for text in ("Premier", "Second")
    ]
    for draft in drafts:
        assert (await world.schedule(draft, soon())).status_code == 200
    world.net.expire_token()
    for draft in drafts:  # both due at once: one batch, their calls side by side
        await world.make_due(draft["id"])
    for draft in drafts:
        done = await world.until(draft["id"], delivered)
        assert done["status"] == "published", done
    assert (world.net.count("Premier"), world.net.count("Second")) == (1, 1)
    assert len(world.net.refreshes) == 1  # the second call retried with the renewed token
    fresh = world.net.token
    assert sorted(world.net.publish_tries) == sorted(
        [(TOKEN, 401), (TOKEN, 401), (fresh, 201), (fresh, 201)]
    )


async def test_an_expired_token_that_cannot_be_refreshed_holds_the_post(
    world: World, worker: dramatiq.Worker
) -> None:
    brand = await world.brand()
    channel = await refreshable_channel(world, brand)
    before = await sealed_credentials(world, channel)
    draft = await world.draft(brand, {"channel_id": channel, "text": "Accès retiré"})
    assert (await world.schedule(draft, soon())).status_code == 200
    world.net.plan.append("401")
    world.net.refresh_token = None  # the user revoked the grant at the network

    await world.make_due(draft["id"])
    held = await world.until(draft["id"], lambda p: p["variants"][0]["hold_reason"] is not None)
    variant = held["variants"][0]
    # Nothing went out, and the post waits on the calendar for the account to be reconnected.
    assert world.net.posts == []
    assert world.net.publish_tries == [(TOKEN, 401)]  # the dead token is not tried again
    assert len(world.net.refreshes) == 1  # asked once, refused
    assert held["status"] == "scheduled"
    assert variant["status"] == "scheduled"
    assert variant["post_id"] is None
    assert variant["hold_reason"] == (
        "Held: the channel needs reconnecting (StubNet refused to renew the access: "
        "The refresh token was revoked by the user)"
    )
    # The channel says so, with the network's words; its tokens are kept as they were.
    shown = (await world.client.get(f"/channels/{channel}", headers=world.headers)).json()
    assert shown["health"] == "needs_reconnect"
    assert shown["last_error"] == (
        "StubNet refused to renew the access: The refresh token was revoked by the user"
    )
    assert shown["last_refreshed_at"] is None
    assert await sealed_credentials(world, channel) == before
    attempts = (
        await world.client.get(f"/publications/{draft['id']}/attempts", headers=world.headers)
    ).json()["items"]
    assert [(a["kind"], a["outcome"], a["http_status"]) for a in attempts] == [
        ("publish", "held", 401)
    ]
    assert attempts[0]["message"] == shown["last_error"]
    # Later passes hold it without calling the network.
    calls = len(world.net.publish_tries)
    await world.make_due(draft["id"])
    async with world.runtime.session() as session:
        await bind_system(session)
        await session.execute(
            update(Variant)
            .where(Variant.publication_id == uuid.UUID(draft["id"]))
            .values(not_before=None)
        )
        await session.commit()
    again = await world.until(
        draft["id"], lambda p: "revoked" in (p["variants"][0]["hold_reason"] or "")
    )
    assert again["variants"][0]["status"] == "scheduled"
    assert len(world.net.publish_tries) == calls
    assert len(world.net.refreshes) == 1
    assert world.net.posts == []


# -- bad input -----------------------------------------------------------------------------------


async def test_scheduling_refuses_bad_input_and_changes_nothing(world: World) -> None:
    brand = await world.brand()
    channel = await world.channel(brand)
    draft = await world.draft(brand, {"channel_id": channel, "text": "Bonjour"})

    past = await world.schedule(draft, datetime.now(UTC) - timedelta(minutes=5))
    assert_problem(past, 422, "past")
    stale = await world.client.post(
        f"/publications/{draft['id']}/schedule",
        json={"at": soon().isoformat()},
        headers={**world.headers, "If-Match": '"999"'},
    )
    assert_problem(stale, 412)
    both = await world.client.post(
        f"/publications/{draft['id']}/schedule",
        json={"at": soon().isoformat(), "local_time": "2030-01-01T09:00"},
        headers={**world.headers, "If-Match": f'"{draft["version"]}"'},
    )
    assert_problem(both, 422, "either")
    skipped = await world.client.post(
        f"/publications/{draft['id']}/schedule",
        json={"local_time": "2030-03-31T02:30"},  # Paris skips 02:00-03:00 that night
        headers={**world.headers, "If-Match": f'"{draft["version"]}"'},
    )
    assert_problem(skipped, 422, "does not exist")
    assert (await world.get(draft["id"]))["status"] == "draft"


async def test_local_times_follow_the_brands_zone_across_dst(world: World) -> None:
    brand = await world.brand()
    channel = await world.channel(brand)
    winter = await world.draft(brand, {"channel_id": channel, "text": "Hiver"})
    summer = await world.draft(brand, {"channel_id": channel, "text": "Été"})
    for draft, local, utc in (
        (winter, "2030-01-15T09:00", "2030-01-15T08:00:00Z"),
        (summer, "2030-07-15T09:00", "2030-07-15T07:00:00Z"),
    ):
        response = await world.client.post(
            f"/publications/{draft['id']}/schedule",
            json={"local_time": local},
            headers={**world.headers, "If-Match": f'"{draft["version"]}"'},
        )
        assert response.status_code == 200, response.text
        assert response.json()["scheduled_at"].replace("+00:00", "Z") == utc


async def test_variants_refuse_unknown_and_foreign_channels(world: World, tenant_b: Tenant) -> None:
    brand = await world.brand()
    other_brand = await world.brand("autre")
    mine = await world.channel(brand)
    foreign_brand_channel = await world.channel(other_brand)
    body = {
        "title": "Mauvais canaux",
        "variants": [
            {"channel_id": mine, "text": "ok"},
            {"channel_id": str(uuid.uuid4()), "text": "?"},
            {"channel_id": foreign_brand_channel, "text": "??"},
            {"channel_id": mine, "text": "twice"},
        ],
    }
    response = await world.client.post(
        f"/brands/{brand}/publications", json=body, headers=world.headers
    )
    problem = assert_problem(response, 422)
    fields = {e["field"]: e["message"] for e in problem["errors"]}
    assert "no channel" in fields["variants[1].channel_id"]
    assert "another brand" in fields["variants[2].channel_id"]
    assert "twice" in fields["variants[3].channel_id"]
    listing = await world.client.get("/publications", headers=world.headers)
    assert listing.json()["items"] == []


async def test_over_the_limits_every_problem_is_listed_and_nothing_scheduled(
    world: World,
) -> None:
    brand = await world.brand()
    channel = await world.channel(brand)
    draft = await world.draft(brand, {"channel_id": channel, "text": "x" * 600})
    assert draft["variants"][0]["problems"][0]["field"] == "text"
    response = await world.schedule(draft, soon())
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["field"] == "variants[0].text"
    assert "500" in problem["errors"][0]["message"]
    assert (await world.get(draft["id"]))["status"] == "draft"


async def test_the_quota_is_checked_when_scheduling(world: World) -> None:
    brand = await world.brand()
    channel = await world.channel(brand, network="quotanet")
    base = soon(3600)
    for n in range(2):
        draft = await world.draft(brand, {"channel_id": channel, "text": f"Q{n}"})
        assert (await world.schedule(draft, base + timedelta(hours=n))).status_code == 200
    third = await world.draft(brand, {"channel_id": channel, "text": "Q3"})
    response = await world.schedule(third, base + timedelta(hours=5))
    assert_problem(response, 422, "quota")
    # A day later the window has room again.
    response = await world.schedule(third, base + timedelta(hours=25))
    assert response.status_code == 200, response.text


async def test_edits_are_versioned_and_need_the_current_etag(world: World) -> None:
    brand = await world.brand()
    channel = await world.channel(brand)
    draft = await world.draft(brand, {"channel_id": channel, "text": "v1"})
    url = f"/publications/{draft['id']}"
    missing = await world.client.patch(url, json={"title": "Sans ETag"}, headers=world.headers)
    assert_problem(missing, 428)
    ok = await world.client.patch(
        url,
        json={"variants": [{"channel_id": channel, "text": "v2"}]},
        headers={**world.headers, "If-Match": f'"{draft["version"]}"'},
    )
    assert ok.status_code == 200, ok.text
    stale = await world.client.patch(
        url,
        json={"title": "Trop tard"},
        headers={**world.headers, "If-Match": f'"{draft["version"]}"'},
    )
    assert_problem(stale, 412)
    versions = (await world.client.get(f"{url}/versions", headers=world.headers)).json()["items"]
    assert [v["action"] for v in versions] == ["created", "edited"]
    assert versions[1]["changes"][f"variants.{channel}.text"] == ["v1", "v2"]
    assert versions[1]["actor_kind"] == "api_token"


async def test_a_variant_starts_from_another_and_is_then_its_own(world: World) -> None:
    brand = await world.brand()
    first = await world.channel(brand)
    second = await world.channel(brand)
    draft = await world.draft(
        brand,
        {"channel_id": first, "text": "Texte de départ", "link": "https://maison.example"},
        {"channel_id": second, "copy_from": first},
    )
    by_channel = {v["channel_id"]: v for v in draft["variants"]}
    assert by_channel[second]["text"] == "Texte de départ"
    assert by_channel[second]["link"] == "https://maison.example"


# -- the rest of the life of a publication -------------------------------------------------------


async def test_the_brands_charter_is_checked_on_every_variant(world: World) -> None:
    charter = {"emoji_allowed": False, "max_hashtags": 1, "words_to_avoid": ["pas cher"]}
    brand = await world.brand(editorial_charter=charter)
    channel = await world.channel(brand)
    draft = await world.draft(brand, {"channel_id": channel, "text": "Pas cher ! 🎉 #soldes #mode"})
    codes = sorted(p["code"] for p in draft["variants"][0]["problems"])
    assert codes == ["charter_emoji", "charter_too_many_hashtags", "charter_word"]
    problem = assert_problem(await world.schedule(draft, soon()), 422)
    assert len(problem["errors"]) == 3
    clean = await world.draft(brand, {"channel_id": channel, "text": "Les soldes #mode"})
    assert clean["variants"][0]["problems"] == []


async def test_drafts_can_be_duplicated_and_deleted_but_not_scheduled_ones(world: World) -> None:
    publication = await scheduled_post(world, "Original")
    refused = await world.client.delete(f"/publications/{publication['id']}", headers=world.headers)
    assert_problem(refused, 409, "cancel it first")
    copy = await world.client.post(
        f"/publications/{publication['id']}/duplicate", headers=world.headers
    )
    assert copy.status_code == 201, copy.text
    body = copy.json()
    assert body["status"] == "draft"
    assert body["title"] == "Launch (copy)"
    assert [v["text"] for v in body["variants"]] == ["Original"]
    assert body["variants"][0]["id"] != publication["variants"][0]["id"]
    deleted = await world.client.delete(f"/publications/{body['id']}", headers=world.headers)
    assert deleted.status_code == 204
    gone = await world.client.get(f"/publications/{body['id']}", headers=world.headers)
    assert_problem(gone, 404)


async def test_a_person_settles_an_unknown_outcome(world: World) -> None:
    publication = await scheduled_post(world, "Inconnu")
    variant_id = publication["variants"][0]["id"]
    url = f"/publications/{publication['id']}/variants/{variant_id}/resolve"
    too_early = await world.client.post(url, json={"published": True}, headers=world.headers)
    assert_problem(too_early, 409, "unknown")
    async with world.runtime.session() as session:
        await bind_system(session)
        await session.execute(
            update(Variant).where(Variant.id == uuid.UUID(variant_id)).values(status="unknown")
        )
        await session.commit()
    response = await world.client.post(
        url,
        json={"published": True, "post_url": "https://stub.invalid/seen"},
        headers=world.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "published"
    assert response.json()["variants"][0]["post_url"] == "https://stub.invalid/seen"
    versions = (
        await world.client.get(f"/publications/{publication['id']}/versions", headers=world.headers)
    ).json()["items"]
    assert versions[-1]["action"] == "resolved"
