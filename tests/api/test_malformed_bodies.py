"""A body, query or path that does not decode is a 400 problem on every route, never a 500.

The routes come from the app's own route table, so a route added later is covered too.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from dramatiq.brokers.stub import StubBroker
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler

from agency.app import create_app
from agency.config import Settings
from agency.connector.registry import Registry
from agency.kernel.decoding import MAX_JSON_DEPTH
from agency.kernel.runtime import Runtime
from tests.conftest import Tenant
from tests.helpers import assert_problem, create_brand

_PARAM = re.compile(r"\{(\w+):(\w+)\}")


def _concrete(path: str) -> str:
    samples = {"uuid": str(uuid.uuid4()), "int": "1", "str": "x", "path": "x"}
    return _PARAM.sub(lambda m: samples.get(m.group(2), "x"), path)


def _handlers(app: Litestar) -> Iterator[tuple[str, str, HTTPRouteHandler]]:
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if isinstance(handler, HTTPRouteHandler):
                for method in sorted(handler.http_methods):
                    yield method, route.path, handler


def _body_routes(app: Litestar) -> list[tuple[str, str]]:
    """Routes whose handler decodes a JSON body (the media upload streams its own)."""
    return [
        (method, path)
        for method, path, handler in _handlers(app)
        if method in {"POST", "PUT", "PATCH"}
        and "data" in handler.parsed_fn_signature.parameters
        and not handler.opt.get("streamed_body")
    ]


# Only the route table is read: a runtime on a broker of its own, not the process's.
_APP = create_app(Settings(), Runtime(Settings(), StubBroker(), Registry([])))
BODY_ROUTES = _body_routes(_APP)
# The API's routes; the OpenAPI viewer under /schema answers in HTML.
ALL_ROUTES = sorted(
    {(m, p) for m, p, _ in _handlers(_APP) if m not in {"HEAD", "OPTIONS"}}
    - {(m, p) for m, p, _ in _handlers(_APP) if p.startswith("/schema")}
)

MALFORMED = {
    "deep arrays": b"[" * 1000 + b"]" * 1000,
    "deep objects": b'{"a":' * 1000 + b"1" + b"}" * 1000,
    "just past the depth limit": b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1),
    "not UTF-8": b'{"email": "\xff\xfe@x.example", "password": "\xc3\x28"}',
    "truncated": b'{"email": "x@',
}


def test_the_route_table_has_body_routes() -> None:
    # Guards the test below against a route table that no longer yields anything.
    assert ("POST", "/auth/login") in BODY_ROUTES
    assert len(BODY_ROUTES) > 15


@pytest.mark.parametrize("kind", list(MALFORMED))
@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
async def test_malformed_bodies_are_400_everywhere(
    client: httpx.AsyncClient,
    tenant_a: Tenant,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    kind: str,
) -> None:
    headers = {**tenant_a.headers, "Content-Type": "application/json", "If-Match": '"x"'}
    with caplog.at_level(logging.ERROR):
        response = await client.request(
            method, _concrete(path), content=MALFORMED[kind], headers=headers
        )
    assert_problem(response, 400)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_deep_json_is_refused_on_the_public_login(client: httpx.AsyncClient) -> None:
    body = assert_problem(
        await client.post(
            "/auth/login",
            content=b'{"email":' * 1000 + b'"x"' + b"}" * 1000,
            headers={"Content-Type": "application/json"},
        ),
        400,
        "nested deeper",
    )
    assert body["type"] == "/problems/malformed-body"


@pytest.mark.parametrize(("method", "path"), ALL_ROUTES)
async def test_bad_percent_encoding_is_never_a_500(
    client: httpx.AsyncClient, tenant_a: Tenant, method: str, path: str
) -> None:
    url = _concrete(path).replace("/x", "/%ff%fe") + "?%ff=%fe&cursor=%c3%28&limit=%80"
    response = await client.request(
        method, url, headers={**tenant_a.headers, "Content-Type": "application/json"}, content=b"{}"
    )
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_malformed_form_and_multipart_bodies_are_problems(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    form = await client.post(
        "/auth/login",
        content=b"email=%ff&password=%fe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_problem(form, 400)
    brand_id = await create_brand(client, tenant_a)
    upload = await client.post(
        f"/brands/{brand_id}/media",
        content=b"--b\r\nContent-Disposition: form-data; name=\xff\r\n\r\n\xff\xfe\r\n--b--",
        headers={**tenant_a.headers, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert_problem(upload, 400)
