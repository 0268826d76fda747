"""Crisis mode per brand through the API, with the scheduler's ticks and a real Dramatiq worker:
the queue held (never missed), drafting still open, who may switch it, releasing what it
held in one call, and the timeline exported for the post-mortem."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq
import httpx
import pytest
from sqlalchemy import select

from agency.client.models import ClientMember
from agency.kernel.scheduling import tick
from agency.kernel.tenancy import bind_tenant
from agency.webhook.models import WebhookEvent
from tests.conftest import Tenant, count_rows
from tests.helpers import add_client_member, assert_problem, bearer, client_session, invite_and_join
from tests.support.publishing import running_worker, soon
from tests.support.smtp import SmtpServer
from tests.support.world import World, scheduled_post
from tests.support.world import stubnet as stubnet
from tests.support.world import world as world


@pytest.fixture
def worker(world: World) -> Iterator[dramatiq.Worker]:
    with running_worker(world.runtime) as consumer:
        yield consumer


async def start(world: World, brand: str, headers: dict[str, str] | None = None) -> Any:
    return await world.client.post(
        f"/brands/{brand}/crisis",
        json={"reason": "Bad buzz about the recall"},
        headers=headers or world.headers,
    )


async def end(world: World, brand: str, headers: dict[str, str] | None = None) -> Any:
    return await world.client.post(
        f"/brands/{brand}/crisis/end",
        json={"reason": "Statement published, the storm is over"},
        headers=headers or world.headers,
    )


async def state(world: World, brand: str) -> dict[str, Any]:
    response = await world.client.get(f"/brands/{brand}/crisis", headers=world.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def ticks(world: World, seconds: float = 1.5) -> None:
    """Let the scheduler and the worker run for a while."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        await tick(world.runtime)
        await asyncio.sleep(0.1)


async def test_a_crisis_holds_the_queue_and_nothing_leaves_until_released(
    world: World,
    worker: dramatiq.Worker,
) -> None:
    brand = await world.brand()
    channel = await world.channel(brand)
    first = await world.draft(brand, {"channel_id": channel, "text": "Promo d'été -50 %"})
    first = (await world.schedule(first, soon())).json()
    second = await world.draft(brand, {"channel_id": channel, "text": "Jeu concours"})
    second = (await world.schedule(second, soon(7 * 86400))).json()
    # Approved before the crisis, not yet on the calendar.
    ready = await world.draft(
        brand, {"channel_id": channel, "text": "Statement"}, title="Statement"
    )
    submitted = await world.client.post(
        f"/publications/{ready['id']}/submit", headers=world.headers
    )
    assert submitted.json()["status"] == "approved", submitted.text

    manager = await invite_and_join(
        world.client, world.tenant, "lead@alpha.example", "manager", name="Lea Lead"
    )
    started = await start(world, brand, bearer(manager["token"]))
    assert started.status_code == 201, started.text
    crisis = started.json()
    assert crisis["active"] and crisis["reason"] == "Bad buzz about the recall"
    assert crisis["started_by"] == {"kind": "user", "id": manager["user_id"], "name": "Lea Lead"}
    now = await state(world, brand)
    assert now["active"] and now["held_publications"] == 2
    assert now["crisis"]["id"] == crisis["id"]
    brand_out = (await world.client.get(f"/brands/{brand}", headers=world.headers)).json()
    assert brand_out["crisis_id"] == crisis["id"]

    # Due, and far past the brand's grace: held, not missed, not sent.
    await world.make_due(first["id"], seconds_ago=3 * 3600)
    await ticks(world)
    held = await world.get(first["id"])
    assert world.net.posts == []
    assert held["status"] == "scheduled"
    assert held["variants"][0]["status"] == "scheduled"
    assert held["variants"][0]["held_at"] is not None
    assert "crisis" in held["variants"][0]["hold_reason"]

    # The community manager can still draft (what leaves needs the decision makers: below).
    cm = await invite_and_join(world.client, world.tenant, "cm@alpha.example", "community_manager")
    drafted = await world.client.post(
        f"/brands/{brand}/publications",
        json={"title": "Draft", "variants": [{"channel_id": channel, "text": "We hear you"}]},
        headers=bearer(cm["token"]),
    )
    assert drafted.status_code == 201, drafted.text
    # Approved before the crisis and scheduled during it: the worker holds it when due.
    statement = await world.schedule(await world.get(ready["id"]), soon())
    assert statement.status_code == 200, statement.text
    await world.make_due(ready["id"])
    third = await world.until(ready["id"], lambda p: p["variants"][0]["held_at"] is not None)
    assert third["variants"][0]["status"] == "scheduled"
    assert world.net.posts == []

    # Releasing is refused while the crisis is on; ending it releases nothing by itself.
    body = {"items": [{"publication_id": first["id"], "action": "reconfirm"}]}
    release = f"/brands/{brand}/held-publications/release"
    assert_problem(
        await world.client.post(release, json=body, headers=world.headers), 409, "crisis"
    )
    ended = await end(world, brand)
    assert ended.status_code == 200, ended.text
    assert not ended.json()["active"] and ended.json()["ended_by"]["kind"] == "api_token"
    assert (await state(world, brand))["held_publications"] == 3
    await ticks(world)
    assert world.net.posts == []

    listed = await world.client.get(f"/brands/{brand}/held-publications", headers=world.headers)
    assert {p["publication_id"] for p in listed.json()["items"]} == {
        first["id"],
        second["id"],
        ready["id"],
    }
    # One call for many: re-confirm the promo (its time passed: it goes now), reschedule the
    # contest; the statement stays held (staying silent is a choice).
    later = datetime.now(UTC) + timedelta(days=10)
    body = {
        "items": [
            {"publication_id": first["id"], "action": "reconfirm"},
            {"publication_id": second["id"], "action": "reschedule", "at": later.isoformat()},
        ]
    }
    released = await world.client.post(release, json=body, headers=world.headers)
    assert released.status_code == 200, released.text
    actions = {i["publication_id"]: i["action"] for i in released.json()["items"]}
    assert actions == {first["id"]: "reconfirm", second["id"]: "reschedule"}
    done = await world.until(first["id"], lambda p: p["status"] == "published")
    assert done["variants"][0]["held_at"] is None
    contest = await world.get(second["id"])
    assert contest["variants"][0]["held_at"] is None
    assert abs(datetime.fromisoformat(contest["scheduled_at"]) - later) < timedelta(seconds=1)
    await ticks(world, 0.5)
    assert [p["text"] for p in world.net.posts] == ["Promo d'été -50 %"]
    assert (await world.get(ready["id"]))["variants"][0]["held_at"] is not None

    # The timeline: who switched it, what was held (by whom), ended, released, rescheduled.
    timeline = await world.client.get(f"/crises/{crisis['id']}/timeline", headers=world.headers)
    assert timeline.status_code == 200, timeline.text
    events = timeline.json()["events"]
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "started" and kinds.count("held") == 3
    assert kinds[-2:] == ["released", "rescheduled"] or kinds[-2:] == ["rescheduled", "released"]
    assert "ended" in kinds
    held_by_worker = [e for e in events if e["kind"] == "held" and e["actor"]["kind"] == "system"]
    assert [e["publication_title"] for e in held_by_worker] == ["Statement"]
    assert events[0]["actor"]["name"] == "Lea Lead"
    assert events[0]["detail"]["reason"].startswith("Bad buzz")
    exported = await world.client.get(f"/crises/{crisis['id']}/timeline.csv", headers=world.headers)
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["kind"] for r in rows] == kinds
    assert {r["publication_title"] for r in rows if r["kind"] == "held"} == {
        "Launch",
        "Statement",
    }


async def test_a_crisis_switched_on_during_publishing_lets_the_call_in_flight_finish(
    world: World,
    worker: dramatiq.Worker,
) -> None:
    """A post whose call is on the wire when the crisis starts is published (it left before
    the crisis) and the timeline says so; the brand's other due posts are held."""
    publication = await scheduled_post(world, "Already leaving")
    brand = publication["brand_id"]
    world.net.plan.append("hold")
    await world.make_due(publication["id"])
    await tick(world.runtime)
    assert await asyncio.to_thread(world.net.received.wait, 15), "no call reached the network"
    crisis = await start(world, brand)
    assert crisis.status_code == 201, crisis.text
    world.net.released.set()
    done = await world.until(publication["id"], lambda p: p["status"] == "published")
    assert done["variants"][0]["held_at"] is None
    events = (
        await world.client.get(f"/crises/{crisis.json()['id']}/timeline", headers=world.headers)
    ).json()["events"]
    assert [e["kind"] for e in events] == ["started", "notified", "published"]


async def comment_held_by_a_crisis(world: World) -> tuple[dict[str, Any], str]:
    """A post on the wire as the crisis begins: it is published, its first comment held.
    The publication, and the crisis it held it for."""
    publication = await scheduled_post(world, "Already leaving", first_comment="Lien en bio")
    world.net.plan.append("hold")
    await world.make_due(publication["id"])
    await tick(world.runtime)
    assert await asyncio.to_thread(world.net.received.wait, 15), "no call reached the network"
    crisis = await start(world, publication["brand_id"])
    assert crisis.status_code == 201, crisis.text
    world.net.released.set()
    done = await world.until(
        publication["id"], lambda p: p["variants"][0]["first_comment_status"] is not None
    )
    assert done["status"] == "published"
    assert done["variants"][0]["first_comment_status"] == "held"
    assert world.net.comments == []
    return done, str(crisis.json()["id"])


async def held_list(world: World, brand: str) -> list[dict[str, Any]]:
    response = await world.client.get(f"/brands/{brand}/held-publications", headers=world.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def release(world: World, brand: str, *items: dict[str, Any]) -> httpx.Response:
    return await world.client.post(
        f"/brands/{brand}/held-publications/release",
        json={"items": list(items)},
        headers=world.headers,
    )


async def test_a_first_comment_held_by_a_crisis_goes_once_when_a_person_releases_it(
    world: World, worker: dramatiq.Worker
) -> None:
    publication, crisis_id = await comment_held_by_a_crisis(world)
    brand, variant = publication["brand_id"], publication["variants"][0]
    # It waits where the crisis's other holds wait, marked as a first comment.
    [held] = await held_list(world, brand)
    assert held["publication_id"] == publication["id"]
    assert [(v["variant_id"], v["waiting"]) for v in held["variants"]] == [
        (variant["id"], "first_comment")
    ]
    assert (await state(world, brand))["held_publications"] == 1
    # Nothing is sent by itself, not even when the crisis ends.
    assert (await end(world, brand)).status_code == 200
    await ticks(world, 1.0)
    assert world.net.comments == []
    # Its post is out: it cannot be rescheduled, only re-confirmed (or discarded).
    refused = await release(
        world,
        brand,
        {"publication_id": publication["id"], "action": "reschedule", "at": soon().isoformat()},
    )
    assert_problem(refused, 422, "first comment")
    released = await release(
        world, brand, {"publication_id": publication["id"], "action": "reconfirm"}
    )
    assert released.status_code == 200, released.text
    done = await world.until(
        publication["id"], lambda p: p["variants"][0]["first_comment_status"] == "posted"
    )
    assert [(c["post_id"], c["text"]) for c in world.net.comments] == [
        (done["variants"][0]["post_id"], "Lien en bio")
    ]
    await ticks(world, 1.0)  # claimed once: never posted twice
    assert len(world.net.comments) == 1
    assert await held_list(world, brand) == []
    again = await release(
        world, brand, {"publication_id": publication["id"], "action": "reconfirm"}
    )
    assert_problem(again, 422, "is held")
    kinds = [
        e["kind"]
        for e in (
            await world.client.get(f"/crises/{crisis_id}/timeline", headers=world.headers)
        ).json()["events"]
    ]
    assert kinds[-1] == "first_comment_released" and "first_comment_held" in kinds


async def test_a_first_comment_held_by_a_crisis_may_be_discarded(
    world: World, worker: dramatiq.Worker
) -> None:
    publication, _ = await comment_held_by_a_crisis(world)
    brand = publication["brand_id"]
    discard = {"publication_id": publication["id"], "action": "discard"}
    # While the crisis is on, nothing held is released or discarded.
    assert_problem(await release(world, brand, discard), 409)
    assert (await end(world, brand)).status_code == 200
    assert (await release(world, brand, discard)).status_code == 200
    shown = await world.get(publication["id"])
    assert shown["variants"][0]["first_comment_status"] == "discarded"
    await ticks(world, 1.0)
    assert world.net.comments == []
    assert await held_list(world, brand) == []


async def test_a_held_post_is_not_discarded(world: World, worker: dramatiq.Worker) -> None:
    """Discarding is for first comments whose post is out; a held post is canceled (or
    released) as a publication."""
    publication = await scheduled_post(world, "Promo")
    brand = publication["brand_id"]
    assert (await start(world, brand)).status_code == 201
    assert (await end(world, brand)).status_code == 200
    refused = await release(
        world, brand, {"publication_id": publication["id"], "action": "discard"}
    )
    assert_problem(refused, 422, "cancel")
    assert len(await held_list(world, brand)) == 1


async def test_who_may_switch_a_crisis(world: World) -> None:
    client, tenant = world.client, world.tenant
    brand = await world.brand()
    other = await world.brand("autre")
    cm = await invite_and_join(client, tenant, "cm@alpha.example", "community_manager")
    refused = await start(world, brand, bearer(cm["token"]))
    assert_problem(refused, 403, "crisis:manage")
    assert (await state(world, brand))["active"] is False

    # Only the client's general management may hold the client permission `crisis`.
    assert_problem(
        await client.post(
            f"/brands/{brand}/client-members",
            json={
                "name": "Mona Marketing",
                "email": "mona@maison.example",
                "reporting_line": "marketing",
                "permissions": ["crisis"],
            },
            headers=tenant.headers,
        ),
        422,
        "management",
    )
    # Nor may anyone hand it out who could not switch a crisis themselves.
    narrow = await client.post(
        "/api-tokens",
        json={"name": "brands", "scopes": ["brands:read", "brands:write", "publications:read"]},
        headers=tenant.headers,
    )
    assert_problem(
        await client.post(
            f"/brands/{brand}/client-members",
            json={
                "name": "Dora DG",
                "email": "dora@maison.example",
                "reporting_line": "management",
                "permissions": ["crisis"],
            },
            headers=bearer(narrow.json()["token"]),
        ),
        403,
        "crisis:manage",
    )
    dg = await add_client_member(
        client,
        tenant,
        brand,
        "dg@maison.example",
        ["crisis", "calendar:read"],
        reporting_line="management",
    )
    dg_headers = bearer(await client_session(world.runtime, tenant.agency_id, dg["user_id"]))
    # Another brand's crisis is out of their reach: it answers like a missing brand.
    assert_problem(await start(world, other, dg_headers), 404)
    started = await start(world, brand, dg_headers)
    assert started.status_code == 201, started.text
    assert started.json()["started_by"] == {
        "kind": "client",
        "id": dg["user_id"],
        "name": "Claire Client",
    }
    # Whoever could not start it cannot end it either: nothing changes.
    assert_problem(await end(world, brand, bearer(cm["token"])), 403)
    reader = await add_client_member(
        client, tenant, brand, "reader@maison.example", ["calendar:read"]
    )
    reader_headers = bearer(
        await client_session(world.runtime, tenant.agency_id, reader["user_id"])
    )
    assert_problem(await end(world, brand, reader_headers), 403)
    assert (await state(world, brand))["active"] is True
    # A general manager who lost the line keeps nothing: the place is checked each time.
    async with world.runtime.session() as session:
        await bind_tenant(session, tenant.agency_id)
        place = await session.get(ClientMember, uuid.UUID(dg["id"]))
        assert place is not None
        place.reporting_line = "marketing"
        await session.commit()
    assert_problem(await end(world, brand, dg_headers), 403, "general management")
    ended = await end(world, brand)
    assert ended.status_code == 200, ended.text
    assert ended.json()["ended_by"]["kind"] == "api_token"


async def test_bad_crisis_requests_are_problems_and_change_nothing(
    world: World,
) -> None:
    brand = await world.brand("autre")
    assert_problem(await end(world, brand), 409, "not in crisis")
    assert_problem(
        await world.client.post(f"/brands/{brand}/crisis", json={}, headers=world.headers), 422
    )
    assert_problem(
        await world.client.post(
            f"/brands/{brand}/crisis", json={"reason": ""}, headers=world.headers
        ),
        422,
    )
    assert (await start(world, brand)).status_code == 201
    assert_problem(await start(world, brand), 409, "already")
    assert await count_rows(world.runtime, "crises") == 1
    assert (await end(world, brand)).status_code == 200

    publication = await scheduled_post(world, "Held then released")
    brand2 = publication["brand_id"]
    assert (await start(world, brand2)).status_code == 201
    assert (await end(world, brand2)).status_code == 200
    release = f"/brands/{brand2}/held-publications/release"
    nowhere = str(uuid.uuid4())
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    body = {
        "items": [
            {"publication_id": publication["id"], "action": "reconfirm", "at": soon().isoformat()},
            {"publication_id": nowhere, "action": "reconfirm"},
            {"publication_id": publication["id"], "action": "reschedule", "at": past},
            {"publication_id": publication["id"], "action": "reschedule"},
        ]
    }
    problem = assert_problem(
        await world.client.post(release, json=body, headers=world.headers), 422, "nothing"
    )
    fields = {e["field"] for e in problem["errors"]}
    assert {"items[0].at", "items[1].publication_id", "items[2].at", "items[2].publication_id"} <= (
        fields
    )
    assert "items[3].at" in fields
    still = await world.get(publication["id"])
    assert still["variants"][0]["held_at"] is not None
    # The right to release is the right to schedule.
    analyst = await invite_and_join(world.client, world.tenant, "an@alpha.example", "analyst")
    one = {"items": [{"publication_id": publication["id"], "action": "reconfirm"}]}
    assert_problem(
        await world.client.post(release, json=one, headers=bearer(analyst["token"])), 403
    )


async def test_crisis_events_reach_the_webhooks(world: World) -> None:
    hook = await world.client.post(
        "/webhooks",
        json={
            "url": "https://hooks.example.com/crisis",
            "event_types": ["crisis.started", "crisis.ended"],
        },
        headers=world.headers,
    )
    assert hook.status_code == 201, hook.text
    brand = await world.brand()
    crisis = (await start(world, brand)).json()
    await end(world, brand)
    async with world.runtime.session() as session:
        await bind_tenant(session, world.tenant.agency_id)
        found = (
            (await session.execute(select(WebhookEvent).order_by(WebhookEvent.created_at)))
            .scalars()
            .all()
        )
    assert [e.type for e in found] == ["crisis.started", "crisis.ended"]
    assert crisis["id"] in found[0].body and "Bad buzz" in found[0].body
    assert "the storm is over" in found[1].body


async def test_the_decision_makers_are_told_in_their_language(
    client: httpx.AsyncClient,
    tenant_a: Tenant,
    smtp_on: SmtpServer,
    mail_worker: dramatiq.Worker,
) -> None:
    """Over real SMTP: the client's general management who decide, in their locale, and the
    agency's managers, in the brand's; nobody else."""
    created = await client.post(
        "/brands",
        json={"name": "Maison Dupont", "slug": "dupont", "timezone": "Europe/Paris"},
        headers=tenant_a.headers,
    )
    brand = created.json()["id"]
    await add_client_member(
        client,
        tenant_a,
        brand,
        "dg@dupont.example",
        ["approve"],
        reporting_line="management",
        locale="en",
        name="Diane Director",
        invite=False,
    )
    await add_client_member(client, tenant_a, brand, "mk@dupont.example", ["approve"], invite=False)
    await invite_and_join(
        client, tenant_a, "lead@alpha.example", "manager", name="Lea Lead", smtp=smtp_on
    )
    started = await client.post(
        f"/brands/{brand}/crisis", json={"reason": "Recall rumours"}, headers=tenant_a.headers
    )
    assert started.status_code == 201, started.text
    [to_dg] = smtp_on.handler.to("dg@dupont.example")
    assert to_dg.message["Subject"] == "Crisis mode is on for Maison Dupont"
    body = to_dg.message.get_content()
    assert body.startswith("Hello Diane Director,") and "Reason: Recall rumours" in body
    [to_lead] = smtp_on.handler.to("lead@alpha.example")
    assert to_lead.message["Subject"] == "Mode crise activé pour Maison Dupont"
    assert "Motif : Recall rumours" in to_lead.message.get_content()
    ended = await client.post(
        f"/brands/{brand}/crisis/end", json={"reason": "All clear"}, headers=tenant_a.headers
    )
    assert ended.status_code == 200, ended.text
    assert len(smtp_on.handler.to("dg@dupont.example")) >= 1
    deadline = asyncio.get_running_loop().time() + 10
    while len(smtp_on.handler.to("dg@dupont.example")) < 2:
        assert asyncio.get_running_loop().time() < deadline, "no end-of-crisis e-mail"
        await asyncio.sleep(0.1)
    last = smtp_on.handler.to("dg@dupont.example")[-1].message
    assert last["Subject"] == "Crisis mode is off for Maison Dupont"
    assert "All clear" in last.get_content()
    # The marketing lead approves day to day, but does not decide in a crisis.
    with smtp_on.handler.lock:
        recipients = {r for m in smtp_on.handler.received for r in m.recipients}
    assert "mk@dupont.example" not in recipients
    timeline = await client.get(
        f"/crises/{started.json()['id']}/timeline", headers=tenant_a.headers
    )
    told = [e["detail"] for e in timeline.json()["events"] if e["kind"] == "notified"]
    assert told == [{"people": 3, "about": "started"}, {"people": 3, "about": "ended"}]


async def test_in_a_crisis_only_the_decision_makers_let_anything_leave(
    world: World, worker: dramatiq.Worker
) -> None:
    """An autonomous brand (no approval at all) in crisis: the statement the community
    manager writes goes to the brand's decision makers; once one of them approves, it is
    published during the crisis, while the queue stays held."""
    client, tenant = world.client, world.tenant
    brand = await world.brand()
    channel = await world.channel(brand)
    queued = await world.draft(brand, {"channel_id": channel, "text": "Promo"})
    queued = (await world.schedule(queued, soon())).json()
    cm = await invite_and_join(client, tenant, "cm@alpha.example", "community_manager")
    dg = await add_client_member(
        client, tenant, brand, "dg@maison.example", ["approve"], reporting_line="management"
    )
    mk = await add_client_member(client, tenant, brand, "mk@maison.example", ["approve"])
    as_dg = bearer(await client_session(world.runtime, tenant.agency_id, dg["user_id"]))
    as_mk = bearer(await client_session(world.runtime, tenant.agency_id, mk["user_id"]))
    assert (await start(world, brand)).status_code == 201

    statement = await client.post(
        f"/brands/{brand}/publications",
        json={"title": "Statement", "variants": [{"channel_id": channel, "text": "We hear you"}]},
        headers=bearer(cm["token"]),
    )
    publication = statement.json()["id"]
    submitted = await client.post(
        f"/publications/{publication}/submit", headers=bearer(cm["token"])
    )
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "in_review"
    history = await client.get(f"/publications/{publication}/approvals", headers=world.headers)
    (round_,) = history.json()["rounds"]
    assert (round_["policy_name"], round_["routed_by"]) == ("Crisis", "crisis mode")
    version = history.json()["content_hash"]

    def decide(headers: dict[str, str]) -> Any:
        return client.post(
            f"/publications/{publication}/decisions",
            json={"decision": "approve", "content_hash": version},
            headers=headers,
        )

    assert_problem(await decide(bearer(cm["token"])), 403)  # four eyes
    assert_problem(await decide(as_mk), 403)  # marketing does not decide in a crisis
    decided = await decide(as_dg)
    assert decided.status_code == 201, decided.text
    approved = await world.get(publication)
    assert approved["status"] == "approved"
    assert (await world.schedule(approved, soon())).status_code == 200
    await world.make_due(publication)
    await world.make_due(queued["id"])
    done = await world.until(publication, lambda p: p["status"] == "published")
    assert done["variants"][0]["held_at"] is None
    await ticks(world, 0.5)
    assert [p["text"] for p in world.net.posts] == ["We hear you"]
    assert (await world.get(queued["id"]))["variants"][0]["held_at"] is not None

    crisis_id = (await state(world, brand))["crisis"]["id"]
    events = (await client.get(f"/crises/{crisis_id}/timeline", headers=world.headers)).json()
    lines = [(e["kind"], e["actor"]["name"]) for e in events["events"]]
    assert ("decided", "Claire Client") in lines
    assert ("published", None) in lines
    decided_line = next(e for e in events["events"] if e["kind"] == "decided")
    assert decided_line["detail"]["decision"] == "approve"
    assert decided_line["publication_title"] == "Statement"

    # Once the crisis is over, the brand is autonomous again.
    assert (await end(world, brand)).status_code == 200
    after = await world.draft(brand, {"channel_id": channel, "text": "Back to normal"})
    normal = await client.post(f"/publications/{after['id']}/submit", headers=world.headers)
    assert normal.json()["status"] == "approved"


async def test_content_approved_before_the_crisis_is_put_to_the_decision_makers_as_it_is(
    world: World, worker: dramatiq.Worker
) -> None:
    """A post approved and scheduled before the crisis is held; submitting it again (no
    edit) asks the crisis decision makers; once one approves, it keeps its time and leaves
    during the crisis."""
    client, tenant = world.client, world.tenant
    brand = await world.brand()
    channel = await world.channel(brand)
    at = soon(3600)
    promo = await world.draft(brand, {"channel_id": channel, "text": "Merci à nos clients"})
    promo = (await world.schedule(promo, at)).json()
    dg = await add_client_member(
        client, tenant, brand, "dg@maison.example", ["approve"], reporting_line="management"
    )
    as_dg = bearer(await client_session(world.runtime, tenant.agency_id, dg["user_id"]))
    assert (await start(world, brand)).status_code == 201
    assert (await world.get(promo["id"]))["variants"][0]["held_at"] is not None

    submitted = await client.post(f"/publications/{promo['id']}/submit", headers=world.headers)
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "in_review"
    history = (
        await client.get(f"/publications/{promo['id']}/approvals", headers=world.headers)
    ).json()
    assert history["rounds"][-1]["routed_by"] == "crisis mode"
    assert await held_list(world, brand) == []  # it waits for a decision, not on the shelf
    decided = await client.post(
        f"/publications/{promo['id']}/decisions",
        json={"decision": "approve", "content_hash": history["content_hash"]},
        headers=as_dg,
    )
    assert decided.status_code == 201, decided.text
    cleared = await world.get(promo["id"])
    assert cleared["status"] == "scheduled"
    assert datetime.fromisoformat(cleared["scheduled_at"]) == at
    # Cleared once: asking again is a conflict, not a new round.
    again = await client.post(f"/publications/{promo['id']}/submit", headers=world.headers)
    assert_problem(again, 409, "already cleared")
    await world.make_due(promo["id"])
    done = await world.until(promo["id"], lambda p: p["status"] == "published")
    assert done["variants"][0]["post_id"]
    assert [p["text"] for p in world.net.posts] == ["Merci à nos clients"]
