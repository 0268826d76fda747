"""The OpenAPI document as a client generator reads it: names, enums, examples, headers,
webhooks. Each rule is checked over the whole committed document, so a new route that
breaks one fails here."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from jsonschema import Draft202012Validator

from agency.access.permissions import Role
from agency.auth.schemas import SessionRole
from agency.brand.schemas import ApprovalPolicyName
from agency.examples import Examples
from agency.publication.states import CRISIS, POLICIES
from agency.webhook.events import EVENT_TYPES, PAYLOADS, PING, DeliveredEventType
from tests.conftest import Tenant

COMMITTED = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
METHODS = ("get", "put", "post", "patch", "delete")
# Properties whose values form a closed set, by name: each must be an enum.
CLOSED = re.compile(
    r"(^|_)(status|kind|outcome|role|locale|reporting_line|event_type|policy|health)$"
)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    found: dict[str, Any] = json.loads(COMMITTED.read_text())
    return found


def operations(
    document: dict[str, Any], section: str = "paths"
) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, item in document.get(section, {}).items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_operation_ids_are_unique_camel_case_and_start_with_a_verb(
    document: dict[str, Any],
) -> None:
    found = operations(document)
    ids = [op["operationId"] for _, op in found]
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]
    wrong = [i for i in ids if not re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)*", i)]
    assert wrong == []
    # Named after what it does, not where it is (Litestar's default: BrandsBrandIdGetBrand).
    nouns = [
        op["operationId"]
        for name, op in found
        if re.match(r"[a-z]+", op["operationId"]).group(0)  # type: ignore[union-attr]
        == re.split(r"[-_/{.]", name.split()[1].lstrip("/"))[0]
    ]
    assert nouns == []
    by_route = {name: op["operationId"] for name, op in operations(document)}
    assert by_route["GET /brands"] == "listBrands"
    assert by_route["POST /brands/{brand_id}/publications"] == "createPublication"
    assert by_route["PATCH /publications/{publication_id}"] == "updatePublication"


def test_schema_names_are_plain_and_titles_unique(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    odd = [name for name in schemas if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", name)]
    assert odd == [], f"schema names with module paths or generics: {odd}"
    titles = Counter(s.get("title", name) for name, s in schemas.items())
    assert [t for t, n in titles.items() if n > 1] == []


def test_every_closed_set_is_an_enum(document: dict[str, Any]) -> None:
    open_sets = []
    for name, schema in document["components"]["schemas"].items():
        for prop, sub in (schema.get("properties") or {}).items():
            text = json.dumps(sub)
            named = CLOSED.search(prop) and '"integer"' not in text
            if named and not any(k in text for k in ('"enum"', '"const"', '"$ref"')):
                open_sets.append(f"{name}.{prop}")
    assert open_sets == []
    assert set(DeliveredEventType) == {*EVENT_TYPES, PING}
    assert set(SessionRole) == {*Role, "client"}
    # Those the assembly registered; the crisis policy applies during a crisis, never stored.
    assert set(POLICIES) - {CRISIS} <= set(ApprovalPolicyName)


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """Validates against ``schema``, its ``#/components/...`` references resolved."""
    return Draft202012Validator({**schema, "components": document["components"]})


def _bodies(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every JSON request body and success answer, by where it is."""
    found = []
    for section in ("paths", "webhooks"):
        for name, operation in operations(document, section):
            body = operation.get("requestBody", {}).get("content", {})
            found += [(f"{name} request", media) for t, media in body.items() if "json" in t]
            for status, answer in operation["responses"].items():
                if status.startswith("2"):
                    found += [
                        (f"{name} {status}", media)
                        for t, media in answer.get("content", {}).items()
                        if "json" in t and media["schema"].get("type") != "null"
                    ]
    return found


def test_every_json_body_has_an_example_that_its_schema_accepts(
    document: dict[str, Any],
) -> None:
    bodies = _bodies(document)
    assert len(bodies) > 100
    missing = [where for where, media in bodies if "example" not in media]
    assert missing == []
    invalid = [
        f"{where}: {error.message}"
        for where, media in bodies
        for error in _validator(document, media["schema"]).iter_errors(media["example"])
    ]
    assert invalid == []


def test_webhooks_section_describes_every_event_with_its_payload(
    document: dict[str, Any],
) -> None:
    assert set(document["webhooks"]) == {*EVENT_TYPES, PING}
    for event_type, item in document["webhooks"].items():
        operation = item["post"]
        headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}
        envelope = operation["requestBody"]["content"]["application/json"]
        assert envelope["schema"]["properties"]["type"]["const"] == event_type
        # The documented payload is exactly what the Struct the domain emits reads.
        msgspec.convert(envelope["example"]["data"], PAYLOADS[event_type], strict=False)


async def test_a_real_ping_matches_the_documented_payload(
    client: httpx.AsyncClient, tenant_a: Tenant, document: dict[str, Any]
) -> None:
    hook = await client.post(
        "/webhooks", json={"url": "https://crm.example/hooks"}, headers=tenant_a.headers
    )
    assert hook.status_code == 201, hook.text
    ping = await client.post(f"/webhooks/{hook.json()['id']}/ping", headers=tenant_a.headers)
    assert ping.status_code == 202, ping.text
    detail = await client.get(f"/webhook-deliveries/{ping.json()['id']}", headers=tenant_a.headers)
    schema = document["webhooks"][PING]["post"]["requestBody"]["content"]["application/json"]
    errors = list(_validator(document, schema["schema"]).iter_errors(detail.json()["payload"]))
    assert errors == []


def test_documented_headers(document: dict[str, Any]) -> None:
    paths = document["paths"]
    created = paths["/brands"]["post"]["responses"]["201"]["headers"]
    assert {"Location", "ETag", "Idempotent-Replayed"} <= set(created)
    assert paths["/brands/{brand_id}"]["get"]["responses"]["200"]["headers"]["ETag"]["required"]
    assert "429" in paths["/auth/login"]["post"]["responses"]
    assert "Retry-After" in paths["/auth/login"]["post"]["responses"]["429"]["headers"]


async def test_a_created_object_is_where_location_says(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    headers = {**tenant_a.headers, "Idempotency-Key": "brand-maison-lumiere"}
    body = {"name": "Maison Lumière", "slug": "maison-lumiere", "timezone": "Europe/Paris"}
    created = await client.post("/brands", json=body, headers=headers)
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    assert location == f"/brands/{created.json()['id']}"
    read = await client.get(location, headers=tenant_a.headers)
    assert read.status_code == 200 and read.json() == created.json()
    assert read.headers["etag"] == created.headers["etag"]
    replayed = await client.post("/brands", json=body, headers=headers)
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.headers["location"] == location


def test_examples_honour_bounds_and_patterns() -> None:
    examples = Examples({"components": {"schemas": {}}})
    slug = {"type": "string", "pattern": "^[a-z0-9]+(-[a-z0-9]+)*$", "maxLength": 100}
    assert examples.value({"type": "object", "properties": {"slug": slug}}, request=False) == {
        "slug": "maison-lumiere"
    }
    bounded = {"type": "integer", "minimum": 1, "maximum": 10}
    assert examples.value({"type": "object", "properties": {"limit": bounded}}, request=False) == {
        "limit": 10
    }
