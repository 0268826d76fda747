"""The whole path through the API with a real Dramatiq worker and a network on loopback:
draft -> the steps of the client's lines -> approved -> published; and an edit after the
approval: nothing is published until it is approved again."""

from __future__ import annotations

import asyncio

import dramatiq

from agency.kernel.scheduling import tick
from tests.support.approvals import PRESS_CHAIN, Team, make_team
from tests.support.publishing import delivered, soon
from tests.support.stubnet import TOKEN
from tests.support.world import World, stubnet, worker, world  # noqa: F401 - fixtures


async def press_team(scene: World) -> Team:
    team = await make_team(scene.client, scene.runtime, scene.tenant, "stubnet", token=TOKEN)
    await team.client_member("presse", "press_relations")
    await team.client_member("dg", "management")
    await team.policy(PRESS_CHAIN)
    return team


async def approved_and_scheduled(team: Team, text: str) -> dict[str, object]:
    draft = await team.draft(text=text, reporting_line="press_relations")
    scheduled = await team.client.post(
        f"/publications/{draft['id']}/schedule",
        json={"at": soon(120).isoformat()},
        headers={**team.as_("cm"), "If-Match": f'"{draft["version"]}"'},
    )
    assert scheduled.json()["status"] == "in_review", scheduled.text
    for who in ("presse", "dg"):
        decided = await team.decide(who, draft["id"])
        assert decided.status_code == 201, decided.text
    current = await team.publication(draft["id"])
    assert current["status"] == "scheduled"
    return current


async def test_draft_steps_approved_published(
    world: World,  # noqa: F811 - the fixture imported above
    worker: dramatiq.Worker,  # noqa: F811
) -> None:
    team = await press_team(world)
    publication = await approved_and_scheduled(team, "Communiqué : l'usine ouvre.")
    # Before its time nothing goes out, even with every approval.
    await tick(world.runtime)
    await asyncio.sleep(0.3)
    assert world.net.posts == []
    await world.make_due(str(publication["id"]))
    done = await world.until(str(publication["id"]), delivered)
    assert done["status"] == "published"
    assert world.net.count("Communiqué : l'usine ouvre.") == 1
    versions = (
        await team.client.get(
            f"/publications/{publication['id']}/versions", headers=team.tenant.headers
        )
    ).json()["items"]
    assert [v["action"] for v in versions][:4] == ["created", "submitted", "time_set", "approved"]


async def test_an_edit_after_approval_publishes_nothing_until_approved_again(
    world: World,  # noqa: F811 - the fixture imported above
    worker: dramatiq.Worker,  # noqa: F811
) -> None:
    team = await press_team(world)
    publication = await approved_and_scheduled(team, "Version approuvée.")
    publication_id = str(publication["id"])
    await world.make_due(publication_id)  # its time has come...
    await team.edit(publication_id, "Version modifiée après validation.")  # ...and it is edited
    for _ in range(5):
        await tick(world.runtime)
        await asyncio.sleep(0.2)
    assert world.net.posts == []
    current = await team.publication(publication_id)
    assert (current["status"], current["variants"][0]["status"]) == ("in_review", "pending")

    # Approved again, after its time: approved, held, never published late by itself.
    for who in ("presse", "dg"):
        assert (await team.decide(who, publication_id)).status_code == 201
    current = await team.publication(publication_id)
    assert current["status"] == "approved"
    assert current["variants"][0]["hold_reason"].startswith("Approved after its time")
    for _ in range(3):
        await tick(world.runtime)
    assert world.net.posts == []

    # Given a new time, the approved version goes out, once; the first one never did.
    rescheduled = await team.client.post(
        f"/publications/{publication_id}/schedule",
        json={"at": soon().isoformat()},
        headers={**team.as_("cm"), "If-Match": f'"{current["version"]}"'},
    )
    assert rescheduled.json()["status"] == "scheduled", rescheduled.text
    await world.make_due(publication_id)
    done = await world.until(publication_id, delivered)
    assert done["status"] == "published"
    assert world.net.count("Version modifiée après validation.") == 1
    assert world.net.count("Version approuvée.") == 0
