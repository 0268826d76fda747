"""Verified credentials are kept in each process; a change made through one replica (a token
revoked, a session ended, a role changed, a member removed) holds on every other at its
very next request. Two app instances, each with its own runtime (pools, cache), share one
PostgreSQL and one Redis, as two replicas behind a load balancer do."""

from __future__ import annotations

from typing import Any

import httpx

from agency.access.secrets import SESSION_PREFIX, BearerSecret, parse_bearer
from agency.auth.cache import credential_cache
from tests.conftest import Tenant
from tests.helpers import assert_problem, bearer, invite_and_join, login
from tests.support.replica import Replica
from tests.support.replica import replica as replica

__all__ = ["replica"]


def knows(replica: Replica, token: str) -> bool:
    """Whether the replica keeps the verified credential of ``token``."""
    held = parse_bearer(token, SESSION_PREFIX)
    assert held is not None
    cache = replica.runtime.component(credential_cache)
    return cache.get(held.agency_id, held.object_id) is not None


async def _member(client: httpx.AsyncClient, tenant: Tenant, email: str) -> dict[str, Any]:
    members = (await client.get("/members", headers=tenant.headers)).json()["items"]
    [member] = [m for m in members if m["email"] == email]
    return member


async def test_a_token_revoked_through_one_replica_is_refused_by_the_other(
    client: httpx.AsyncClient, tenant_a: Tenant, replica: Replica
) -> None:
    created = await client.post(
        "/api-tokens", json={"name": "ci", "scopes": ["agency:read"]}, headers=tenant_a.headers
    )
    token, token_id = created.json()["token"], created.json()["id"]
    for _ in range(2):
        assert (await replica.client.get("/agency", headers=bearer(token))).status_code == 200
    assert knows(replica, token), "the replica keeps the verified credential"

    revoked = await client.post(f"/api-tokens/{token_id}/revoke", headers=tenant_a.headers)
    assert revoked.status_code == 204, revoked.text
    assert_problem(await replica.client.get("/agency", headers=bearer(token)), 401)
    assert_problem(await client.get("/agency", headers=bearer(token)), 401)


async def test_a_session_ended_through_one_replica_is_refused_by_the_other(
    client: httpx.AsyncClient, tenant_a: Tenant, replica: Replica
) -> None:
    token = await login(client, tenant_a.owner_email)
    assert (await replica.client.get("/auth/me", headers=bearer(token))).status_code == 200
    assert knows(replica, token)
    assert (await client.post("/auth/logout", headers=bearer(token))).status_code == 204
    assert_problem(await replica.client.get("/auth/me", headers=bearer(token)), 401)


async def test_a_role_changed_through_one_replica_holds_on_the_other(
    client: httpx.AsyncClient, tenant_a: Tenant, replica: Replica
) -> None:
    joined = await invite_and_join(client, tenant_a, "lead@alpha.example", "manager")
    token = joined["token"]
    assert (await replica.client.get("/audit-events", headers=bearer(token))).status_code == 200
    assert knows(replica, token)

    member = await _member(client, tenant_a, "lead@alpha.example")
    url = f"/members/{member['id']}"
    current = await client.get(url, headers=tenant_a.headers)
    changed = await client.patch(
        url,
        json={"role": "analyst"},
        headers={**tenant_a.headers, "If-Match": current.headers["etag"]},
    )
    assert changed.status_code == 200, changed.text
    assert_problem(await replica.client.get("/audit-events", headers=bearer(token)), 403)
    assert (await replica.client.get("/agency", headers=bearer(token))).status_code == 200

    removed = await client.delete(url, headers=tenant_a.headers)
    assert removed.status_code == 204, removed.text
    assert_problem(await replica.client.get("/agency", headers=bearer(token)), 401)


async def test_a_kept_credential_is_only_good_for_its_own_agency(
    client: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant, replica: Replica
) -> None:
    """The cache is keyed by agency: tenant A's credential, known to the replica, presented
    as if it were tenant B's (its id and secret under B's agency id) is refused."""
    assert (await replica.client.get("/agency", headers=tenant_a.headers)).status_code == 200
    assert knows(replica, tenant_a.token)
    held = parse_bearer(tenant_a.token, SESSION_PREFIX)
    assert held is not None
    forged = BearerSecret(tenant_b.agency_id, held.object_id, held.secret).render(SESSION_PREFIX)
    assert_problem(await replica.client.get("/agency", headers=bearer(forged)), 401)


async def test_a_kept_credential_is_read_again_only_when_its_agency_changed(
    client: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant, replica: Replica
) -> None:
    """Unchanged, the agency's access version lets the replica use what it kept (the entry
    stays the same object); any change to the agency's credentials or roles moves it, and the
    credential is read again; another agency's changes do not."""
    held = parse_bearer(tenant_a.token, SESSION_PREFIX)
    assert held is not None
    cache = replica.runtime.component(credential_cache)
    assert (await replica.client.get("/agency", headers=tenant_a.headers)).status_code == 200
    kept = cache.get(held.agency_id, held.object_id)
    assert (await replica.client.get("/agency", headers=tenant_a.headers)).status_code == 200
    assert cache.get(held.agency_id, held.object_id) is kept

    other = await client.post(
        "/api-tokens", json={"name": "x", "scopes": ["agency:read"]}, headers=tenant_b.headers
    )
    await client.post(f"/api-tokens/{other.json()['id']}/revoke", headers=tenant_b.headers)
    assert (await replica.client.get("/agency", headers=tenant_a.headers)).status_code == 200
    assert cache.get(held.agency_id, held.object_id) is kept, "another agency's change"

    mine = await client.post(
        "/api-tokens", json={"name": "y", "scopes": ["agency:read"]}, headers=tenant_a.headers
    )
    await client.post(f"/api-tokens/{mine.json()['id']}/revoke", headers=tenant_a.headers)
    assert (await replica.client.get("/agency", headers=tenant_a.headers)).status_code == 200
    again = cache.get(held.agency_id, held.object_id)
    assert again is not None and again is not kept
    assert again.version > (kept.version if kept is not None else 0)


async def test_a_language_chosen_through_one_replica_is_spoken_by_the_other(
    client: httpx.AsyncClient, tenant_a: Tenant, replica: Replica
) -> None:
    """The session's person's language comes with the credential: choosing another moves
    the access version of every agency the person holds credentials in."""
    headers = bearer(await login(client, tenant_a.owner_email))
    missing = "/brands/01900000-0000-7000-8000-000000000000"
    english = await replica.client.get(missing, headers={**headers, "Accept-Language": "en"})
    assert assert_problem(english, 404)["title"] == "Not found"
    assert knows(replica, headers["Authorization"].removeprefix("Bearer "))
    chosen = await client.put("/auth/me/locale", json={"locale": "fr"}, headers=headers)
    assert chosen.status_code == 200, chosen.text
    french = await replica.client.get(missing, headers={**headers, "Accept-Language": "en"})
    assert assert_problem(french, 404)["title"] != "Not found"
    assert french.headers["content-language"] == "fr"
