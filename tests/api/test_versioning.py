"""One version for the package, the API document and the changelog; deprecation on the wire."""

from __future__ import annotations

import json
import re
import tomllib
from datetime import date
from pathlib import Path

import httpx
import pytest
import yaml
from dramatiq.brokers.stub import StubBroker
from litestar import get

from agency import __version__
from agency.app import create_app
from agency.config import Settings
from agency.connector.registry import Registry
from agency.kernel.http import deprecated
from agency.kernel.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]


def test_package_document_and_changelog_name_one_version() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    document = json.loads((ROOT / "openapi" / "openapi.json").read_text())["info"]["version"]
    changelog = (ROOT / "CHANGELOG.md").read_text()
    sections = re.findall(r"^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$", changelog, re.M)
    assert sections[0] == ("Unreleased", ""), "changes land under Unreleased first"
    released = [version for version, _ in sections[1:]]
    assert all(day for _, day in sections[1:]), "a released section carries its date"
    chart = yaml.safe_load((ROOT / "helm" / "agency" / "Chart.yaml").read_text())["appVersion"]
    assert pyproject == __version__ == document == chart == released[0]
    assert released == sorted(released, key=lambda v: tuple(map(int, v.split("."))), reverse=True)


@get(
    "/probe/old",
    opt={"public": True},
    **deprecated(date(2027, 1, 4), date(2027, 7, 5), "/probe/new"),
)
async def old_probe() -> dict[str, str]:
    return {"still": "working"}


async def test_a_deprecated_operation_says_so_in_the_document_and_on_the_wire() -> None:
    settings = Settings()
    app = create_app(settings, Runtime(settings, StubBroker(), Registry([])), [old_probe])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        answer = await client.get("/probe/old")
        document = (await client.get("/schema/openapi.json")).json()
    assert answer.status_code == 200 and answer.json() == {"still": "working"}
    assert answer.headers["deprecation"] == "@1799020800"  # 2027-01-04, RFC 9745
    assert answer.headers["sunset"] == "Mon, 05 Jul 2027 00:00:00 GMT"  # RFC 8594
    assert answer.headers["link"] == '</probe/new>; rel="successor-version"'
    operation = document["paths"]["/probe/old"]["get"]
    assert operation["deprecated"] is True
    assert {"Deprecation", "Sunset", "Link"} <= set(operation["responses"]["200"]["headers"])
    committed = json.loads((ROOT / "openapi" / "openapi.json").read_text())
    still_deprecated = [
        f"{method} {path}"
        for path, item in committed["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict)
        and op.get("deprecated")
        and "Sunset"
        not in op["responses"].get("200", op["responses"].get("201", {})).get("headers", {})
    ]
    assert still_deprecated == [], "a deprecated operation announces its sunset"


def test_a_sunset_comes_six_months_after_the_deprecation() -> None:
    with pytest.raises(ValueError, match="six months"):
        deprecated(date(2027, 1, 4), date(2027, 3, 1))
