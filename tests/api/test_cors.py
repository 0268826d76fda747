"""The separate frontend may call the API from the origins configured, and only those; it may
send and read the headers it needs, and every answer names its request."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from agency.app import create_app
from agency.config import ServerSettings, Settings
from agency.kernel.runtime import Runtime

FRONTEND = "https://app.example"


@pytest.fixture
async def cors_client(settings: Settings, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    configured = Settings(
        database=settings.database,
        redis=settings.redis,
        rate_limits=settings.rate_limits,
        server=ServerSettings(cors_origins=[FRONTEND]),
    )
    transport = httpx.ASGITransport(app=create_app(configured, runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def _names(header: str) -> set[str]:
    return {name.strip().lower() for name in header.split(",")}


async def test_cors_allows_the_configured_frontend_only(cors_client: httpx.AsyncClient) -> None:
    preflight = await cors_client.options(
        "/agency",
        headers={
            "Origin": FRONTEND,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization,if-match",
        },
    )
    assert preflight.status_code in (200, 204)
    assert preflight.headers["access-control-allow-origin"] == FRONTEND
    assert "PATCH" in preflight.headers["access-control-allow-methods"]
    other = await cors_client.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


async def test_a_preflight_accepts_request_ids_tracing_and_csrf(
    cors_client: httpx.AsyncClient,
) -> None:
    asked = "x-request-id,traceparent,tracestate,x-csrf-token,if-none-match,idempotency-key"
    preflight = await cors_client.options(
        "/brands",
        headers={
            "Origin": FRONTEND,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": asked,
        },
    )
    assert preflight.status_code in (200, 204), preflight.text
    allowed = _names(preflight.headers["access-control-allow-headers"])
    assert set(asked.split(",")) <= allowed
    # The session cookie may travel: the origin is named, never "*".
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert preflight.headers["access-control-allow-origin"] == FRONTEND
    refused = await cors_client.options(
        "/brands",
        headers={
            "Origin": FRONTEND,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-not-ours",
        },
    )
    assert refused.status_code == 400


async def test_a_frontend_may_read_what_it_needs_from_answers(
    cors_client: httpx.AsyncClient,
) -> None:
    answer = await cors_client.get("/health", headers={"Origin": FRONTEND})
    exposed = _names(answer.headers["access-control-expose-headers"])
    assert {
        "location",
        "etag",
        "retry-after",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "x-request-id",
        "idempotent-replayed",
    } <= exposed
    assert answer.headers["access-control-allow-credentials"] == "true"


async def test_every_answer_names_its_request(cors_client: httpx.AsyncClient) -> None:
    fresh = await cors_client.get("/health")
    other = await cors_client.get("/health")
    assert len(fresh.headers["x-request-id"]) == 32
    assert fresh.headers["x-request-id"] != other.headers["x-request-id"]
    # The caller's own id is echoed, on successes and on problems alike.
    for path in ("/health", "/no/such/route", "/brands"):
        mine = await cors_client.get(path, headers={"X-Request-ID": "frontend-7f3a:42"})
        assert mine.headers["x-request-id"] == "frontend-7f3a:42", path
    preflight = await cors_client.options(
        "/brands",
        headers={
            "Origin": FRONTEND,
            "Access-Control-Request-Method": "GET",
            "X-Request-ID": "preflight-1",
        },
    )
    assert preflight.headers["x-request-id"] == "preflight-1"
    # An id that is not one (too long, or carrying what a log must not) is replaced.
    for insane in (b"x" * 129, b"a b", b"id\xe9", b"<script>"):
        replaced = await cors_client.get("/health", headers={"X-Request-ID": insane})
        assert replaced.headers["x-request-id"].encode() != insane
        assert len(replaced.headers["x-request-id"]) == 32
