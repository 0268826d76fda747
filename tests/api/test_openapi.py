"""The OpenAPI document: committed, served and generated copies agree, and it is valid 3.1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from dramatiq.brokers.stub import StubBroker
from litestar.enums import ParamType
from litestar.handlers import HTTPRouteHandler
from litestar.params import ParameterKwarg
from litestar.routes import HTTPRoute

from agency.app import create_app
from agency.config import Settings
from agency.connector.registry import Registry
from agency.kernel.runtime import Runtime
from agency.openapi import render

pytestmark = pytest.mark.slow

COMMITTED = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
PUBLIC = {
    "/health",
    "/ready",
    "/problems",
    "/problems/{slug}",
    "/auth/login",
    "/invitations/accept",
    "/auth/magic-link",
    "/auth/magic-link/redeem",
    "/auth/password/forgotten",
    "/auth/password/reset",
    "/auth/providers/{agency_id}/{login_provider_id}/sign-in",
    "/auth/providers/callback",
    "/oauth/callback/{network}",
    "/connect/{token}",
    "/feeds/{token}/calendar.ics",
    "/media/{media_id}/signed",
    "/report-mail/unsubscribe/{token}",
    "/report-mail/confirm/{token}",
}
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(COMMITTED.read_text())
    return document


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_committed_document_is_what_agency_openapi_writes(tmp_path: Path) -> None:
    # `agency openapi` writes render(create_app(Settings())). It runs in a fresh interpreter,
    # as `make openapi` does: the CLI's build_runtime() would replace this process's Dramatiq
    # broker.
    output = tmp_path / "openapi.json"
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from agency.cli import main; main()",
            "openapi",
            "--output",
            str(output),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    generated, committed = output.read_text(), COMMITTED.read_text()
    if generated != committed:
        changed = _changed_paths(json.loads(committed), json.loads(generated))
        pytest.fail(
            "openapi/openapi.json is out of date with the code: run `make openapi` and commit "
            f"the result. Differences: {changed[:20]}",
            pytrace=False,
        )


def test_rendering_is_deterministic() -> None:
    settings = Settings()
    first = render(create_app(settings, Runtime(settings, StubBroker(), Registry([]))))
    second = render(create_app(settings, Runtime(settings, StubBroker(), Registry([]))))
    assert first == second, _changed_paths(json.loads(first), json.loads(second))[:20]


def _changed_paths(old: Any, new: Any, where: str = "$") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        changed: list[str] = []
        for key in sorted(set(old) | set(new)):
            if key not in old or key not in new:
                changed.append(f"{where}.{key} ({'added' if key in new else 'removed'})")
            else:
                changed += _changed_paths(old[key], new[key], f"{where}.{key}")
        return changed
    return [] if old == new else [where]


async def test_served_document_is_openapi_31_and_the_committed_one(
    client: httpx.AsyncClient, committed: dict[str, Any]
) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/")
    served = response.json()
    assert served["openapi"].startswith("3.1"), served["openapi"]
    # The exact bytes are checked against a fresh process in
    # test_committed_document_is_what_agency_openapi_writes.
    if served != committed:
        pytest.fail(
            "the served /schema/openapi.json differs from openapi/openapi.json; run "
            f"`make openapi` if the code changed. Differences: {_changed_paths(committed, served)}",
            pytrace=False,
        )


def test_document_is_valid_openapi_31(committed: dict[str, Any]) -> None:
    assert committed["openapi"].startswith("3.1")
    # The official OAS 3.1 meta-schema, as bundled with schemathesis (always installed here).
    import schemathesis

    schemathesis.openapi.from_dict(committed).validate()
    # openapi-spec-validator checks more (e.g. $refs resolve); it is optional in this venv.
    try:
        from openapi_spec_validator import validate
    except ImportError:
        return
    validate(committed)


def test_every_non_public_operation_documents_401_problem(committed: dict[str, Any]) -> None:
    missing = [
        f"{method} {path}"
        for method, path, operation in operations(committed)
        if path not in PUBLIC
        and PROBLEM not in operation.get("responses", {}).get("401", {}).get("content", {})
    ]
    assert missing == [], f"operations without a documented 401 {PROBLEM} response: {missing}"
    # And the set of public operations is exactly the expected one (nothing became public).
    public = {
        path
        for _, path, operation in operations(committed)
        if operation.get("security", committed.get("security")) in ([], [{}])
    }
    assert public == PUBLIC


def test_every_problem_response_references_the_problem_schema(committed: dict[str, Any]) -> None:
    problem_schema = committed["components"]["schemas"]["Problem"]
    assert {"type", "title", "status"} <= set(problem_schema["required"])
    wrong = [
        f"{method} {path} {status}"
        for method, path, operation in operations(committed)
        for status, response in operation["responses"].items()
        if status.startswith(("4", "5"))
        and response.get("content", {}).get(PROBLEM, {}).get("schema")
        != {"$ref": "#/components/schemas/Problem"}
    ]
    assert wrong == []


# -- what the document says against what the handlers declare -----------------------------------


def _takes_if_match(handler: HTTPRouteHandler) -> bool:
    """The handler takes the If-Match header (the kernel's ``IfMatch`` parameter)."""
    return any(
        isinstance(field.kwarg_definition, ParameterKwarg)
        and field.kwarg_definition.param_type == ParamType.HEADER
        and (field.kwarg_definition.name or field.name).lower() == "if-match"
        for field in handler.parsed_fn_signature.parameters.values()
    )


def _handlers() -> list[tuple[str, str, HTTPRouteHandler]]:
    settings = Settings()
    app = create_app(settings, Runtime(settings, StubBroker(), Registry([])))
    return [
        (method, route.path_format, handler)
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for handler in route.route_handlers
        if handler.resolve_include_in_schema()
        for method in handler.http_methods
    ]


def test_every_if_match_route_documents_it_required_with_412_and_428(
    committed: dict[str, Any],
) -> None:
    guarded = [(m, p) for m, p, handler in _handlers() if _takes_if_match(handler)]
    assert ("POST", "/publications/{publication_id}/schedule") in guarded  # the search works
    wrong = []
    for method, path in guarded:
        operation = committed["paths"][path][method.lower()]
        headers = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "header"}
        if not headers.get("If-Match", {}).get("required"):
            wrong.append(f"{method} {path}: If-Match not required")
        if not {"412", "428"} <= set(operation["responses"]):
            wrong.append(f"{method} {path}: 412/428 not listed")
    assert wrong == []
    # And nothing else claims it.
    claimed = {
        (method.upper(), path)
        for method, path, operation in operations(committed)
        if any(p["name"] == "If-Match" for p in operation.get("parameters", []))
    }
    assert claimed == set(guarded)


def _schema(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_bodies_that_refuse_unknown_fields_say_additional_properties_false(
    committed: dict[str, Any],
) -> None:
    checked, wrong = 0, []
    for method, path, handler in _handlers():
        data = handler.parsed_fn_signature.parameters.get("data")
        if data is None:
            continue
        strict = data.annotation.__struct_config__.forbid_unknown_fields
        body = committed["paths"][path][method.lower()]["requestBody"]
        schema = _schema(committed, body["content"]["application/json"]["schema"])
        checked += 1
        if strict and schema.get("additionalProperties") is not False:
            wrong.append(f"{method} {path}")
        if not strict and schema.get("additionalProperties") is False:
            wrong.append(f"{method} {path} (says false, accepts them)")
    assert checked > 20
    assert wrong == []
    # Nested objects of those bodies too, e.g. a brand's charters and a publication's variants.
    schemas = committed["components"]["schemas"]
    for name in ("EditorialCharter", "CommunityCharter", "VariantIn", "Utm", "SlotIn"):
        assert schemas[name]["additionalProperties"] is False, name
