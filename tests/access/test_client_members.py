"""Client members: managed by agency staff, one identity across brands, narrowed to their
brands when they call the API themselves."""

from __future__ import annotations

from typing import Any

import httpx

from agency.kernel.runtime import Runtime
from tests.conftest import Tenant
from tests.helpers import add_client_member, assert_problem, bearer, client_session, create_brand


async def test_staff_manage_client_members(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    brand = await create_brand(client, tenant_a, "maison")
    member = await add_client_member(
        client,
        tenant_a,
        brand,
        "Claire@Maison.example",
        ["approve", "reports:receive"],
        reporting_line="press_relations",
        locale="en",
    )
    assert member["email"] == "claire@maison.example"
    assert member["permissions"] == ["approve", "reports:receive"]
    assert (member["reporting_line"], member["locale"], member["disabled"]) == (
        "press_relations",
        "en",
        False,
    )
    again = await client.post(
        f"/brands/{brand}/client-members",
        json={"name": "C", "email": "claire@maison.example", "reporting_line": "marketing"},
        headers=tenant_a.headers,
    )
    assert_problem(again, 409, "already a client member")
    listed = await client.get(f"/brands/{brand}/client-members", headers=tenant_a.headers)
    assert [m["id"] for m in listed.json()["items"]] == [member["id"]]

    url = f"/client-members/{member['id']}"
    read = await client.get(url, headers=tenant_a.headers)
    assert read.headers["etag"] == '"1"'
    stale = await client.patch(
        url, json={"locale": "fr"}, headers={**tenant_a.headers, "If-Match": '"9"'}
    )
    assert_problem(stale, 412)
    changed = await client.patch(
        url,
        json={"permissions": ["calendar:read", "calendar:read"], "disabled": True},
        headers={**tenant_a.headers, "If-Match": '"1"'},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["permissions"] == ["calendar:read"]
    assert changed.json()["disabled"] is True
    audit = await client.get(
        "/audit-events", params={"object_id": member["id"]}, headers=tenant_a.headers
    )
    assert [e["action"] for e in audit.json()["items"]] == [
        "client_member.updated",
        "client_member.created",
    ]
    assert (await client.delete(url, headers=tenant_a.headers)).status_code == 204
    assert_problem(await client.get(url, headers=tenant_a.headers), 404)


async def test_bad_client_member_input_names_the_field(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    brand = await create_brand(client, tenant_a, "maison")
    good = {"name": "C", "email": "c@maison.example", "reporting_line": "marketing"}
    for field, bad in [("reporting_line", "sales"), ("permissions", ["publish"])]:
        response = await client.post(
            f"/brands/{brand}/client-members", json={**good, field: bad}, headers=tenant_a.headers
        )
        assert_problem(response, 422, field)


async def test_one_identity_across_brands_and_agencies(
    client: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    first = await add_client_member(
        client, tenant_a, await create_brand(client, tenant_a, "one"), "dg@client.example"
    )
    second = await add_client_member(
        client, tenant_a, await create_brand(client, tenant_a, "two"), "DG@client.example"
    )
    elsewhere = await add_client_member(
        client, tenant_b, await create_brand(client, tenant_b, "three"), "dg@client.example"
    )
    assert first["user_id"] == second["user_id"] == elsewhere["user_id"]
    assert len({first["id"], second["id"], elsewhere["id"]}) == 3


async def test_a_client_member_sees_only_their_brands(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
) -> None:
    mine, reports_only, other = [
        await create_brand(client, tenant_a, slug) for slug in ("mine", "reports", "other")
    ]
    member = await add_client_member(client, tenant_a, mine, "rp@client.example")
    await add_client_member(
        client, tenant_a, reports_only, "rp@client.example", ["reports:receive"]
    )
    headers = bearer(await client_session(runtime, tenant_a.agency_id, member["user_id"]))

    me = (await client.get("/auth/me", headers=headers)).json()
    assert me["kind"] == "client" and me["role"] is None
    assert sorted(me["brand_ids"]) == sorted([mine, reports_only])
    assert me["permissions"] == ["brands:read", "publications:read"]

    brands = (await client.get("/brands", headers=headers)).json()["items"]
    assert sorted(b["id"] for b in brands) == sorted([mine, reports_only])
    assert_problem(await client.get(f"/brands/{other}", headers=headers), 404)
    ok = await client.get(f"/brands/{mine}/media", headers=headers)
    assert ok.status_code == 200, ok.text
    # Seeing a brand is not reading its calendar: that needs calendar:read on that brand.
    assert (await client.get(f"/brands/{reports_only}", headers=headers)).status_code == 200
    assert_problem(await client.get(f"/brands/{reports_only}/media", headers=headers), 404)
    for agency_only in ("/agency", "/members", "/api-tokens", "/webhooks", "/audit-events"):
        assert_problem(await client.get(agency_only, headers=headers), 403)
    staff_write = await client.post(
        "/brands",
        json={"name": "X", "slug": "x-brand", "timezone": "UTC"},
        headers=headers,
    )
    assert_problem(staff_write, 403)


async def test_disabling_or_removing_a_place_ends_the_session(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
) -> None:
    brand = await create_brand(client, tenant_a, "mine")
    member = await add_client_member(client, tenant_a, brand, "m@client.example")
    headers = bearer(await client_session(runtime, tenant_a.agency_id, member["user_id"]))
    assert (await client.get("/auth/me", headers=headers)).status_code == 200
    await client.patch(
        f"/client-members/{member['id']}",
        json={"disabled": True},
        headers={**tenant_a.headers, "If-Match": "*"},
    )
    assert_problem(await client.get("/auth/me", headers=headers), 401)


async def test_a_client_member_renews_and_logs_out(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
) -> None:
    brand = await create_brand(client, tenant_a, "mine")
    member: dict[str, Any] = await add_client_member(client, tenant_a, brand, "m@client.example")
    old = bearer(await client_session(runtime, tenant_a.agency_id, member["user_id"]))
    renewed = await client.post("/auth/session/renew", headers=old)
    assert renewed.status_code == 201, renewed.text
    assert "set-cookie" not in renewed.headers  # a bearer client gets no cookies
    assert_problem(await client.get("/auth/me", headers=old), 401)
    headers = bearer(renewed.json()["token"])
    assert (await client.get("/auth/me", headers=headers)).json()["kind"] == "client"
    assert (await client.post("/auth/logout", headers=headers)).status_code == 204
    assert_problem(await client.get("/auth/me", headers=headers), 401)
