"""Bad input gets a clear RFC 9457 problem naming what is wrong, and nothing is written."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from agency.kernel.runtime import Runtime
from tests.conftest import Tenant, count_rows
from tests.helpers import assert_problem

WRITES = [
    ("POST", "/invitations", "invitations", {"email": "x@alpha.example", "role": "analyst"}),
    ("POST", "/api-tokens", "credentials", {"name": "t", "scopes": ["agency:read"]}),
]


async def _snapshot(runtime: Runtime) -> dict[str, int]:
    tables = ["invitations", "credentials", "memberships", "audit_events", "idempotency_keys"]
    return {t: await count_rows(runtime, t) for t in tables}


@pytest.mark.parametrize(("method", "path", "table", "valid"), WRITES)
async def test_malformed_json_is_refused(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Tenant,
    method: str,
    path: str,
    table: str,
    valid: dict[str, Any],
) -> None:
    before = await _snapshot(runtime)
    headers = {**tenant_a.headers, "Content-Type": "application/json"}
    response = await client.request(method, path, content=b'{"email": "x@', headers=headers)
    assert_problem(response, 400)
    assert await _snapshot(runtime) == before


@pytest.mark.parametrize(("method", "path", "table", "valid"), WRITES)
async def test_wrong_types_and_unknown_fields_name_the_field(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Tenant,
    method: str,
    path: str,
    table: str,
    valid: dict[str, Any],
) -> None:
    before = await _snapshot(runtime)
    first_field = next(iter(valid))
    wrong_type = {**valid, first_field: 12345}
    body = assert_problem(
        await client.request(method, path, json=wrong_type, headers=tenant_a.headers), 422
    )
    assert [(e["field"], e["code"]) for e in body["errors"]] == [(first_field, "type")]
    unknown = {**valid, "is_admin": True}
    body = assert_problem(
        await client.request(method, path, json=unknown, headers=tenant_a.headers), 422
    )
    assert [(e["pointer"], e["code"]) for e in body["errors"]] == [("/is_admin", "unknown_field")]
    assert await _snapshot(runtime) == before


async def test_bad_values_are_listed(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    response = await client.post(
        "/invitations", json={"email": "not-an-email", "role": "emperor"}, headers=tenant_a.headers
    )
    body = assert_problem(response, 422)
    assert {(e["field"], e["code"]) for e in body["errors"]} == {
        ("email", "pattern"),
        ("role", "enum"),
    }


async def test_oversize_bodies_are_refused(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
) -> None:
    before = await _snapshot(runtime)
    huge = {"name": "x" * 2_000_000, "scopes": ["agency:read"]}
    response = await client.post("/api-tokens", json=huge, headers=tenant_a.headers)
    assert_problem(response, 413)
    assert await _snapshot(runtime) == before


@pytest.mark.parametrize("cursor", ["not-a-cursor", "AAAA", "%%%", "x" * 60])
async def test_bad_cursors_are_refused(
    client: httpx.AsyncClient, tenant_a: Tenant, cursor: str
) -> None:
    response = await client.get("/members", params={"cursor": cursor}, headers=tenant_a.headers)
    assert_problem(response, 400, "cursor")


@pytest.mark.parametrize("limit", ["0", "201", "ten"])
async def test_bad_page_sizes_are_refused(
    client: httpx.AsyncClient, tenant_a: Tenant, limit: str
) -> None:
    response = await client.get("/members", params={"limit": limit}, headers=tenant_a.headers)
    body = assert_problem(response, 422, "limit")
    assert [(e["field"], e["source"]) for e in body["errors"]] == [("limit", "query")]


async def test_unknown_route_and_method_are_problems(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/no/such/route"), 404)
    assert_problem(await client.delete("/health"), 405)


async def test_bad_uuid_in_path_is_a_problem(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    response = await client.get("/members/not-a-uuid", headers=tenant_a.headers)
    assert response.status_code in (400, 404)
    assert response.headers["content-type"].startswith("application/problem+json")


class TestIdempotencyKey:
    async def test_same_key_same_body_same_answer(
        self, client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
    ) -> None:
        headers = {**tenant_a.headers, "Idempotency-Key": "invite-1"}
        body = {"email": "same@alpha.example", "role": "analyst"}
        first = await client.post("/invitations", json=body, headers=headers)
        second = await client.post("/invitations", json=body, headers=headers)
        assert first.status_code == second.status_code == 201
        assert first.json() == second.json()
        assert second.headers["idempotent-replayed"] == "true"
        assert await count_rows(runtime, "invitations") == 1

    async def test_same_key_other_body_is_refused(
        self, client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
    ) -> None:
        headers = {**tenant_a.headers, "Idempotency-Key": "invite-2"}
        await client.post(
            "/invitations", json={"email": "a@alpha.example", "role": "analyst"}, headers=headers
        )
        before = await _snapshot(runtime)
        other = await client.post(
            "/invitations", json={"email": "b@alpha.example", "role": "analyst"}, headers=headers
        )
        assert_problem(other, 422, "idempotency")
        assert await _snapshot(runtime) == before

    async def test_keys_are_per_agency(
        self, client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant, tenant_b: Tenant
    ) -> None:
        body = {"email": "x@example.com", "role": "analyst"}
        for tenant in (tenant_a, tenant_b):
            response = await client.post(
                "/invitations", json=body, headers={**tenant.headers, "Idempotency-Key": "k"}
            )
            assert response.status_code == 201
            assert "idempotent-replayed" not in response.headers
        assert await count_rows(runtime, "invitations") == 2

    async def test_concurrent_twins_create_once(
        self, client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
    ) -> None:
        headers = {**tenant_a.headers, "Idempotency-Key": "race"}
        body = {"name": "race", "scopes": ["agency:read"]}
        before = await count_rows(runtime, "credentials")
        answers = await asyncio.gather(
            *[client.post("/api-tokens", json=body, headers=headers) for _ in range(4)]
        )
        codes = sorted(a.status_code for a in answers)
        assert set(codes) <= {201, 409}, codes
        assert 201 in codes
        assert await count_rows(runtime, "credentials") == before + 1
        created = {a.json()["id"] for a in answers if a.status_code == 201}
        assert len(created) == 1

    async def test_failed_requests_store_no_key(
        self, client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
    ) -> None:
        headers = {**tenant_a.headers, "Idempotency-Key": "bad"}
        refused = await client.post(
            "/api-tokens", json={"name": "t", "scopes": ["no:such"]}, headers=headers
        )
        assert_problem(refused, 422)
        assert await count_rows(runtime, "idempotency_keys") == 0
        fixed = await client.post(
            "/api-tokens", json={"name": "t", "scopes": ["agency:read"]}, headers=headers
        )
        assert fixed.status_code == 201
