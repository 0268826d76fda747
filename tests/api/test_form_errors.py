"""Errors a form can use: every invalid field at once, each with its JSON pointer, a stable
code and a message; schema and business rules answered alike; type URIs that resolve."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from agency.problem.endpoints import problem_types
from tests.conftest import Tenant
from tests.helpers import assert_problem

BRAND = {"name": "Maison Durand", "slug": "maison-durand", "timezone": "Europe/Paris"}
FIELD_KEYS = {"message", "code", "field", "pointer", "source"}


def _errors(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["pointer"] if "pointer" in e else e["field"]: e for e in body["errors"]}


async def test_every_invalid_field_comes_in_one_problem(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    bad = {
        "name": "",
        "slug": "Not A Slug",
        "timezone": 12,
        "locale": "de",
        "publish_grace_minutes": "60",
        "colour": "red",
    }
    response = await client.post("/brands", json=bad, headers=tenant_a.headers)
    body = assert_problem(response, 422)
    assert body["type"] == "/problems/invalid-input"
    errors = _errors(body)
    assert {pointer: e["code"] for pointer, e in errors.items()} == {
        "/name": "too_short",
        "/slug": "pattern",
        "/timezone": "type",
        "/locale": "enum",
        "/publish_grace_minutes": "type",
        "/colour": "unknown_field",
    }
    assert errors["/name"]["params"] == {"min": 1}
    assert errors["/locale"]["params"] == {"allowed": ["fr", "en"]}
    assert errors["/timezone"]["params"] == {"expected": "string", "got": "integer"}
    assert errors["/name"]["message"] == "At least 1 character."
    for error in errors.values():
        assert error["source"] == "body"
        assert error["message"]
    assert body["detail"] == "The request has 6 invalid fields."


async def test_nested_fields_are_named_by_json_pointer(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    body = {
        "title": "t",
        "variants": [
            {"channel_id": "not-a-uuid", "text": 5},
            {"channel_id": str(uuid.uuid4()), "colour": "red"},
        ],
    }
    response = await client.post(
        f"/brands/{uuid.uuid4()}/publications", json=body, headers=tenant_a.headers
    )
    errors = _errors(assert_problem(response, 422))
    assert errors["/variants/0/channel_id"]["code"] == "format"
    assert errors["/variants/0/channel_id"]["field"] == "variants.0.channel_id"
    assert errors["/variants/0/text"]["code"] == "type"
    assert errors["/variants/1/colour"]["code"] == "unknown_field"


async def test_schema_and_business_rules_answer_alike(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    schema = assert_problem(
        await client.post("/brands", json={**BRAND, "slug": "A"}, headers=tenant_a.headers), 422
    )
    business = assert_problem(
        await client.post(
            "/brands",
            json={
                **BRAND,
                "timezone": "Mars/Olympus_Mons",
                "community_charter": {
                    "clauses": [{"number": 1, "text": "a"}, {"number": 1, "text": "b"}]
                },
            },
            headers=tenant_a.headers,
        ),
        422,
    )
    assert schema["type"] == business["type"] == "/problems/invalid-input"
    assert set(schema) == set(business)
    for error in [*schema["errors"], *business["errors"]]:
        assert set(error) >= FIELD_KEYS, error
    assert {e["pointer"]: e["code"] for e in business["errors"]} == {
        "/timezone": "unknown_timezone",
        "/community_charter/clauses": "duplicate_number",
    }


async def test_parameters_are_named_without_internal_names(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    response = await client.get(
        "/members", params={"limit": "ten", "cursor": "x"}, headers=tenant_a.headers
    )
    body = assert_problem(response, 422)
    assert body["errors"] == [
        {
            "message": "Expected integer, not string.",
            "code": "type",
            "field": "limit",
            "source": "query",
            "params": {"expected": "integer", "got": "string"},
        }
    ]
    assert "ParamType" not in response.text and "Validation failed" not in response.text
    missing = await client.get("/oauth/callback/x")
    body = assert_problem(missing, 422)
    assert body["errors"] == [
        {"message": "Required.", "code": "required", "field": "state", "source": "query"}
    ]
    nul = await client.get("/audit-events", params={"action": "a\x00"}, headers=tenant_a.headers)
    body = assert_problem(nul, 422)
    assert [(e["field"], e["source"], e["code"]) for e in body["errors"]] == [
        ("action", "query", "nul_character")
    ]


async def test_a_malformed_body_is_400_not_a_field_error(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    response = await client.post(
        "/brands",
        content=b'{"name": ',
        headers={**tenant_a.headers, "Content-Type": "application/json"},
    )
    assert_problem(response, 400)


async def test_problem_types_resolve_to_a_page_that_explains_them(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    answers = [
        await client.post("/brands", json={}, headers=tenant_a.headers),
        await client.get(f"/brands/{uuid.uuid4()}", headers=tenant_a.headers),
        await client.get("/members"),
        await client.get("/members", params={"cursor": "nope"}, headers=tenant_a.headers),
    ]
    for answer in answers:
        problem = answer.json()
        page = await client.get(problem["type"])
        assert page.status_code == 200, problem["type"]
        assert page.headers["content-type"].startswith("text/html")
        assert f"<title>{problem['title']}</title>" in page.text
    invalid = await client.get("/problems/invalid-input")
    for code in ("required", "unknown_field", "too_long", "enum", "format", "nul_character"):
        assert f"<code>{code}</code>" in invalid.text
    assert_problem(await client.get("/problems/no-such-problem"), 404)


async def test_every_problem_type_has_its_own_page(client: httpx.AsyncClient) -> None:
    types = problem_types()
    assert {"invalid-input", "not-found", "precondition-failed", "malformed-body"} <= set(types)
    explanations = [cls.explanation for cls in types.values()]
    assert len(set(explanations)) == len(explanations), "a type explains nothing of its own"
    index = await client.get("/problems")
    assert index.status_code == 200
    for slug, cls in types.items():
        assert f'href="/problems/{slug}"' in index.text
        page = await client.get(f"/problems/{slug}")
        assert page.status_code == 200, slug
        assert f"HTTP status {cls.status_code}" in page.text


@pytest.mark.parametrize("path", ["/problems", "/problems/not-found"])
async def test_problem_pages_need_no_credentials_and_run_nothing(
    client: httpx.AsyncClient, path: str
) -> None:
    page = await client.get(path)
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert "<script" not in page.text
