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

from agency.app import create_app
from agency.config import Settings
from agency.connector.registry import Registry
from agency.kernel.runtime import Runtime
from agency.openapi import render

COMMITTED = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"
PUBLIC = {
    "/health",
    "/ready",
    "/auth/login",
    "/invitations/accept",
    "/auth/magic-link",
    "/auth/magic-link/redeem",
    "/auth/providers/{agency_id}/{login_provider_id}/sign-in",
    "/auth/providers/callback",
    "/oauth/callback/{network}",
    "/connect/{token}",
    "/feeds/{token}/calendar.ics",
    "/media/{media_id}/signed",
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
