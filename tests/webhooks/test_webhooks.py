"""Outgoing webhooks end to end: our API, a real Dramatiq worker on Redis, the scheduler's
claimer, and a real HTTP receiver on loopback that records what it gets. Signatures are
checked with the Standard Webhooks library, as an agency's receiver would."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import dramatiq
import httpx
import pytest
from sqlalchemy import text
from standardwebhooks import Webhook, WebhookVerificationError

from agency.kernel.db import utcnow
from agency.kernel.runtime import Runtime
from agency.kernel.scheduling import tick
from agency.kernel.tenancy import bind_system, bind_tenant
from agency.webhook.events import EVENT_TYPES, lease
from agency.webhook.repository import purge_events
from tests.conftest import Tenant, count_rows
from tests.helpers import assert_problem
from tests.support.connect_world import World
from tests.support.connect_world import testnet as testnet
from tests.support.connect_world import world as world
from tests.support.fakes.asgi import Response
from tests.support.webhooks import Scene, subscribe, verify
from tests.support.webhooks import receiver as receiver
from tests.support.webhooks import scene as scene
from tests.support.webhooks import worker as worker


async def test_the_secret_is_shown_once_and_stored_encrypted(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
) -> None:
    created = await subscribe(
        client,
        tenant_a,
        "https://hooks.example.com/agency",
        event_types=["publication.failed", "publication.published", "publication.failed"],
        description="Our CRM",
    )
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert created["event_types"] == ["publication.published", "publication.failed"]
    url = f"/webhooks/{created['id']}"
    got = await client.get(url, headers=tenant_a.headers)
    listed = await client.get("/webhooks", headers=tenant_a.headers)
    changed = await client.patch(
        url,
        json={"description": "CRM", "enabled": False},
        headers={**tenant_a.headers, "If-Match": got.headers["etag"]},
    )
    audit = await client.get("/audit-events", headers=tenant_a.headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["enabled"] is False
    assert changed.headers["etag"] != got.headers["etag"]
    for response in (got, listed, changed, audit):
        assert response.status_code == 200
        assert secret[6:] not in response.text
    assert "secret" not in got.json() and "secret" not in listed.json()["items"][0]
    assert listed.json()["items"][0]["id"] == created["id"]
    actions = [e["action"] for e in audit.json()["items"]]
    assert {"webhook.created", "webhook.updated"} <= set(actions)
    async with runtime.session() as session:
        await bind_tenant(session, tenant_a.agency_id)
        stored = (await session.execute(text("SELECT secret FROM webhook_subscriptions"))).scalar()
    assert stored is not None and secret[6:] not in stored


async def test_a_repeated_idempotency_key_creates_one_subscription(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
) -> None:
    headers = {**tenant_a.headers, "Idempotency-Key": "create-hook-1"}
    body = {"url": "https://hooks.example.com/a"}
    first = await client.post("/webhooks", json=body, headers=headers)
    again = await client.post("/webhooks", json=body, headers=headers)
    other = await client.post(
        "/webhooks", json={"url": "https://hooks.example.com/b"}, headers=headers
    )
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert_problem(other, 422)
    assert await count_rows(runtime, "webhook_subscriptions") == 1


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"url": "http://hooks.example.com/x"}, ["url", "https://"]),
        ({"url": "https://10.1.2.3/x"}, ["url", "a private address"]),
        ({"url": "https://172.16.0.1/x"}, ["url", "a private address"]),
        ({"url": "https://192.168.1.1/x"}, ["url", "a private address"]),
        ({"url": "https://100.64.0.1/x"}, ["url", "carrier-grade NAT"]),
        ({"url": "https://127.0.0.1/x"}, ["url", "loopback"]),
        ({"url": "https://[::1]:8443/x"}, ["url", "loopback"]),
        ({"url": "https://169.254.169.254/latest"}, ["url", "link-local"]),
        ({"url": "https://localhost/x"}, ["url", "local name"]),
        # IPv6 forms that carry an IPv4 address, and the resolver's numeric IPv4 forms.
        ({"url": "https://[::ffff:127.0.0.1]/x"}, ["url", "loopback"]),
        ({"url": "https://[64:ff9b::7f00:1]/x"}, ["url", "loopback address inside an IPv6"]),
        ({"url": "https://[64:ff9b:1::a00:1]/x"}, ["url", "NAT64"]),
        ({"url": "https://[2002:7f00:1::]/x"}, ["url", "loopback address inside an IPv6"]),
        ({"url": "https://[::127.0.0.1]/x"}, ["url", "loopback address inside an IPv6"]),
        ({"url": "https://[2001:0:a9fe:a9fe::1]/x"}, ["url", "link-local address inside"]),
        ({"url": "https://2130706433/x"}, ["url", "loopback"]),
        ({"url": "https://0x7f.1/x"}, ["url", "loopback"]),
        ({"url": "https://[ff02::1]/x"}, ["url", "multicast"]),
        ({"url": "https://0.0.0.0/x"}, ["url", "unspecified"]),
        ({"url": "https://user:pw@hooks.example.com/x"}, ["url", "credentials"]),
        ({"url": "not a url"}, ["url"]),
    ],
)
async def test_bad_targets_are_refused_and_nothing_is_written(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Tenant,
    body: dict[str, Any],
    words: list[str],
) -> None:
    response = await client.post("/webhooks", json=body, headers=tenant_a.headers)
    problem = assert_problem(response, 422, *words)
    assert problem["errors"][0]["field"] == "url"
    assert await count_rows(runtime, "webhook_subscriptions") == 0
    assert await count_rows(runtime, "audit_events WHERE action LIKE 'webhook%'") == 0


async def test_unknown_event_types_and_bad_edits_are_refused(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
) -> None:
    unknown = await client.post(
        "/webhooks",
        json={"url": "https://hooks.example.com/x", "event_types": ["publication.exploded"]},
        headers=tenant_a.headers,
    )
    assert_problem(unknown, 422, "event_types")
    created = await subscribe(client, tenant_a, "https://hooks.example.com/x")
    url = f"/webhooks/{created['id']}"
    no_if_match = await client.patch(url, json={"enabled": False}, headers=tenant_a.headers)
    assert_problem(no_if_match, 428)
    stale = await client.patch(
        url, json={"enabled": False}, headers={**tenant_a.headers, "If-Match": '"99"'}
    )
    assert_problem(stale, 412)
    private = await client.patch(
        url, json={"url": "https://192.168.1.10/x"}, headers={**tenant_a.headers, "If-Match": "*"}
    )
    assert_problem(private, 422, "private")
    got = (await client.get(url, headers=tenant_a.headers)).json()
    assert got["url"] == "https://hooks.example.com/x"
    assert got["enabled"] is True


async def test_every_known_event_type_can_be_chosen(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    created = await subscribe(
        client, tenant_a, "https://hooks.example.com/all", event_types=list(EVENT_TYPES)
    )
    assert created["event_types"] == list(EVENT_TYPES)
    assert "channel.needs_reconnect" in EVENT_TYPES


# -- delivery ---------------------------------------------------------------------------------


@pytest.mark.parametrize("system", [False, True], ids=["tenant-session", "system-session"])
async def test_an_emitted_event_arrives_signed(scene: Scene, system: bool) -> None:
    hook = await scene.subscribe()
    await scene.emit("publication.published", "p-42", system=system)
    delivery = await scene.finished(hook["id"])
    assert delivery["status"] == "succeeded", delivery
    assert delivery["attempts"] == 1
    assert delivery["last_status_code"] == 200
    assert delivery["last_duration_ms"] is not None
    assert delivery["next_attempt_at"] is None
    [request] = scene.requests
    payload = verify(hook["secret"], request)
    assert payload["type"] == "publication.published"
    assert payload["data"]["title"] == "p-42"
    assert payload["data"]["status"] == "published"
    assert payload["timestamp"].endswith("Z")
    assert request.headers["webhook-id"] == delivery["event_id"]
    assert request.headers["content-type"] == "application/json"
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43).verify(request.body, request.headers)
    detail = await scene.client.get(
        f"/webhook-deliveries/{delivery['id']}", headers=scene.tenant.headers
    )
    assert detail.json()["payload"] == payload


async def test_filters_and_disabled_subscriptions_are_respected(
    scene: Scene, tenant_b: Tenant
) -> None:
    failures = await scene.subscribe("/failures", event_types=["publication.failed"])
    everything = await scene.subscribe("/all")
    await scene.subscribe("/off", enabled=False)
    await scene.subscribe("/other-agency", tenant=tenant_b)
    await scene.emit("publication.published")
    await scene.emit("publication.failed")

    async def all_done() -> bool:  # the three deliveries, which go out side by side
        return (
            len(await scene.deliveries(everything["id"], status="succeeded")) == 2
            and len(await scene.deliveries(failures["id"], status="succeeded")) == 1
        )

    await scene.eventually(all_done)
    [only_failure] = await scene.deliveries(failures["id"])
    assert only_failure["event_type"] == "publication.failed"
    paths = sorted(r.path for r in scene.requests)
    assert paths == ["/hooks/agency/all", "/hooks/agency/all", "/hooks/agency/failures"]
    with pytest.raises(ValueError, match="unknown webhook event type"):
        await scene.emit("publication.exploded")


async def test_an_event_emitted_in_a_rolled_back_transaction_is_never_sent(
    scene: Scene,
) -> None:
    hook = await scene.subscribe()
    await scene.emit(title="rolled back", commit=False)
    await scene.emit(title="committed")
    await scene.finished(hook["id"])
    # Time passes well beyond any lease: the scheduler finds nothing to re-send either.
    await tick(scene.runtime, utcnow() + timedelta(hours=1))
    await asyncio.sleep(0.5)
    assert [verify(hook["secret"], r)["data"]["title"] for r in scene.requests] == ["committed"]
    assert await count_rows(scene.runtime, "webhook_events") == 1


async def test_a_failing_receiver_is_retried_until_it_answers(scene: Scene) -> None:
    scene.receiver.script = [Response(500, b"database down")]
    hook = await scene.subscribe()
    await scene.emit()
    delivery = await scene.finished(hook["id"])
    assert delivery["status"] == "succeeded"
    assert delivery["attempts"] == 2
    assert delivery["last_status_code"] == 200
    assert delivery["last_error"] is None
    first, second = scene.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert verify(hook["secret"], second) == verify(hook["secret"], first)
    assert scene.receiver.arrived[1] - scene.receiver.arrived[0] >= 0.2


async def test_a_receiver_that_never_answers_2xx_ends_failed_with_the_reason(
    scene: Scene,
) -> None:
    scene.receiver.script = [Response(404, b"no such hook")] * 5
    hook = await scene.subscribe()
    await scene.emit()
    delivery = await scene.finished(hook["id"])
    # One attempt, then one per retry delay (two in this test's settings).
    assert delivery["status"] == "failed"
    assert delivery["attempts"] == 3
    assert len(scene.requests) == 3
    assert delivery["last_status_code"] == 404
    # The receiver's words stay out of the log: it may be a service that should stay quiet.
    assert delivery["last_error"] == "The receiver answered HTTP 404 Not Found."
    assert delivery["next_attempt_at"] is None
    failed = await scene.deliveries(hook["id"], status="failed")
    assert [d["id"] for d in failed] == [delivery["id"]]
    assert await scene.deliveries(hook["id"], status="succeeded") == []


async def test_retry_after_on_429_is_honoured(scene: Scene) -> None:
    scene.receiver.script = [Response(429, b"slow down", {"retry-after": "2"})]
    hook = await scene.subscribe()
    await scene.emit()

    async def answered_once() -> dict[str, Any] | None:
        items = await scene.deliveries(hook["id"])
        return items[0] if items and items[0]["last_status_code"] else None

    waiting = await scene.eventually(answered_once)
    assert waiting["status"] == "pending"
    assert waiting["last_error"].startswith("The receiver answered HTTP 429")
    delivery = await scene.finished(hook["id"])
    assert delivery["status"] == "succeeded"
    # The schedule says 0.2 s; the receiver asked for 2 s.
    assert scene.receiver.arrived[1] - scene.receiver.arrived[0] >= 2.0


async def test_a_timeout_is_retried(scene: Scene) -> None:
    scene.configure((scene.host,), timeout_seconds=0.5, retry_delays_seconds=[0.2])
    scene.receiver.delay = 1.0
    hook = await scene.subscribe()
    await scene.emit()
    delivery = await scene.finished(hook["id"])
    assert delivery["status"] == "failed"
    assert delivery["attempts"] == 2
    assert delivery["last_status_code"] is None
    assert delivery["last_error"] == "No answer within 0.5 s."


async def test_replay_sends_the_same_event_again_as_a_new_delivery(scene: Scene) -> None:
    scene.receiver.script = [Response(500)] * 3
    hook = await scene.subscribe()
    await scene.emit(title="p-7")
    failed = await scene.finished(hook["id"])
    assert failed["status"] == "failed"

    replay = await scene.post(f"/webhook-deliveries/{failed['id']}/replay")
    assert replay.status_code == 202, replay.text
    assert replay.json()["replay_of"] == failed["id"]
    assert replay.json()["event_id"] == failed["event_id"]
    assert replay.json()["status"] == "pending"
    replayed = await scene.finished(hook["id"])
    assert replayed["id"] == replay.json()["id"]
    assert replayed["status"] == "succeeded"
    assert {r.headers["webhook-id"] for r in scene.requests} == {failed["event_id"]}
    assert verify(hook["secret"], scene.requests[-1])["data"]["title"] == "p-7"
    listed = await scene.deliveries(hook["id"])
    assert [d["id"] for d in listed] == [replayed["id"], failed["id"]]  # newest first
    first_page = await scene.client.get(
        f"/webhooks/{hook['id']}/deliveries", params={"limit": 1}, headers=scene.tenant.headers
    )
    rest = await scene.client.get(
        f"/webhooks/{hook['id']}/deliveries",
        params={"limit": 1, "cursor": first_page.json()["next_cursor"]},
        headers=scene.tenant.headers,
    )
    assert [d["id"] for d in rest.json()["items"]] == [failed["id"]]
    assert rest.json()["next_cursor"] is None


async def test_ping_and_disabled_subscriptions(scene: Scene) -> None:
    hook = await scene.subscribe(event_types=["publication.failed"])
    ping = await scene.post(f"/webhooks/{hook['id']}/ping")
    assert ping.status_code == 202, ping.text
    assert ping.json()["event_type"] == "webhook.ping"
    delivery = await scene.finished(hook["id"])
    assert delivery["status"] == "succeeded"
    payload = verify(hook["secret"], scene.requests[0])
    assert payload["type"] == "webhook.ping"
    assert payload["data"]["webhook_id"] == hook["id"]

    off = await scene.client.patch(
        f"/webhooks/{hook['id']}",
        json={"enabled": False},
        headers={**scene.tenant.headers, "If-Match": "*"},
    )
    assert off.status_code == 200
    assert_problem(await scene.post(f"/webhooks/{hook['id']}/ping"), 409)
    replay = await scene.post(f"/webhook-deliveries/{delivery['id']}/replay")
    assert_problem(replay, 409, "disabled")


async def test_a_lost_message_is_sent_again_by_the_scheduler_and_a_duplicate_does_nothing(
    scene: Scene, worker: dramatiq.Worker
) -> None:
    hook = await scene.subscribe()
    # Committed, but the message never reaches the broker.
    await scene.emit(send_jobs=False)
    await tick(scene.runtime)
    await asyncio.sleep(0.5)
    assert scene.requests == [], "inside its lease the delivery waits for its own message"
    [pending] = await scene.deliveries(hook["id"])

    settings = scene.runtime.settings.webhooks
    claimed = await tick(scene.runtime, utcnow() + lease(settings) + timedelta(seconds=1))
    assert claimed >= 1
    delivery = await scene.finished(hook["id"])
    assert delivery["status"] == "succeeded"
    # The lost message turns up after all, twice: the row says it is done, nothing is sent.
    actor = scene.runtime.broker.get_actor("webhook.deliver")
    for _ in range(2):
        actor.send(str(scene.tenant.agency_id), pending["id"], 0)
    scene.runtime.broker.join("webhooks", timeout=10_000)
    worker.join()
    assert len(scene.requests) == 1


async def test_a_rotated_secret_signs_alongside_the_old_one_for_a_day(scene: Scene) -> None:
    hook = await scene.subscribe()
    rotated = await scene.post(f"/webhooks/{hook['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != hook["secret"]
    assert rotated.json()["previous_secret_expires_at"] is not None
    got = await scene.client.get(f"/webhooks/{hook['id']}", headers=scene.tenant.headers)
    assert new_secret[6:] not in got.text and hook["secret"][6:] not in got.text
    await scene.emit()
    await scene.finished(hook["id"])
    [request] = scene.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert verify(new_secret, request) == verify(hook["secret"], request)


async def test_a_name_resolving_to_a_private_address_is_refused_at_delivery(
    scene: Scene,
) -> None:
    named = scene.url.replace("127.0.0.1", "localhost")
    scene.configure((urlsplit(named).netloc,))
    hook = await subscribe(scene.client, scene.tenant, named)
    # The operator no longer allows it (and a new one would need https).
    scene.configure(retry_delays_seconds=[0.1], timeout_seconds=2)
    await scene.emit()
    delivery = await scene.finished(hook["id"])
    assert delivery["status"] == "failed"
    assert delivery["last_error"] == "Refused: localhost names this machine (a local name)."
    assert scene.requests == []


async def test_old_events_are_purged_with_their_deliveries(scene: Scene) -> None:
    hook = await scene.subscribe()
    await scene.emit()
    await scene.finished(hook["id"])
    async with scene.runtime.session() as session:
        await bind_system(session)
        assert await purge_events(session, utcnow() - timedelta(minutes=1)) == 0
        assert await purge_events(session, utcnow() + timedelta(minutes=1)) == 1
        await session.commit()
    assert await scene.deliveries(hook["id"]) == []


async def test_deleting_a_subscription_drops_its_log(scene: Scene) -> None:
    hook = await scene.subscribe()
    await scene.emit()
    delivery = await scene.finished(hook["id"])
    deleted = await scene.client.delete(f"/webhooks/{hook['id']}", headers=scene.tenant.headers)
    assert deleted.status_code == 204
    headers = scene.tenant.headers
    assert_problem(await scene.client.get(f"/webhooks/{hook['id']}", headers=headers), 404)
    missing = await scene.client.get(f"/webhook-deliveries/{delivery['id']}", headers=headers)
    assert_problem(missing, 404)
    assert await count_rows(scene.runtime, "webhook_deliveries") == 0


async def test_webhooks_need_the_manage_permission(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    token = await client.post(
        "/api-tokens", json={"name": "reader", "scopes": ["agency:read"]}, headers=tenant_a.headers
    )
    headers = {"Authorization": f"Bearer {token.json()['token']}"}
    assert_problem(await client.get("/webhooks", headers=headers), 403, "webhooks:manage")
    created = await client.post(
        "/webhooks", json={"url": "https://hooks.example.com/x"}, headers=headers
    )
    assert_problem(created, 403)


async def test_a_channel_that_needs_reconnecting_is_announced_once(
    scene: Scene,
    world: World,
) -> None:
    hook = await scene.subscribe(event_types=["channel.needs_reconnect"])
    done = (await world.connect(await world.brand())).json()
    channel_id = done["channel_ids"][0]
    world.network.revoke_refresh_tokens()
    for _ in range(2):
        refused = await world.client.post(
            f"/channels/{channel_id}/refresh", headers=world.tenant.headers
        )
        assert refused.json()["health"] == "needs_reconnect"
    delivery = await scene.finished(hook["id"])
    assert delivery["status"] == "succeeded"
    assert len(await scene.deliveries(hook["id"])) == 1
    [request] = scene.requests
    payload = verify(hook["secret"], request)
    assert payload["type"] == "channel.needs_reconnect"
    assert payload["data"]["channel_id"] == channel_id
    assert payload["data"]["network"] == "testnet"
    assert "revoked" in payload["data"]["reason"]
