"""Deciding from an e-mail: the link a client approver gets over real SMTP, bound to that
person and that version, single-use, expiring, revocable, and its page in a real browser."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import dramatiq
import httpx
import pytest
from sqlalchemy import update

from agency.approval.link.models import DecisionLink
from agency.kernel.db import utcnow
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import bind_tenant
from tests.conftest import LiveServer, Tenant
from tests.helpers import assert_problem
from tests.support.approvals import Team, make_team
from tests.support.smtp import SmtpServer

STEP = {
    "name": "Client sign-off",
    "is_default": True,
    "steps": [{"name": "General management", "approvers": {"reporting_lines": ["management"]}}],
}
HTML = {"Accept": "text/html", "Sec-Fetch-Site": "same-origin"}


@pytest.fixture
async def team(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Tenant,
    smtp_on: SmtpServer,
    mail_worker: dramatiq.Worker,
    monkeypatch: pytest.MonkeyPatch,
    live_server: LiveServer,
) -> AsyncIterator[Team]:
    monkeypatch.setattr(runtime.settings.server, "public_url", live_server.url)
    team = await make_team(client, runtime, tenant_a, smtp=smtp_on)
    await team.client_member("dg", "management")
    await team.policy(STEP)
    yield team


async def submitted(team: Team, text: str = "Notre nouvelle usine ouvre ses portes.") -> str:
    draft = await team.draft(text=text)
    response = await team.submit(draft["id"])
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "in_review"
    return str(draft["id"])


def link_to(smtp: SmtpServer, address: str, nth: int = 0) -> tuple[str, str]:
    """The decision link of the ``nth`` e-mail to ``address``, and that e-mail's body."""
    received = smtp.handler.to(address)
    while len(received) <= nth:
        received = smtp.handler.to(address)
    body = received[nth].message.get_content()
    found = re.search(r"(https?://\S+/decide/\S+)", body)
    assert found, body
    return found.group(1), body


def token_of(url: str) -> str:
    return url.rsplit("/decide/", 1)[1]


async def page(live: httpx.AsyncClient, url: str, **headers: str) -> httpx.Response:
    return await live.get(url, headers={**HTML, **headers})


async def post(live: httpx.AsyncClient, token: str, **form: str) -> httpx.Response:
    return await live.post("/decide", data={"token": token, **form}, headers=HTML)


@pytest.fixture
async def live(live_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        yield http


async def test_a_client_approver_is_mailed_a_link_in_their_language_staff_are_not(
    team: Team, smtp_on: SmtpServer, live: httpx.AsyncClient
) -> None:
    manager_step = {
        "name": "Both",
        "priority": 1,
        "conditions": {"tags": ["both"]},
        "steps": [
            {
                "name": "Everyone",
                "approvers": {"roles": ["manager"], "reporting_lines": ["management"]},
            }
        ],
    }
    await team.policy(manager_step)
    draft = await team.draft(tags=["both"])
    assert (await team.submit(draft["id"])).status_code == 200
    url, body = link_to(smtp_on, "dg@client.example")
    assert body.startswith("Bonjour Dg,") and "valable 72 heures" in " ".join(body.split())
    [to_manager] = smtp_on.handler.to(f"manager@{team.tenant.slug}.example")
    staff_body = to_manager.message.get_content()
    assert "/decide/" not in staff_body and f"/publications/{draft['id']}" in staff_body
    shown = await page(live, url)
    assert shown.status_code == 200, (url, shown.text[-300:])
    assert '<html lang="fr">' in shown.text


async def test_the_e_mail_and_the_page_give_the_time_in_the_brands_zone(
    team: Team, smtp_on: SmtpServer, live: httpx.AsyncClient
) -> None:
    """A client approver in Paris reads the time the post leaves in Paris, zone named."""
    draft = await team.draft()
    scheduled = await team.client.post(
        f"/publications/{draft['id']}/schedule",
        json={"local_time": "2030-07-01T09:30"},  # summer time: 07:30 UTC
        headers={**team.as_("cm"), "If-Match": f'"{draft["version"]}"'},
    )
    assert scheduled.status_code == 200, scheduled.text
    url, body = link_to(smtp_on, "dg@client.example")
    assert "Programmée pour : 2030-07-01 09:30 (Europe/Paris)" in body, body
    assert "UTC" not in body
    shown = await page(live, url)
    # Read in Paris; the machine-readable instant stays UTC.
    assert '"2030-07-01T07:30:00+00:00">2030-07-01 09:30 (Europe/Paris)</time>' in shown.text


async def test_the_decision_is_recorded_as_the_approvers_and_the_link_is_spent(
    team: Team, smtp_on: SmtpServer, live: httpx.AsyncClient
) -> None:
    publication = await submitted(team)
    url, _ = link_to(smtp_on, "dg@client.example")
    shown = await page(live, url)
    assert shown.status_code == 200, shown.text
    assert "Notre nouvelle usine ouvre ses portes." in shown.text
    assert shown.headers["referrer-policy"] == "no-referrer"
    assert "script-src" not in shown.headers["content-security-policy"]
    # Viewing spends nothing (a mail scanner may open it first).
    assert (await page(live, url)).status_code == 200

    # Request changes without saying what: refused, and the link still works.
    empty = await post(live, token_of(url), decision="request_changes", comment=" ")
    assert empty.status_code == 422 and 'role="alert"' in empty.text
    done = await post(live, token_of(url), decision="approve", comment="Parfait.")
    assert done.status_code == 200, done.text
    history = await team.history(publication)
    (decision,) = history["rounds"][0]["steps"][0]["decisions"]
    assert (decision["name"], decision["decision"], decision["comment"]) == (
        "Dg",
        "approve",
        "Parfait.",
    )
    assert decision["via"] == "link"
    assert (await team.publication(publication))["status"] == "approved"

    # Reused: a clear page for the browser, a problem for anyone else; nothing changes.
    again = await page(live, url)
    assert again.status_code == 410 and "déjà servi" in again.text
    assert_problem(await live.get(url), 410, "already used")
    assert_problem(
        await live.post("/decide", data={"token": token_of(url), "decision": "reject"}), 410
    )
    assert len((await team.history(publication))["rounds"][0]["steps"][0]["decisions"]) == 1


async def test_expired_revoked_stale_unknown_and_cross_site_links_decide_nothing(
    team: Team, smtp_on: SmtpServer, live: httpx.AsyncClient, runtime: Runtime
) -> None:
    publication = await submitted(team)
    url, _ = link_to(smtp_on, "dg@client.example")
    token = token_of(url)

    # Another site making the browser post: refused before the link is even read.
    forged = await live.post(
        "/decide",
        data={"token": token, "decision": "approve"},
        headers={**HTML, "Sec-Fetch-Site": "cross-site"},
    )
    assert forged.status_code == 403
    # A made-up token, or one whose secret is wrong.
    assert_problem(await live.get("/decide/agd_bm9uZQ.not-a-real-secret-0000000000"), 404)
    assert_problem(await live.get(url[:-4] + "AAAA"), 404)

    # Expired.
    async with runtime.session() as session:
        await bind_tenant(session, team.tenant.agency_id)
        await session.execute(
            update(DecisionLink).values(expires_at=utcnow() - timedelta(minutes=1))
        )
        await session.commit()
    expired = await page(live, url)
    assert expired.status_code == 410 and "expiré" in expired.text
    async with runtime.session() as session:
        await bind_tenant(session, team.tenant.agency_id)
        await session.execute(update(DecisionLink).values(expires_at=utcnow() + timedelta(hours=1)))
        await session.commit()

    # Revoked by the agency.
    links = await team.client.get(
        f"/publications/{publication}/decision-links", headers=team.as_("manager")
    )
    assert links.status_code == 200, links.text
    (link,) = links.json()["items"]
    assert "secret" not in str(link) and token.split(".")[1] not in links.text
    assert_problem(
        await team.client.post(f"/decision-links/{link['id']}/revoke", headers=team.as_("cm")),
        403,
    )
    revoked = await team.client.post(
        f"/decision-links/{link['id']}/revoke", headers=team.as_("manager")
    )
    assert revoked.status_code == 200 and revoked.json()["revoked_at"], revoked.text
    assert (await page(live, url)).status_code == 410
    assert (await post(live, token, decision="approve")).status_code == 410

    # Stale: the content changed after the link was sent (the new version gets a new one).
    await team.edit(publication, "Texte corrigé.")
    url2, _ = link_to(smtp_on, "dg@client.example", nth=1)
    stale_history = await team.history(publication)
    assert "open" in {r["status"] for r in stale_history["rounds"]}
    fresh = await page(live, url2)
    assert fresh.status_code == 200 and "Texte corrigé." in fresh.text
    await team.edit(publication, "Texte corrigé deux fois.")
    stale = await page(live, url2)
    assert stale.status_code == 409 and "changé" in stale.text
    for rnd in (await team.history(publication))["rounds"]:
        assert all(not s["decisions"] for s in rnd["steps"])


async def test_a_link_is_bound_to_its_person(
    team: Team, smtp_on: SmtpServer, live: httpx.AsyncClient
) -> None:
    """The link decides as the person it was sent to, and stops when their place does."""
    publication = await submitted(team)
    url, _ = link_to(smtp_on, "dg@client.example")
    member: dict[str, Any] = team.people["dg"]["member"]
    changed = await team.client.patch(
        f"/client-members/{member['id']}",
        json={"permissions": ["calendar:read"]},
        headers={**team.tenant.headers, "If-Match": '"1"'},
    )
    assert changed.status_code == 200, changed.text
    refused = await page(live, url)
    assert refused.status_code == 403
    assert not (await team.history(publication))["rounds"][0]["steps"][0]["decisions"]
    assert uuid.UUID(member["id"])


@pytest.mark.slow
async def test_deciding_in_a_real_browser(
    team: Team, smtp_on: SmtpServer, live_server: LiveServer, tmp_path: Path
) -> None:
    """Debian's Chromium, driven by Playwright: no JavaScript needed, every control labelled."""
    from playwright.async_api import async_playwright

    publication = await submitted(team, "Bonjour à toutes et à tous !\n#usine")
    url, _ = link_to(smtp_on, "dg@client.example")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox"]
        )
        try:
            context = await browser.new_context(java_script_enabled=False, locale="fr-FR")
            tab = await context.new_page()
            opened = await tab.goto(url)
            assert opened is not None and opened.status == 200
            assert await tab.get_attribute("html", "lang") == "fr"
            post_text = tab.locator("article.post .text").first
            assert await post_text.inner_text() == "Bonjour à toutes et à tous !\n#usine"
            assert "Mastodon" in await tab.locator("article.post header").first.inner_text()
            await tab.screenshot(path=str(tmp_path / "decision-page.png"), full_page=True)
            # Every field has its label; the required comment blocks an empty refusal.
            await tab.get_by_label("Commentaire (obligatoire", exact=False).first.fill("")
            await tab.get_by_role("button", name="Refuser").click()
            assert tab.url == url  # the browser kept the form: nothing was sent
            await tab.get_by_label("Commentaire", exact=True).fill("Parfait, merci.")
            await tab.get_by_role("button", name="Valider").click()
            await tab.wait_for_selector("text=Décision enregistrée")
            assert "Vous avez validé" in await tab.get_by_role("status").inner_text()
            reopened = await tab.goto(url)
            assert reopened is not None and reopened.status == 410
            assert "déjà servi" in await tab.get_by_role("alert").inner_text()
        finally:
            await browser.close()
    history = await team.history(publication)
    (decision,) = history["rounds"][0]["steps"][0]["decisions"]
    assert (decision["name"], decision["comment"], decision["via"]) == (
        "Dg",
        "Parfait, merci.",
        "link",
    )
