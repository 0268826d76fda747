"""Logins, sessions and API tokens, as a frontend and an OpenAPI client use them."""

from __future__ import annotations

import logging

import httpx
import pytest

from agency.kernel.runtime import Runtime
from tests.conftest import PASSWORD, Tenant, count_rows, make_tenant
from tests.helpers import assert_problem, bearer, invite_and_join, login


async def test_login_opens_a_session_that_acts_with_the_members_role(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    token = await login(client, tenant_a.owner_email)
    me = await client.get("/auth/me", headers=bearer(token))
    assert me.status_code == 200
    body = me.json()
    assert body["kind"] == "session"
    assert body["role"] == "owner"
    assert body["agency_id"] == str(tenant_a.agency_id)
    assert body["user"]["email"] == tenant_a.owner_email
    assert "ownership:manage" in body["permissions"]


async def test_wrong_password_and_unknown_email_answer_alike(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    wrong = await client.post(
        "/auth/login", json={"email": tenant_a.owner_email, "password": "not it at all"}
    )
    unknown = await client.post(
        "/auth/login", json={"email": "ghost@nowhere.example", "password": "not it at all"}
    )
    assert_problem(wrong, 401)
    assert_problem(unknown, 401)
    assert wrong.json()["detail"] == unknown.json()["detail"]


async def test_logout_ends_the_session(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    token = await login(client, tenant_a.owner_email)
    assert (await client.post("/auth/logout", headers=bearer(token))).status_code == 204
    assert_problem(await client.get("/auth/me", headers=bearer(token)), 401)


async def test_a_person_in_two_agencies_chooses_one(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
) -> None:
    other = await make_tenant(runtime, "charlie")
    await invite_and_join(client, other, tenant_a.owner_email, "analyst")
    ambiguous = await client.post(
        "/auth/login", json={"email": tenant_a.owner_email, "password": PASSWORD}
    )
    body = assert_problem(ambiguous, 422, "agency_id")
    [error] = body["errors"]
    assert (error["pointer"], error["code"]) == ("/agency_id", "agency_required")
    assert set(error["params"]["allowed"]) == {str(tenant_a.agency_id), str(other.agency_id)}
    chosen = await client.post(
        "/auth/login",
        json={
            "email": tenant_a.owner_email,
            "password": PASSWORD,
            "agency_id": str(other.agency_id),
        },
    )
    assert chosen.status_code == 201
    assert chosen.json()["role"] == "analyst"


async def test_api_token_is_shown_once_and_hashed_at_rest(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
) -> None:
    created = await client.post(
        "/api-tokens",
        json={"name": "reporting", "scopes": ["agency:read"], "expires_in_days": 30},
        headers=tenant_a.headers,
    )
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    token_id = created.json()["id"]
    listed = await client.get("/api-tokens", headers=tenant_a.headers)
    assert token not in listed.text
    fetched = await client.get(f"/api-tokens/{token_id}", headers=tenant_a.headers)
    assert "token" not in fetched.json()
    secret = token.split(".", 1)[1]
    from sqlalchemy import text

    from agency.kernel.tenancy import bind_system

    async with runtime.session() as session:
        await bind_system(session)
        dump = (await session.execute(text("SELECT * FROM credentials"))).all()
    assert secret not in repr(dump)
    # The token works, within its scope only.
    assert (await client.get("/agency", headers=bearer(token))).status_code == 200
    assert_problem(await client.get("/members", headers=bearer(token)), 403, "members:read")


async def test_revoked_and_expired_tokens_are_refused(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
) -> None:
    created = await client.post(
        "/api-tokens", json={"name": "short", "scopes": ["agency:read"]}, headers=tenant_a.headers
    )
    token, token_id = created.json()["token"], created.json()["id"]
    revoked = await client.post(f"/api-tokens/{token_id}/revoke", headers=tenant_a.headers)
    assert revoked.status_code == 204
    assert_problem(await client.get("/agency", headers=bearer(token)), 401)

    created = await client.post(
        "/api-tokens", json={"name": "old", "scopes": ["agency:read"]}, headers=tenant_a.headers
    )
    from sqlalchemy import text

    from agency.kernel.tenancy import bind_system

    async with runtime.session() as session:
        await bind_system(session)
        await session.execute(
            text("UPDATE credentials SET expires_at = now() - interval '1 second' WHERE id = :id"),
            {"id": created.json()["id"]},
        )
        await session.commit()
    assert_problem(await client.get("/agency", headers=bearer(created.json()["token"])), 401)


async def test_token_scopes_cannot_exceed_the_creator(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
) -> None:
    joined = await invite_and_join(client, tenant_a, "lead@alpha.example", "admin")
    before = await count_rows(runtime, "credentials")
    response = await client.post(
        "/api-tokens",
        json={"name": "grab", "scopes": ["ownership:manage", "no:such"]},
        headers=bearer(joined["token"]),
    )
    body = assert_problem(response, 422, "ownership:manage", "no:such")
    assert len(body["errors"]) == 2
    assert await count_rows(runtime, "credentials") == before


@pytest.mark.parametrize(
    ("role", "allowed", "denied"),
    [
        ("analyst", "/agency", "/members"),
        ("community_manager", "/members", "/audit-events"),
        ("manager", "/audit-events", "/api-tokens"),
    ],
)
async def test_roles_limit_what_a_member_may_do(
    client: httpx.AsyncClient, tenant_a: Tenant, role: str, allowed: str, denied: str
) -> None:
    joined = await invite_and_join(client, tenant_a, f"{role}@alpha.example", role)
    assert (await client.get(allowed, headers=bearer(joined["token"]))).status_code == 200
    assert_problem(await client.get(denied, headers=bearer(joined["token"])), 403)


async def test_no_secret_reaches_the_logs(
    client: httpx.AsyncClient, tenant_a: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = await login(client, tenant_a.owner_email)
    created = await client.post(
        "/api-tokens", json={"name": "x", "scopes": ["agency:read"]}, headers=bearer(token)
    )
    await client.get("/agency", headers=bearer(created.json()["token"]))
    for secret in (token, created.json()["token"], PASSWORD):
        assert secret.split(".")[-1] not in caplog.text
