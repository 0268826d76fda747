"""Signing in by e-mail: the invitation's link and the magic link are single-use,
short-lived and bound to the person; every refusal is in the audit log."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import bind_system
from tests.conftest import Tenant
from tests.helpers import add_client_member, assert_problem, bearer, create_brand
from tests.support.smtp import SmtpServer, link_in

pytestmark = pytest.mark.usefixtures("mail_worker")


async def audit_actions(runtime: Runtime) -> list[str]:
    async with runtime.session() as session:
        await bind_system(session)
        rows = await session.execute(text("SELECT action FROM audit_events ORDER BY id"))
        return [row[0] for row in rows]


async def invited(
    client: httpx.AsyncClient, tenant: Tenant, smtp: SmtpServer, email: str
) -> tuple[dict[str, Any], str]:
    brand = await create_brand(client, tenant, "maison")
    member = await add_client_member(client, tenant, brand, email)
    [received] = smtp.handler.to(email)
    return member, link_in(received.message.get_content())


async def test_the_invitation_link_signs_in_once(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant, smtp_on: SmtpServer
) -> None:
    member, token = await invited(client, tenant_a, smtp_on, "claire@client.example")
    session = await client.post("/auth/magic-link/redeem", json={"token": token})
    assert session.status_code == 201, session.text
    assert session.json()["role"] == "client"
    me = (await client.get("/auth/me", headers=bearer(session.json()["token"]))).json()
    assert (me["kind"], me["user"]["id"], me["brand_ids"]) == (
        "client",
        member["user_id"],
        [member["brand_id"]],
    )
    replayed = await client.post("/auth/magic-link/redeem", json={"token": token})
    assert_problem(replayed, 401, "already used")
    assert (await audit_actions(runtime))[-2:] == [
        "auth.sign_in_link",
        "auth.sign_in_link_refused",
    ]
    # Only a hash of the secret is kept.
    async with runtime.session() as db:
        await bind_system(db)
        stored = (await db.execute(text("SELECT secret_hash FROM sign_in_links"))).scalar_one()
    assert token.split(".")[1] not in stored


async def test_a_magic_link_is_mailed_only_to_client_members(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant, smtp_on: SmtpServer
) -> None:
    member, _ = await invited(client, tenant_a, smtp_on, "rp@client.example")
    for email in ("stranger@client.example", tenant_a.owner_email, "rp@client.example"):
        asked = await client.post(
            "/auth/magic-link", json={"email": email, "agency_id": str(tenant_a.agency_id)}
        )
        assert asked.status_code == 202, asked.text
        assert asked.json() == {"detail": "If this address may sign in, a link is on its way."}
    messages = smtp_on.handler.to("rp@client.example")
    while len(messages) < 2:
        messages = smtp_on.handler.to("rp@client.example")
    magic = messages[-1].message
    assert magic["Subject"] == "Votre lien de connexion à Alpha"
    assert "valable 15 minutes" in magic.get_content()
    session = await client.post(
        "/auth/magic-link/redeem", json={"token": link_in(magic.get_content())}
    )
    assert session.status_code == 201, session.text
    assert session.json()["user_id"] == member["user_id"]
    assert not smtp_on.handler.to("stranger@client.example", timeout=0.5)
    assert not smtp_on.handler.to(tenant_a.owner_email, timeout=0.1)


async def test_an_expired_link_is_refused(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Tenant,
    smtp_on: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runtime.settings.auth, "invitation_ttl_hours", 0)
    _, token = await invited(client, tenant_a, smtp_on, "late@client.example")
    refused = await client.post("/auth/magic-link/redeem", json={"token": token})
    assert_problem(refused, 401, "expired")
    assert (await audit_actions(runtime))[-1] == "auth.sign_in_link_refused"


async def test_a_disabled_client_member_cannot_use_their_link(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant, smtp_on: SmtpServer
) -> None:
    member, token = await invited(client, tenant_a, smtp_on, "gone@client.example")
    await client.patch(
        f"/client-members/{member['id']}",
        json={"disabled": True},
        headers={**tenant_a.headers, "If-Match": "*"},
    )
    refused = await client.post("/auth/magic-link/redeem", json={"token": token})
    assert_problem(refused, 401, "no longer an active client member")
    assert (await audit_actions(runtime))[-1] == "auth.sign_in_link_refused"


async def test_a_forged_link_is_refused(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    for token in ("agm_junk.junk", "agy_x.y", "x" * 300):
        refused = await client.post("/auth/magic-link/redeem", json={"token": token})
        assert refused.status_code in {400, 401}, refused.text
