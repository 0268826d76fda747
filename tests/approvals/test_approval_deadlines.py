"""Approval deadlines, as the scheduler and a real worker run them: a reminder before a step
is due, escalation to the next person in the line once it is overdue, and a publication not
approved at its time held (never published), the team told by e-mail over real SMTP and by
``approval.overdue``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import dramatiq
import httpx
import pytest

from agency.kernel.runtime import Runtime
from agency.kernel.scheduling import tick
from tests.conftest import Tenant
from tests.helpers import webhook_events
from tests.support.approvals import Team, make_team
from tests.support.publishing import running_worker
from tests.support.smtp import Received, SmtpServer

DUE, REMIND = 120, 60  # minutes before the publication's time, and before the due time


@pytest.fixture
def approval_worker(runtime: Runtime) -> Iterator[dramatiq.Worker]:
    """The worker of approval jobs (default queue) and of e-mail."""
    with running_worker(runtime, {"default", "mail"}) as consumer:
        yield consumer


@pytest.fixture
async def team(client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant) -> Team:
    team = await make_team(client, runtime, tenant_a)
    await team.client_member("presse", "press_relations")
    await team.client_member("dg", "management")
    subscribed = await client.post(
        "/webhooks",
        json={
            "url": "https://hooks.example.com/agency",
            "event_types": ["approval.requested", "approval.decided", "approval.overdue"],
        },
        headers=tenant_a.headers,
    )
    assert subscribed.status_code == 201, subscribed.text
    await team.policy(
        {
            "name": "Press relations",
            "conditions": {"reporting_lines": ["press_relations"]},
            "steps": [
                {
                    "name": "PR lead",
                    "approvers": {"reporting_lines": ["press_relations"]},
                    "due_minutes_before": DUE,
                    "remind_minutes_before": REMIND,
                }
            ],
        }
    )
    return team


async def scheduled_in_review(team: Team, at: datetime) -> dict[str, Any]:
    draft = await team.draft(reporting_line="press_relations")
    response = await team.client.post(
        f"/publications/{draft['id']}/schedule",
        json={"at": at.isoformat()},
        headers={**team.as_("cm"), "If-Match": f'"{draft["version"]}"'},
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "in_review"
    return dict(response.json())


async def test_a_reminder_then_escalation_then_the_hold(
    team: Team, runtime: Runtime, smtp_on: SmtpServer, approval_worker: dramatiq.Worker
) -> None:
    at = datetime.fromisoformat("2030-03-05T09:00:00+00:00")
    publication = await scheduled_in_review(team, at)
    await tick(runtime)
    step = (await team.history(publication["id"]))["rounds"][0]["steps"][0]
    assert step["due_at"] == "2030-03-05T07:00:00Z"
    assert step["remind_at"] == "2030-03-05T06:00:00Z"
    # On the calendar at its time, waiting.
    calendar = await team.client.get(
        "/calendar",
        params={"from": "2030-03-05T00:00:00Z", "to": "2030-03-06T00:00:00Z"},
        headers=team.tenant.headers,
    )
    assert calendar.status_code == 200, calendar.text
    [entry] = calendar.json()["items"]
    assert (entry["publication_id"], entry["status"], entry["publication_status"]) == (
        publication["id"],
        "pending",
        "in_review",
    )

    # Before the reminder time, nothing; after it, the PR lead is reminded once.
    await tick(runtime, at - timedelta(minutes=DUE + REMIND + 1))
    assert await titled(smtp_on, "presse@client.example", "Rappel", wait=1) == []
    await tick(runtime, at - timedelta(minutes=DUE + REMIND - 1))
    # Sent before the next pass: the outbox's lease is read on the real clock, these passes
    # run on a clock years ahead, so a pass while the e-mail is on the wire would send it
    # again (a test artefact: in service both clocks are one).
    assert len(await titled(smtp_on, "presse@client.example", "Rappel")) == 1
    await tick(runtime, at - timedelta(minutes=DUE + REMIND - 2))
    await asyncio.sleep(0.5)
    [reminder] = await titled(smtp_on, "presse@client.example", "Rappel")
    assert reminder.message["Subject"].startswith("Rappel : « Launch » (Maison)")
    assert "2030-03-05 08:00" in reminder.message.get_content()  # due time, in Paris
    assert "/decide/agd_" in reminder.message.get_content()

    # Overdue: general management, next in the line, may decide; told by e-mail and webhook.
    await tick(runtime, at - timedelta(minutes=DUE - 1))
    [escalated] = await titled(smtp_on, "dg@client.example", "En retard")
    assert escalated.message["Subject"].startswith("En retard")
    # A client approver decides from this e-mail too, like from the first one.
    assert "/decide/agd_" in escalated.message.get_content()
    step = (await team.history(publication["id"]))["rounds"][0]["steps"][0]
    assert [(a["name"], a["escalated"]) for a in step["assignees"]] == [
        ("Presse", False),
        ("Dg", True),
    ]
    [overdue] = await webhook_events(runtime, "approval.overdue")
    assert (overdue["reason"], [p["name"] for p in overdue["escalated_to"]]) == (
        "step_due",
        ["Dg"],
    )

    # The time comes, not approved: held, the author told; nothing goes to the calendar.
    await tick(runtime, at + timedelta(seconds=1))
    [held] = await titled(smtp_on, "cm@alpha.example", "Retenue")
    assert held.message["Subject"].startswith("Retenue : « Launch »")
    current = await team.publication(publication["id"])
    assert current["status"] == "in_review"
    assert current["variants"][0]["status"] == "pending"
    assert current["variants"][0]["hold_reason"].startswith("Held: not approved at its time")
    assert [e["reason"] for e in await webhook_events(runtime, "approval.overdue")] == [
        "step_due",
        "held",
    ]
    # The escalated approver's one approval settles the step (the late approval's hold is in
    # tests/approvals/test_approval_publishing.py: here the clock only pretends 2030 has come).
    decided = await team.decide("dg", publication["id"])
    assert decided.status_code == 201, decided.text
    assert decided.json()["round_status"] == "approved"
    assert [e["decision"] for e in await webhook_events(runtime, "approval.decided")] == ["approve"]


async def test_a_new_time_moves_the_deadlines(team: Team, runtime: Runtime) -> None:
    at = datetime.fromisoformat("2030-03-05T09:00:00+00:00")
    publication = await scheduled_in_review(team, at)
    await tick(runtime)
    moved = await team.client.post(
        f"/publications/{publication['id']}/schedule",
        json={"at": (at + timedelta(days=1)).isoformat()},
        headers={
            **team.as_("cm"),
            "If-Match": f'"{(await team.publication(publication["id"]))["version"]}"',
        },
    )
    assert moved.status_code == 200, moved.text
    await tick(runtime)
    step = (await team.history(publication["id"]))["rounds"][0]["steps"][0]
    assert step["due_at"] == "2030-03-06T07:00:00Z"


async def test_a_held_publication_given_a_new_time_is_no_longer_held(
    team: Team, runtime: Runtime, approval_worker: dramatiq.Worker
) -> None:
    at = datetime.fromisoformat("2030-03-05T09:00:00+00:00")
    publication = await scheduled_in_review(team, at)
    await tick(runtime, at + timedelta(seconds=1))
    for _ in range(50):
        current = await team.publication(publication["id"])
        if current["variants"][0]["hold_reason"]:
            break
        await asyncio.sleep(0.1)
    assert current["variants"][0]["hold_reason"].startswith("Held")
    moved = await team.client.post(
        f"/publications/{publication['id']}/schedule",
        json={"at": (at + timedelta(days=2)).isoformat()},
        headers={**team.as_("cm"), "If-Match": f'"{current["version"]}"'},
    )
    assert moved.status_code == 200, moved.text
    await tick(runtime, at + timedelta(minutes=5))
    current = await team.publication(publication["id"])
    assert current["variants"][0]["hold_reason"] is None
    assert (await team.history(publication["id"]))["rounds"][0]["held_at"] is None
    # Its new time passes unapproved too: held again.
    await tick(runtime, at + timedelta(days=2, seconds=1))
    for _ in range(50):
        if (await team.publication(publication["id"]))["variants"][0]["hold_reason"]:
            break
        await asyncio.sleep(0.1)
    assert (
        len([e for e in await webhook_events(runtime, "approval.overdue") if e["reason"] == "held"])
        == 2
    )


async def titled(smtp: SmtpServer, address: str, prefix: str, wait: float = 10) -> list[Received]:
    """The messages to ``address`` whose subject starts with ``prefix`` (the request e-mail,
    with its decision link, came first), waiting up to ``wait`` seconds for at least one."""
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        found = [r for r in smtp.handler.to(address) if r.message["Subject"].startswith(prefix)]
        if found or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.1)
