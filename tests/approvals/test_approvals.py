"""Approvals through the API: policies, the steps of the client's reporting lines, four eyes,
decisions bound to the exact version, edits that send a publication back, history."""

from __future__ import annotations

import asyncio
import importlib

import httpx
import pytest
from litestar import Litestar

from agency.kernel.runtime import Runtime
from tests.conftest import Tenant, count_rows
from tests.helpers import assert_problem, insert_channel
from tests.support.approvals import PRESS_CHAIN, Team, make_team
from tests.support.routes import operations


@pytest.fixture
async def team(client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant) -> Team:
    team = await make_team(client, runtime, tenant_a)
    await team.client_member("presse", "press_relations")
    await team.client_member("dg", "management")
    await team.client_member("marketing", "marketing")
    return team


async def test_a_press_release_goes_to_the_pr_lead_then_general_management(team: Team) -> None:
    await team.policy(PRESS_CHAIN)
    draft = await team.draft(reporting_line="press_relations")
    submitted = await team.submit(draft["id"])
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "in_review"

    history = await team.history(draft["id"])
    (round_,) = history["rounds"]
    assert (round_["number"], round_["status"], round_["policy_name"]) == (
        1,
        "open",
        "Press relations",
    )
    assert round_["routed_by"] == "reporting_lines=press_relations"
    assert round_["content_hash"] == history["content_hash"]
    first, second = round_["steps"]
    assert (first["status"], second["status"]) == ("open", "waiting")
    assert [a["name"] for a in first["assignees"]] == ["Presse"]

    # Management is not asked yet; the PR lead is.
    assert_problem(await team.decide("dg", draft["id"]), 403, "not asked")
    decided = await team.decide("presse", draft["id"])
    assert decided.status_code == 201, decided.text
    assert decided.json()["publication_status"] == "in_review"
    assert decided.json()["current_step"] == 1
    assert decided.json()["decision"]["counted"] is True

    decided = await team.decide("dg", draft["id"], comment="Parfait.")
    assert decided.status_code == 201, decided.text
    assert (decided.json()["publication_status"], decided.json()["round_status"]) == (
        "approved",
        "approved",
    )
    publication = await team.publication(draft["id"])
    assert publication["status"] == "approved"
    history = await team.history(draft["id"])
    steps = history["rounds"][0]["steps"]
    assert [s["status"] for s in steps] == ["approved", "approved"]
    assert [d["name"] for s in steps for d in s["decisions"]] == ["Presse", "Dg"]
    assert steps[1]["decisions"][0]["comment"] == "Parfait."


async def test_without_a_matching_policy_nothing_is_asked(team: Team) -> None:
    await team.policy(PRESS_CHAIN)
    draft = await team.draft(reporting_line="marketing")
    submitted = await team.submit(draft["id"])
    assert submitted.json()["status"] == "approved"
    assert (await team.history(draft["id"]))["rounds"] == []


async def test_the_author_never_approves_their_own_content(team: Team) -> None:
    await team.policy(
        {
            "name": "Peer review",
            "is_default": True,
            "steps": [{"name": "Proofreading", "approvers": {"roles": ["community_manager"]}}],
        }
    )
    await team.staff("cm2", "community_manager")
    draft = await team.draft()
    assert (await team.submit(draft["id"])).json()["status"] == "in_review"
    before = await count_rows(team.runtime, "approval_decisions")
    assert_problem(await team.decide("cm", draft["id"]), 403, "four eyes")
    assert await count_rows(team.runtime, "approval_decisions") == before
    assert (await team.decide("cm2", draft["id"])).status_code == 201
    assert (await team.publication(draft["id"]))["status"] == "approved"


async def test_nobody_left_to_decide_is_refused_at_submit(team: Team) -> None:
    await team.policy(
        {
            "name": "Peer review",
            "is_default": True,
            "steps": [{"name": "Proofreading", "approvers": {"roles": ["community_manager"]}}],
        }
    )
    draft = await team.draft()
    refused = await team.submit(draft["id"])
    body = assert_problem(refused, 422, "Proofreading")
    assert body["errors"][0]["code"] == "no_approver"
    assert (await team.publication(draft["id"]))["status"] == "draft"
    assert await count_rows(team.runtime, "approval_rounds") == 0


async def test_an_edit_after_a_decision_starts_again_on_the_new_version(team: Team) -> None:
    await team.policy(PRESS_CHAIN)
    draft = await team.draft(reporting_line="press_relations")
    await team.submit(draft["id"])
    old = (await team.history(draft["id"]))["content_hash"]
    assert (await team.decide("presse", draft["id"])).status_code == 201

    await team.edit(draft["id"], "Communiqué : l'usine ouvre en mars.")
    history = await team.history(draft["id"])
    assert history["content_hash"] != old
    new, previous = history["rounds"]
    assert (previous["status"], [s["status"] for s in previous["steps"]]) == (
        "superseded",
        ["approved", "superseded"],
    )
    assert (new["number"], new["status"], new["current_step"]) == (2, "open", 0)
    # The PR lead's approval was of the old text: asked again, and the old version is stale.
    stale = await team.decide("dg", draft["id"], content_hash=old)
    body = assert_problem(stale, 409, "no longer the current")
    assert body["content_hash"] == history["content_hash"]
    assert (await team.decide("presse", draft["id"])).status_code == 201
    assert (await team.decide("dg", draft["id"])).status_code == 201
    assert (await team.publication(draft["id"]))["status"] == "approved"


async def test_an_edit_of_an_approved_publication_sends_it_back_never_silently(
    team: Team,
) -> None:
    await team.policy(PRESS_CHAIN)
    draft = await team.draft(reporting_line="press_relations")
    await team.submit(draft["id"])
    await team.decide("presse", draft["id"])
    await team.decide("dg", draft["id"])
    edited = await team.edit(draft["id"], "Communiqué corrigé.")
    assert edited["status"] == "in_review"
    history = await team.history(draft["id"])
    assert [r["status"] for r in history["rounds"]] == ["open", "superseded"]
    versions = (
        await team.client.get(f"/publications/{draft['id']}/versions", headers=team.tenant.headers)
    ).json()["items"]
    assert [v["action"] for v in versions][-2:] == ["approved", "edited"]


async def test_deciding_twice_or_on_someone_elses_step_is_refused(team: Team) -> None:
    await team.policy(PRESS_CHAIN)
    draft = await team.draft(reporting_line="press_relations")
    await team.submit(draft["id"])
    assert (await team.decide("presse", draft["id"])).status_code == 201
    before = await count_rows(team.runtime, "approval_decisions")
    assert_problem(await team.decide("presse", draft["id"]), 409, "already decided")
    assert_problem(await team.decide("marketing", draft["id"]), 403, "not asked")
    assert_problem(await team.decide("manager", draft["id"]), 403, "not asked")
    # An API token decides nothing: a decision is a person's.
    assert_problem(
        await team.client.post(
            f"/publications/{draft['id']}/decisions",
            json={"decision": "approve", "content_hash": "0" * 64},
            headers=team.tenant.headers,
        ),
        403,
        "person",
    )
    assert await count_rows(team.runtime, "approval_decisions") == before


async def test_requesting_changes_needs_a_comment_and_waits_for_an_edit(team: Team) -> None:
    await team.policy(PRESS_CHAIN)
    draft = await team.draft(reporting_line="press_relations")
    await team.submit(draft["id"])
    body = assert_problem(await team.decide("presse", draft["id"], "request_changes"), 422)
    assert [(e["field"], e["message"]) for e in body["errors"]] == [
        ("comment", "required for this decision")
    ]
    asked = await team.decide("presse", draft["id"], "request_changes", comment="Citez la date.")
    assert asked.status_code == 201, asked.text
    assert (asked.json()["round_status"], asked.json()["publication_status"]) == (
        "changes_requested",
        "in_review",
    )
    # Nothing more to decide on this version.
    assert_problem(await team.decide("dg", draft["id"]), 403)
    await team.edit(draft["id"], "Communiqué : l'usine ouvre le 3 mars.")
    history = await team.history(draft["id"])
    assert [r["status"] for r in history["rounds"]] == ["open", "superseded"]


async def test_a_rejection_sends_the_publication_back_to_draft(team: Team) -> None:
    await team.policy(PRESS_CHAIN)
    draft = await team.draft(reporting_line="press_relations")
    await team.submit(draft["id"])
    rejected = await team.decide("presse", draft["id"], "reject", comment="Pas maintenant.")
    assert rejected.status_code == 201, rejected.text
    assert rejected.json()["publication_status"] == "draft"
    assert (await team.history(draft["id"]))["rounds"][0]["status"] == "rejected"
    # Submitted again: a new round.
    assert (await team.submit(draft["id"])).json()["status"] == "in_review"
    assert [r["number"] for r in (await team.history(draft["id"]))["rounds"]] == [2, 1]


async def test_two_approvers_at_the_same_instant_one_outcome_both_recorded(team: Team) -> None:
    await team.client_member("presse2", "press_relations")
    await team.policy(PRESS_CHAIN)
    draft = await team.draft(reporting_line="press_relations")
    await team.submit(draft["id"])
    content_hash = (await team.history(draft["id"]))["content_hash"]
    both = await asyncio.gather(
        team.decide("presse", draft["id"], content_hash=content_hash),
        team.decide("presse2", draft["id"], content_hash=content_hash),
    )
    assert [r.status_code for r in both] == [201, 201], [r.text for r in both]
    assert sorted(r.json()["decision"]["counted"] for r in both) == [False, True]
    step = (await team.history(draft["id"]))["rounds"][0]["steps"][0]
    assert (step["status"], step["approvals"], len(step["decisions"])) == ("approved", 1, 2)
    assert (await team.history(draft["id"]))["rounds"][0]["current_step"] == 1


async def test_an_approver_of_another_brand_or_agency_cannot_decide(
    team: Team, runtime: Runtime, tenant_b: Tenant
) -> None:
    await team.policy(PRESS_CHAIN)
    draft = await team.draft(reporting_line="press_relations")
    await team.submit(draft["id"])
    content_hash = (await team.history(draft["id"]))["content_hash"]
    # A PR lead of another brand of the same agency: the publication is not theirs to see.
    other = await team.client.post(
        "/brands",
        json={"name": "Autre", "slug": "autre", "timezone": "Europe/Paris"},
        headers=team.tenant.headers,
    )
    await team.client_member("rp-autre", "press_relations", brand=other.json()["id"])
    # Someone of another agency, with every right there.
    outsider = await make_team(team.client, runtime, tenant_b, slug="ailleurs")
    team.people["outsider"] = outsider.people["manager"]
    before = await count_rows(runtime, "approval_decisions")
    for who in ("rp-autre", "outsider"):
        refused = await team.decide(who, draft["id"], content_hash=content_hash)
        assert_problem(refused, 404, "publication")
        bulk = await team.client.post(
            "/approvals/bulk-approve",
            json={"items": [{"publication_id": draft["id"], "content_hash": content_hash}]},
            headers=team.as_(who),
        )
        assert bulk.status_code == 200, bulk.text
        assert bulk.json()["items"][0]["problem"]["status"] == 404
    assert await count_rows(runtime, "approval_decisions") == before
    assert (await team.history(draft["id"]))["rounds"][0]["steps"][0]["approvals"] == 0


async def test_bulk_approve_checks_each_publication_on_its_own(team: Team) -> None:
    await team.policy(PRESS_CHAIN)
    drafts = [await team.draft(reporting_line="press_relations") for _ in range(3)]
    for draft in drafts:
        await team.submit(draft["id"])
    hashes = [(await team.history(d["id"]))["content_hash"] for d in drafts]
    await team.edit(drafts[2]["id"], "Changed after it was read.")
    items = [
        {"publication_id": d["id"], "content_hash": h} for d, h in zip(drafts, hashes, strict=True)
    ]
    items.append({"publication_id": drafts[0]["id"], "content_hash": hashes[0]})
    response = await team.client.post(
        "/approvals/bulk-approve",
        json={"items": items, "comment": "Lot du lundi."},
        headers=team.as_("presse"),
    )
    assert response.status_code == 200, response.text
    results = response.json()["items"]
    assert [r["ok"] for r in results] == [True, True, False, False]
    assert results[2]["problem"]["status"] == 409  # stale: edited since it was read
    assert results[3]["problem"]["status"] == 409  # already decided in this very call
    for draft in drafts[:2]:
        step = (await team.history(draft["id"]))["rounds"][0]["steps"][0]
        assert (step["status"], step["decisions"][0]["comment"]) == ("approved", "Lot du lundi.")
    assert (await team.history(drafts[2]["id"]))["rounds"][0]["steps"][0]["decisions"] == []


async def test_my_pending_decisions_across_brands(team: Team) -> None:
    await team.policy(PRESS_CHAIN)
    other = await team.client.post(
        "/brands",
        json={"name": "Autre", "slug": "autre", "timezone": "Europe/Paris"},
        headers=team.tenant.headers,
    )
    other_brand = other.json()["id"]
    await team.policy(
        {
            "name": "Managers",
            "is_default": True,
            "steps": [{"name": "Manager", "approvers": {"roles": ["manager"]}}],
        },
        brand=other_brand,
    )
    press = await team.draft(reporting_line="press_relations")
    await team.submit(press["id"])
    elsewhere = await team.client.post(
        f"/brands/{other_brand}/publications",
        json={
            "title": "Other",
            "variants": [
                {
                    "channel_id": await _channel(team, other_brand),
                    "text": "Bonjour",
                }
            ],
        },
        headers=team.as_("cm"),
    )
    assert (await team.submit(elsewhere.json()["id"])).json()["status"] == "in_review"

    async def mine(who: str) -> list[tuple[str, str]]:
        response = await team.client.get(
            "/approvals", params={"mine": "true"}, headers=team.as_(who)
        )
        assert response.status_code == 200, response.text
        return [(i["publication_id"], i["step"]) for i in response.json()["items"]]

    assert await mine("presse") == [(press["id"], "PR lead")]
    assert await mine("manager") == [(elsewhere.json()["id"], "Manager")]
    assert await mine("dg") == []
    await team.decide("presse", press["id"])
    assert await mine("presse") == []
    assert await mine("dg") == [(press["id"], "General management")]
    everything = await team.client.get("/approvals", headers=team.tenant.headers)
    assert len(everything.json()["items"]) == 2
    # A client member sees the steps of their brand only.
    assert (await team.client.get("/approvals", headers=team.as_("dg"))).json()["items"][0][
        "publication_id"
    ] == press["id"]
    assert len((await team.client.get("/approvals", headers=team.as_("dg"))).json()["items"]) == 1

    # Someone who joins the line after the step opened is named by it from then on: the
    # step is theirs to decide (as the decision allows), not only of those it first asked.
    await team.client_member("dg2", "management")
    assert await mine("dg2") == [(press["id"], "General management")]
    # ... and someone given the role since, likewise; the author never (four eyes).
    assert await mine("cm") == []


async def _channel(team: Team, brand: str) -> str:
    return await insert_channel(team.runtime, team.tenant.agency_id, brand, team.network)


async def test_comments_are_threaded_and_quote_the_version(team: Team) -> None:
    await team.policy(PRESS_CHAIN)
    draft = await team.draft(reporting_line="press_relations")
    await team.submit(draft["id"])
    url = f"/publications/{draft['id']}/comments"
    first = await team.client.post(
        url,
        json={"body": "Date ?", "quote": "nouvelle usine", "channel_id": team.channel},
        headers=team.as_("presse"),
    )
    assert first.status_code == 201, first.text
    reply = await team.client.post(
        url, json={"body": "Le 3 mars.", "parent_id": first.json()["id"]}, headers=team.as_("cm")
    )
    assert reply.status_code == 201, reply.text
    bad = await team.client.post(
        url,
        json={"body": "?", "quote": "not in the text", "parent_id": draft["id"]},
        headers=team.as_("presse"),
    )
    body = assert_problem(bad, 422)
    assert {e["field"] for e in body["errors"]} == {"quote", "parent_id"}
    # A client member without comment or approve reads, but does not comment.
    await team.client_member("lecteur", "marketing", ["calendar:read"])
    assert_problem(
        await team.client.post(url, json={"body": "Hm"}, headers=team.as_("lecteur")), 403
    )
    listed = (await team.client.get(url, headers=team.as_("lecteur"))).json()["items"]
    assert [(c["body"], c["parent_id"], c["quote"]) for c in listed] == [
        ("Date ?", None, "nouvelle usine"),
        ("Le 3 mars.", first.json()["id"], None),
    ]
    assert listed[0]["content_hash"] == (await team.history(draft["id"]))["content_hash"]
    assert listed[0]["actor_kind"] == "client"


async def test_policies_are_brand_settings_and_refuse_bad_input(team: Team) -> None:
    url = f"/brands/{team.brand}/approval-policies"
    created = await team.policy(PRESS_CHAIN)
    brand = (await team.client.get(f"/brands/{team.brand}", headers=team.tenant.headers)).json()
    assert brand["approval_policy"] == "routed"
    bad = [
        ({"name": "D", "is_default": True, "conditions": {"tags": ["x"]}}, "conditions"),
        ({"name": "R"}, "conditions"),
        (
            {
                "name": "C",
                "is_default": True,
                "steps": [{"name": "s", "approvers": {"roles": ["manager"]}, "rule": "count"}],
            },
            "steps[0].count",
        ),
        (
            {
                "name": "E",
                "is_default": True,
                "steps": [{"name": "s", "approvers": {}, "remind_minutes_before": 5}],
            },
            "steps[0].approvers",
        ),
        (
            {
                "name": "F",
                "is_default": True,
                "steps": [
                    {"name": "s", "approvers": {"roles": ["manager"]}, "again_after_edit": False}
                ],
            },
            "steps",
        ),
    ]
    for body, field in bad:
        response = await team.client.post(url, json=body, headers=team.tenant.headers)
        problem = assert_problem(response, 422)
        assert field in {e["field"] for e in problem["errors"]}, problem
    assert_problem(await team.client.post(url, json=PRESS_CHAIN, headers=team.tenant.headers), 409)
    await team.policy({"name": "Default", "is_default": True})
    second = await team.client.post(
        url, json={"name": "Other default", "is_default": True}, headers=team.tenant.headers
    )
    assert_problem(second, 422, "one default")
    assert len((await team.client.get(url, headers=team.tenant.headers)).json()["items"]) == 2

    one = f"/approval-policies/{created['id']}"
    assert_problem(
        await team.client.patch(one, json={"priority": 1}, headers=team.tenant.headers), 428
    )
    changed = await team.client.patch(
        one, json={"priority": 1}, headers={**team.tenant.headers, "If-Match": '"1"'}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["priority"], changed.headers["etag"]) == (1, '"2"')
    # A community manager does not decide who approves.
    assert_problem(
        await team.client.patch(
            one, json={"priority": 5}, headers={**team.as_("cm"), "If-Match": '"2"'}
        ),
        403,
    )
    for policy in (await team.client.get(url, headers=team.tenant.headers)).json()["items"]:
        deleted = await team.client.delete(
            f"/approval-policies/{policy['id']}", headers=team.tenant.headers
        )
        assert deleted.status_code == 204
    brand = (await team.client.get(f"/brands/{team.brand}", headers=team.tenant.headers)).json()
    assert brand["approval_policy"] == "none"


async def test_the_route_preview_names_the_policy_and_its_steps(team: Team) -> None:
    await team.policy(
        {
            "name": "Video",
            "priority": 10,
            "conditions": {"has_link": True},
            "steps": [
                {"name": "Manager", "approvers": {"roles": ["manager"]}},
                {
                    "name": "DG for press",
                    "approvers": {"reporting_lines": ["management"]},
                    "applies_when": {"reporting_lines": ["press_relations"]},
                },
            ],
        }
    )
    draft = await team.draft(text="Voir https://example.com/usine", reporting_line="marketing")
    preview = await team.client.get(
        f"/publications/{draft['id']}/approval-route", headers=team.tenant.headers
    )
    assert preview.status_code == 200, preview.text
    assert (preview.json()["policy_name"], preview.json()["routed_by"]) == (
        "Video",
        "has_link=true",
    )
    assert [(s["name"], s["applies"]) for s in preview.json()["steps"]] == [
        ("Manager", True),
        ("DG for press", False),
    ]
    await team.submit(draft["id"])
    steps = (await team.history(draft["id"]))["rounds"][0]["steps"]
    assert [s["name"] for s in steps] == ["Manager"]


# Every route that records a decision, by the test (module, name) refusing an author's own
# content on it.
DECIDING_ROUTES = {
    ("POST", "/publications/{publication_id}/decisions"): (
        "tests.approvals.test_approvals",
        "test_the_author_never_approves_their_own_content",
    ),
    ("POST", "/approvals/bulk-approve"): (
        "tests.approvals.test_approvals",
        "test_bulk_approve_refuses_the_authors_own_content",
    ),
    ("POST", "/inbox/answers/{answer_id}/approve"): (
        "tests.inbox.test_inbox",
        "test_the_author_of_a_held_answer_cannot_approve_it",
    ),
}


async def test_every_route_that_decides_keeps_four_eyes(app: Litestar) -> None:
    found = {
        (method, path)
        for method, path, _ in operations(app)
        if method == "POST" and (path.endswith("/decisions") or "approve" in path)
    }
    assert found == set(DECIDING_ROUTES)
    for module, name in DECIDING_ROUTES.values():
        assert callable(getattr(importlib.import_module(module), name, None)), (module, name)


async def test_bulk_approve_refuses_the_authors_own_content(team: Team) -> None:
    await team.policy(
        {
            "name": "Managers",
            "is_default": True,
            "steps": [{"name": "Manager", "approvers": {"roles": ["manager"]}}],
        }
    )
    mine = await team.draft(by="manager")
    theirs = await team.draft(by="cm")
    await team.staff("manager2", "manager")
    for draft in (mine, theirs):
        await team.submit(draft["id"], by="cm")
    items = [
        {"publication_id": d["id"], "content_hash": (await team.history(d["id"]))["content_hash"]}
        for d in (mine, theirs)
    ]
    response = await team.client.post(
        "/approvals/bulk-approve", json={"items": items}, headers=team.as_("manager")
    )
    first, second = response.json()["items"]
    assert (first["ok"], first["problem"]["status"]) == (False, 403)
    assert "Four eyes" in first["problem"]["detail"]
    assert second["ok"] is True
    assert (await team.publication(mine["id"]))["status"] == "in_review"
    assert (await team.publication(theirs["id"]))["status"] == "approved"


async def test_content_written_through_an_api_token_is_its_creators(team: Team) -> None:
    await team.policy(
        {
            "name": "Admins",
            "is_default": True,
            "steps": [{"name": "Admin", "approvers": {"roles": ["admin"]}}],
        }
    )
    await team.staff("admin", "admin")
    await team.staff("admin2", "admin")
    token = await team.client.post(
        "/api-tokens",
        json={"name": "scheduler tool", "scopes": ["publications:read", "publications:write"]},
        headers=team.as_("admin"),
    )
    assert token.status_code == 201, token.text
    team.people["tool"] = {"token": token.json()["token"], "user_id": team.user("admin")}
    draft = await team.draft(by="tool")
    assert (await team.submit(draft["id"], by="tool")).json()["status"] == "in_review"
    assert_problem(await team.decide("admin", draft["id"]), 403, "four eyes")
    assert (await team.decide("admin2", draft["id"])).status_code == 201


async def test_an_edit_routing_to_no_policy_approves_what_was_in_review(team: Team) -> None:
    await team.policy(PRESS_CHAIN)
    draft = await team.draft(reporting_line="press_relations")
    await team.submit(draft["id"])
    current = await team.publication(draft["id"])
    edited = await team.client.patch(
        f"/publications/{draft['id']}",
        json={
            "reporting_line": "marketing",
            "variants": [{"channel_id": team.channel, "text": "Offre du jour."}],
        },
        headers={**team.as_("cm"), "If-Match": f'"{current["version"]}"'},
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["status"] == "approved"
    assert [r["status"] for r in (await team.history(draft["id"]))["rounds"]] == ["superseded"]
