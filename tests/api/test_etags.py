"""What a list view needs to edit (each object's ETag), and conditional reads (304)."""

from __future__ import annotations

from typing import Any

import httpx

from agency.app import create_app
from agency.config import Settings
from tests.conftest import Tenant
from tests.helpers import add_client_member, assert_problem, invite_and_join

BRAND = {"name": "Maison", "slug": "maison", "timezone": "Europe/Paris"}


async def _brand(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    created = await client.post("/brands", json=BRAND, headers=tenant.headers)
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


async def _edit_from_list(
    client: httpx.AsyncClient, tenant: Tenant, listing: str, one: str, change: dict[str, Any]
) -> None:
    """Edit the first object of a list with the ETag the list gave, then see it refused with
    the same (stale) ETag: the list's ETag is the object's own."""
    items = (await client.get(listing, headers=tenant.headers)).json()["items"]
    item = items[0]
    url = one.format(id=item["id"])
    single = await client.get(url, headers=tenant.headers)
    assert single.headers["etag"] == item["etag"], listing
    edited = await client.patch(
        url, json=change, headers={**tenant.headers, "If-Match": item["etag"]}
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["etag"] == edited.headers["etag"] != item["etag"]
    stale = await client.patch(
        url, json=change, headers={**tenant.headers, "If-Match": item["etag"]}
    )
    assert_problem(stale, 412)


async def test_list_items_carry_the_etag_an_edit_needs(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    brand = await _brand(client, tenant_a)
    await _edit_from_list(client, tenant_a, "/brands", "/brands/{id}", {"name": "Renamed"})
    await invite_and_join(client, tenant_a, "cm@alpha.example", "community_manager")
    members = (await client.get("/members", headers=tenant_a.headers)).json()["items"]
    member = next(m for m in members if m["email"] == "cm@alpha.example")
    edited = await client.patch(
        f"/members/{member['id']}",
        json={"role": "analyst"},
        headers={**tenant_a.headers, "If-Match": member["etag"]},
    )
    assert edited.status_code == 200, edited.text
    await add_client_member(client, tenant_a, brand["id"], "c@maison.example")
    await _edit_from_list(
        client,
        tenant_a,
        f"/brands/{brand['id']}/client-members",
        "/client-members/{id}",
        {"name": "Claire"},
    )
    hook = await client.post(
        "/webhooks", json={"url": "https://hooks.example.com/a"}, headers=tenant_a.headers
    )
    assert hook.status_code == 201, hook.text
    await _edit_from_list(
        client, tenant_a, "/webhooks", "/webhooks/{id}", {"description": "Renamed"}
    )


def _schema(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_every_editable_object_says_its_etag_in_its_body(settings: Settings) -> None:
    """Whatever an edit (If-Match) answers is an object with ``etag``, and so is every item of
    a list of those objects."""
    document = create_app(settings).openapi_schema.to_schema()
    edited: set[str] = set()
    for item in document["paths"].values():
        operation = item.get("patch")
        if not operation or not any(p["name"] == "If-Match" for p in operation["parameters"]):
            continue
        answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
        edited.add(answer["$ref"])
        assert "etag" in _schema(document, answer)["required"], answer
    assert len(edited) >= 10
    listed = 0
    for item in document["paths"].values():
        operation = item.get("get")
        content = (operation or {}).get("responses", {}).get("200", {}).get("content", {})
        schema = _schema(document, content.get("application/json", {}).get("schema", {}))
        items = schema.get("properties", {}).get("items", {}).get("items", {})
        if items.get("$ref") in edited:
            listed += 1
    assert listed >= 6


async def test_if_none_match_answers_304_while_nothing_changed(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    brand = await _brand(client, tenant_a)
    url = f"/brands/{brand['id']}"
    first = await client.get(url, headers=tenant_a.headers)
    etag = first.headers["etag"]
    assert etag == '"1"'
    same = await client.get(url, headers={**tenant_a.headers, "If-None-Match": etag})
    assert same.status_code == 304
    assert same.content == b""
    assert same.headers["etag"] == etag and "x-request-id" in same.headers
    assert "content-type" not in same.headers
    weak = await client.get(url, headers={**tenant_a.headers, "If-None-Match": 'W/"1", "9"'})
    assert weak.status_code == 304
    anything = await client.get(url, headers={**tenant_a.headers, "If-None-Match": "*"})
    assert anything.status_code == 304
    await client.patch(
        url, json={"name": "Renamed"}, headers={**tenant_a.headers, "If-Match": etag}
    )
    changed = await client.get(url, headers={**tenant_a.headers, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] == '"2"'


async def test_lists_get_an_etag_of_their_content(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    await _brand(client, tenant_a)
    listing = await client.get("/brands", headers=tenant_a.headers)
    etag = listing.headers["etag"]
    assert etag.startswith('W/"')
    again = await client.get("/brands", headers={**tenant_a.headers, "If-None-Match": etag})
    assert again.status_code == 304
    await client.post("/brands", json={**BRAND, "slug": "autre"}, headers=tenant_a.headers)
    grown = await client.get("/brands", headers={**tenant_a.headers, "If-None-Match": etag})
    assert grown.status_code == 200 and grown.headers["etag"] != etag
    assert len(grown.json()["items"]) == 2
    # A problem is never a 304, whatever the header says.
    missing = await client.get("/members", headers={"If-None-Match": "*"})
    assert_problem(missing, 401)


async def test_an_object_showing_other_rows_is_always_sent_whole(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    await invite_and_join(client, tenant_a, "cm@alpha.example", "community_manager")
    members = (await client.get("/members", headers=tenant_a.headers)).json()["items"]
    url = f"/members/{members[0]['id']}"
    first = await client.get(url, headers=tenant_a.headers)
    # The person's name lives in their account: the membership's version does not cover it.
    again = await client.get(
        url, headers={**tenant_a.headers, "If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 200
    assert again.json() == first.json()
