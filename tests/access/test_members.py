"""Members, roles, invitations and the audit log."""

from __future__ import annotations

import httpx

from agency.kernel.runtime import Runtime
from tests.conftest import PASSWORD, Tenant, count_rows
from tests.helpers import assert_problem, bearer, invite_and_join, login


async def _member_id(client: httpx.AsyncClient, tenant: Tenant, email: str) -> tuple[str, str]:
    members = (await client.get("/members", headers=tenant.headers)).json()["items"]
    member = next(m for m in members if m["email"] == email)
    response = await client.get(f"/members/{member['id']}", headers=tenant.headers)
    return member["id"], response.headers["etag"]


async def test_invitation_round_trip_and_audit(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    joined = await invite_and_join(client, tenant_a, "New.Person@Alpha.example", "manager", "New")
    assert joined["role"] == "manager"
    member_id, _ = await _member_id(client, tenant_a, "new.person@alpha.example")
    events = (await client.get("/audit-events", headers=tenant_a.headers)).json()["items"]
    actions = [e["action"] for e in events]
    assert "invitation.created" in actions
    assert "invitation.accepted" in actions
    assert member_id


async def test_an_invitation_is_used_once(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    invited = await client.post(
        "/invitations",
        json={"email": "once@alpha.example", "role": "analyst"},
        headers=tenant_a.headers,
    )
    token = invited.json()["token"]
    payload = {"token": token, "password": PASSWORD, "name": "Once"}
    assert (await client.post("/invitations/accept", json=payload)).status_code == 201
    assert_problem(await client.post("/invitations/accept", json=payload), 404)


async def test_a_revoked_or_forged_invitation_is_refused(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    invited = await client.post(
        "/invitations",
        json={"email": "no@alpha.example", "role": "analyst"},
        headers=tenant_a.headers,
    )
    token = invited.json()["token"]
    revoke = await client.delete(f"/invitations/{invited.json()['id']}", headers=tenant_a.headers)
    assert revoke.status_code == 204
    payload = {"token": token, "password": PASSWORD, "name": "No"}
    assert_problem(await client.post("/invitations/accept", json=payload), 404)
    forged = token[:-4] + "AAAA"
    payload["token"] = forged
    assert_problem(await client.post("/invitations/accept", json=payload), 404)


async def test_role_change_needs_a_fresh_etag(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    await invite_and_join(client, tenant_a, "cm@alpha.example", "community_manager")
    member_id, etag = await _member_id(client, tenant_a, "cm@alpha.example")
    url = f"/members/{member_id}"
    body = {"role": "manager"}
    assert_problem(await client.patch(url, json=body, headers=tenant_a.headers), 428, "If-Match")
    ok = await client.patch(url, json=body, headers={**tenant_a.headers, "If-Match": etag})
    assert ok.status_code == 200, ok.text
    assert ok.json()["role"] == "manager"
    assert ok.headers["etag"] != etag
    stale = await client.patch(
        url, json={"role": "analyst"}, headers={**tenant_a.headers, "If-Match": etag}
    )
    assert_problem(stale, 412)
    assert (await client.get(url, headers=tenant_a.headers)).json()["role"] == "manager"


async def test_the_last_owner_stays(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    token = await login(client, tenant_a.owner_email)
    owner_id, etag = await _member_id(client, tenant_a, tenant_a.owner_email)
    demote = await client.patch(
        f"/members/{owner_id}", json={"role": "admin"}, headers={**bearer(token), "If-Match": etag}
    )
    assert_problem(demote, 409, "owner")
    assert_problem(await client.delete(f"/members/{owner_id}", headers=bearer(token)), 409)


async def test_an_admin_cannot_make_owners(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
) -> None:
    admin = await invite_and_join(client, tenant_a, "admin@alpha.example", "admin")
    before = await count_rows(runtime, "invitations")
    response = await client.post(
        "/invitations",
        json={"email": "boss@alpha.example", "role": "owner"},
        headers=bearer(admin["token"]),
    )
    assert_problem(response, 403, "owner")
    assert await count_rows(runtime, "invitations") == before


async def test_removed_members_lose_access(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    joined = await invite_and_join(client, tenant_a, "gone@alpha.example", "analyst")
    member_id, _ = await _member_id(client, tenant_a, "gone@alpha.example")
    assert (
        await client.delete(f"/members/{member_id}", headers=tenant_a.headers)
    ).status_code == 204
    assert_problem(await client.get("/agency", headers=bearer(joined["token"])), 401)


async def test_pagination_walks_every_item_once(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    for i in range(7):
        await client.post(
            "/invitations",
            json={"email": f"p{i}@alpha.example", "role": "analyst"},
            headers=tenant_a.headers,
        )
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/invitations", params=params, headers=tenant_a.headers)).json()
        seen += [i["email"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(f"p{i}@alpha.example" for i in range(7))
    assert seen[0] == "p6@alpha.example", "newest first"
