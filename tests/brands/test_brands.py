"""Client brands: charters, time zone and locale, archived state, through the API."""

from __future__ import annotations

from typing import Any

import httpx

from agency.kernel.runtime import Runtime
from tests.conftest import Tenant, count_rows
from tests.helpers import assert_problem, bearer, invite_and_join

BRAND: dict[str, Any] = {
    "name": "Maison Lumière",
    "slug": "maison-lumiere",
    "timezone": "Europe/Paris",
    "locale": "fr",
    "reporting_line": "press_relations",
    "editorial_charter": {
        "tone": "chaleureux, jamais familier",
        "hashtags_allowed": True,
        "max_hashtags": 3,
        "emoji_allowed": False,
        "humour_allowed": True,
        "words_to_avoid": ["cheap", "low-cost"],
    },
    "community_charter": {
        "clauses": [
            {"number": 1, "text": "Insults and hate speech are removed."},
            {"number": 2, "text": "Advertising for other brands is removed."},
        ]
    },
    "network_objectives": {
        "instagram": {"objectives": ["notoriety"], "target_audience": "25-40", "kpis": ["reach"]}
    },
}


async def test_create_read_update_archive(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    created = await client.post("/brands", json=BRAND, headers=tenant_a.headers)
    assert created.status_code == 201, created.text
    brand = created.json()
    assert brand["editorial_charter"]["words_to_avoid"] == ["cheap", "low-cost"]
    assert brand["community_charter"]["clauses"][1]["number"] == 2
    assert brand["archived"] is False
    url = f"/brands/{brand['id']}"
    etag = created.headers["etag"]

    changed = await client.patch(
        url,
        json={"timezone": "America/Montreal", "editorial_charter": {"emoji_allowed": True}},
        headers={**tenant_a.headers, "If-Match": etag},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["timezone"] == "America/Montreal"
    assert changed.json()["name"] == BRAND["name"], "fields not sent stay as they were"

    archived = await client.patch(
        url,
        json={"archived": True},
        headers={**tenant_a.headers, "If-Match": changed.headers["etag"]},
    )
    assert archived.json()["archived"] is True
    active = await client.get("/brands", params={"archived": "false"}, headers=tenant_a.headers)
    assert active.json()["items"] == []
    everything = await client.get("/brands", headers=tenant_a.headers)
    assert [b["id"] for b in everything.json()["items"]] == [brand["id"]]

    events = await client.get(
        "/audit-events", params={"object_type": "brand"}, headers=tenant_a.headers
    )
    assert [e["action"] for e in events.json()["items"]] == [
        "brand.updated",
        "brand.updated",
        "brand.created",
    ]


async def test_bad_brands_are_refused_with_every_problem(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
) -> None:
    bad = {
        **BRAND,
        "timezone": "Mars/Olympus_Mons",
        "community_charter": {"clauses": [{"number": 1, "text": "a"}, {"number": 1, "text": "b"}]},
    }
    body = assert_problem(await client.post("/brands", json=bad, headers=tenant_a.headers), 422)
    fields = {e["field"] for e in body["errors"]}
    assert fields == {"timezone", "community_charter.clauses"}
    for field, value in [("locale", "de"), ("reporting_line", "sales"), ("slug", "Not A Slug")]:
        response = await client.post(
            "/brands", json={**BRAND, field: value}, headers=tenant_a.headers
        )
        assert_problem(response, 422, field)
    assert await count_rows(runtime, "brands") == 0


async def test_slugs_are_unique_per_agency(
    client: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    assert (await client.post("/brands", json=BRAND, headers=tenant_a.headers)).status_code == 201
    again = await client.post("/brands", json=BRAND, headers=tenant_a.headers)
    assert_problem(again, 409, "slug")
    other_agency = await client.post("/brands", json=BRAND, headers=tenant_b.headers)
    assert other_agency.status_code == 201


async def test_an_analyst_reads_but_does_not_write(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    analyst = await invite_and_join(client, tenant_a, "analyst@alpha.example", "analyst")
    assert_problem(await client.post("/brands", json=BRAND, headers=bearer(analyst["token"])), 403)
    assert (await client.get("/brands", headers=bearer(analyst["token"]))).status_code == 200
