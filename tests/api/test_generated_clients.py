"""Clients generated from the committed OpenAPI document, used as an integrator would.

TypeScript: ``openapi-typescript`` writes the types, ``tsc --strict`` compiles
``tests/clients/program.ts`` (openapi-fetch: sign in, create with an Idempotency-Key, page
through a list, edit with If-Match), then Node runs it against a live server. Python:
``openapi-python-client`` generates a package, without a single warning, and the same steps
run through it. A document that regresses (an operation renamed, a field's type changed, a
header no longer documented) fails to generate, to compile or to run.

The Node packages are pinned in ``tests/peers/package.json``; the generator in
``pyproject.toml``.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD, LiveServer, Tenant

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "openapi" / "openapi.json"
CLIENTS = ROOT / "tests" / "clients"
NODE_MODULES = ROOT / "tests" / "peers" / "node_modules"
BIN = Path(sys.executable).parent


def _run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **env},
    )


async def _two_more_brands(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for slug in ("atelier-sud", "cafe-nord"):
        body = {"name": slug.replace("-", " ").title(), "slug": slug, "timezone": "Europe/Paris"}
        answer = await client.post("/brands", json=body, headers=tenant.headers)
        assert answer.status_code == 201, answer.text


def _expected(outcome: dict[str, Any]) -> None:
    """What the program saw, whichever language it was written in."""
    assert outcome["role"] == "owner"
    assert outcome["location"].startswith("/brands/")
    assert outcome["replayed"] == "true" and outcome["same_brand"]
    assert sorted(outcome["names"]) == ["Atelier Sud", "Cafe Nord", "Maison Lumière"]
    assert outcome["edited"] == "Maison Lumière Paris"
    assert outcome["stale_status"] == 412
    assert outcome["stale_type"] == "/problems/precondition-failed"


@pytest.fixture
def typescript_dir(tmp_path: Path) -> Path:
    work = tmp_path / "ts"
    work.mkdir()
    for name in ("program.ts", "tsconfig.json"):
        shutil.copy(CLIENTS / name, work / name)
    (work / "node_modules").symlink_to(NODE_MODULES)
    return work


async def test_typescript_client_compiles_strictly_and_works(
    typescript_dir: Path, live_server: LiveServer, client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    generated = _run(
        [
            str(NODE_MODULES / ".bin" / "openapi-typescript"),
            str(DOCUMENT),
            # Request bodies may leave out a field that has a default.
            "--default-non-nullable",
            "false",
            "-o",
            "schema.d.ts",
        ],
        typescript_dir,
    )
    assert generated.returncode == 0, generated.stderr
    assert "warn" not in (generated.stdout + generated.stderr).lower(), generated.stderr
    compiled = _run([str(NODE_MODULES / ".bin" / "tsc"), "-p", "tsconfig.json"], typescript_dir)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    await _two_more_brands(client, tenant_a)
    ran = _run(
        ["node", "out/program.js", live_server.url, tenant_a.owner_email, PASSWORD],
        typescript_dir,
    )
    assert ran.returncode == 0, ran.stderr
    seen = json.loads(ran.stdout)
    _expected(
        {
            **seen,
            "same_brand": seen["sameBrand"],
            "stale_status": seen["staleStatus"],
            "stale_type": seen["staleType"],
        }
    )


@pytest.fixture
def python_client(tmp_path: Path) -> Iterator[Any]:
    generated = _run(
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--path",
            str(DOCUMENT),
            "--output-path",
            str(tmp_path / "agency_client"),
            "--meta",
            "none",
            "--config",
            str(CLIENTS / "openapi-python-client.yaml"),
        ],
        tmp_path,
    )
    output = generated.stdout + generated.stderr
    assert generated.returncode == 0, output
    assert "warning" not in output.lower(), output
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module("agency_client")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.split(".")[0] == "agency_client"]:
            del sys.modules[name]


async def test_python_client_generates_without_warnings_and_works(
    python_client: Any, live_server: LiveServer, client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    def operation(tag: str, name: str) -> Any:
        return importlib.import_module(f"agency_client.api.{tag}.{name}")

    login = operation("authentication", "login")
    create_brand = operation("brands", "create_brand")
    list_brands = operation("brands", "list_brands")
    update_brand = operation("brands", "update_brand")
    models = importlib.import_module("agency_client.models")
    await _two_more_brands(client, tenant_a)

    def program() -> dict[str, Any]:
        anonymous = python_client.Client(base_url=live_server.url)
        session = login.sync(
            client=anonymous,
            body=models.LoginInput(email=tenant_a.owner_email, password=PASSWORD),
        )
        authed = python_client.AuthenticatedClient(base_url=live_server.url, token=session.token)
        body = models.BrandCreate(
            name="Maison Lumière", slug="maison-lumiere", timezone="Europe/Paris"
        )
        created = create_brand.sync_detailed(
            client=authed, body=body, idempotency_key="create-maison-lumiere"
        )
        replayed = create_brand.sync_detailed(
            client=authed, body=body, idempotency_key="create-maison-lumiere"
        )
        names, cursor = [], None
        while True:
            more = {"cursor": cursor} if cursor else {}
            page = list_brands.sync(client=authed, limit=1, **more)
            names += [brand.name for brand in page.items]
            cursor = page.next_cursor if isinstance(page.next_cursor, str) else None
            if cursor is None:
                break
        etag = created.headers["ETag"]
        edit = models.BrandUpdate(name="Maison Lumière Paris")
        brand_id = created.parsed.id
        edited = update_brand.sync(client=authed, brand_id=brand_id, body=edit, if_match=etag)
        stale = update_brand.sync_detailed(
            client=authed, brand_id=brand_id, body=edit, if_match=etag
        )
        return {
            "role": session.role.value,
            "location": created.headers.get("Location"),
            "replayed": replayed.headers.get("Idempotent-Replayed"),
            "same_brand": replayed.parsed.id == brand_id,
            "names": names,
            "edited": edited.name,
            "stale_status": stale.status_code,
            "stale_type": stale.parsed.type_,
        }

    # The generated client is synchronous: off this loop, which the fixtures share.
    _expected(await asyncio.to_thread(program))
