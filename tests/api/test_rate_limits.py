"""Credential guessing is rate limited per address and per account; hashing leaves the loop."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import statistics
import time
from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.stores.memory import MemoryStore
from prometheus_client import REGISTRY

from agency.access.secrets import hash_password, verify_password
from agency.app import create_app
from agency.auth.cookies import SESSION_COOKIE
from agency.config import RateLimitSettings, RedisSettings, Settings
from agency.kernel.ratelimit import (
    AWAY_RETRY_SECONDS,
    STORE_NAME,
    LoopLocalRedisStore,
    rate_limit_store,
    rate_limited,
)
from agency.kernel.runtime import Runtime
from tests.conftest import PASSWORD, Tenant
from tests.helpers import assert_problem
from tests.support.servers import RedisServer

PER_IP, PER_ACCOUNT, PER_CREDENTIAL = 6, 3, 1000


def _limited(settings: Settings, **limits: int) -> Settings:
    return Settings(
        database=settings.database,
        redis=settings.redis,
        worker=settings.worker,
        rate_limits=RateLimitSettings(
            credentials_per_ip_per_minute=limits.get("ip", PER_IP),
            credentials_per_account_per_hour=limits.get("account", PER_ACCOUNT),
            requests_per_credential_per_minute=limits.get("credential", PER_CREDENTIAL),
        ),
    )


def _client(app: Litestar, address: str = "198.51.100.7") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture(scope="module")
def limited_app(settings: Settings, runtime: Runtime) -> Litestar:
    return create_app(_limited(settings), runtime)


@pytest.fixture
async def limited(limited_app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(limited_app) as client:
        yield client


def _login(email: str, password: str = "wrong password") -> dict[str, str]:
    return {"email": email, "password": password}


async def test_an_account_is_locked_after_its_limit(
    limited: httpx.AsyncClient, limited_app: Litestar, tenant_a: Tenant
) -> None:
    for attempt in range(PER_ACCOUNT):
        response = await limited.post("/auth/login", json=_login(tenant_a.owner_email))
        assert_problem(response, 401)
        assert response.headers["RateLimit-Limit"] in {str(PER_IP), str(PER_ACCOUNT)}
        assert int(response.headers["RateLimit-Remaining"]) == PER_ACCOUNT - attempt - 1
    # Even the right password, from another address, is refused now (and never hashed).
    async with _client(limited_app, "203.0.113.9") as elsewhere:
        refused = await elsewhere.post(
            "/auth/login", json=_login(tenant_a.owner_email.upper(), PASSWORD)
        )
    body = assert_problem(refused, 429, "retry in")
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert "token" not in body
    # Another account from the first address is still served.
    assert_problem(await limited.post("/auth/login", json=_login("other@x.example")), 401)


async def test_an_address_is_limited_across_credential_routes(
    limited: httpx.AsyncClient, limited_app: Litestar, tenant_a: Tenant
) -> None:
    attempts = [
        ("/auth/login", _login("a@x.example")),
        ("/auth/login", _login("b@x.example")),
        ("/invitations/accept", {"token": "agi_x.y", "password": PASSWORD, "name": "N"}),
        ("/auth/magic-link/redeem", {"token": "agm_x.y"}),
        ("/connect/agl_x.y", {"server_url": "https://example.com"}),
        ("/auth/login", _login("c@x.example")),
    ]
    assert len(attempts) == PER_IP
    for path, body in attempts:
        response = await limited.post(path, json=body)
        assert response.status_code in (400, 401, 404, 422), response.text
    for path, body in attempts[2:4]:
        assert_problem(await limited.post(path, json=body), 429)
    # A forgotten password (an e-mail sent) and its reset (a token guessed) count the same.
    for path, body in (
        ("/auth/password/forgotten", {"email": "a@x.example"}),
        ("/auth/password/reset", {"token": "agr_x.y", "new_password": PASSWORD}),
    ):
        assert_problem(await limited.post(path, json=body), 429)
    # Routes where nothing is guessed are not counted, and other addresses are served.
    health = await limited.get("/health")
    assert health.status_code == 200 and "RateLimit-Limit" not in health.headers
    assert (await limited.get("/agency", headers=tenant_a.headers)).status_code == 200
    async with _client(limited_app, "203.0.113.10") as elsewhere:
        assert_problem(await elsewhere.post("/auth/login", json=_login("a@x.example")), 401)


async def test_replicas_share_the_counters_in_redis(
    settings: Settings, runtime: Runtime, tenant_a: Tenant
) -> None:
    assert isinstance(rate_limit_store(settings), LoopLocalRedisStore)
    assert isinstance(rate_limit_store(Settings(redis=RedisSettings(url=None))), MemoryStore)
    one, two = (create_app(_limited(settings, account=2), runtime) for _ in range(2))
    async with _client(one) as first, _client(two, "203.0.113.11") as second:
        await first.post("/auth/login", json=_login(tenant_a.owner_email))
        await second.post("/auth/login", json=_login(tenant_a.owner_email))
        assert_problem(await first.post("/auth/login", json=_login(tenant_a.owner_email)), 429)


async def test_a_redis_restart_costs_no_request_an_error(
    settings: Settings, runtime: Runtime, tenant_a: Tenant, redis_server: RedisServer
) -> None:
    """The counters' pooled connections die with Redis; the next request still gets its
    answer (here 401 for a wrong password), counted on a new connection."""
    app = create_app(_limited(settings, account=5), runtime)
    async with _client(app, "203.0.113.12") as client:
        assert_problem(await client.post("/auth/login", json=_login(tenant_a.owner_email)), 401)
        redis_server.restart()
        assert_problem(await client.post("/auth/login", json=_login(tenant_a.owner_email)), 401)


async def test_with_redis_away_the_api_serves_and_the_limits_still_hold(
    settings: Settings,
    runtime: Runtime,
    tenant_a: Tenant,
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "agency.kernel.ratelimit")
    app = create_app(_limited(settings, account=2, credential=3), runtime)
    redis_server.stop("fast")
    try:
        async with _client(app, "203.0.113.13") as client:
            for _ in range(3):
                served = await client.get("/brands", headers=tenant_a.headers)
                assert served.status_code == 200, served.text
            assert_problem(await client.get("/brands", headers=tenant_a.headers), 429)
            for _ in range(2):
                guess = await client.post("/auth/login", json=_login("away@x.example"))
                assert_problem(guess, 401)
            assert_problem(await client.post("/auth/login", json=_login("away@x.example")), 429)
    finally:
        redis_server.start()
    said = [r.getMessage() for r in caplog.records if r.name == "agency.kernel.ratelimit"]
    assert sum("Redis unreachable" in m for m in said) == 1, said
    # Back: the same credential is counted in Redis again, which never saw those requests
    # (once the store tries Redis again).
    await asyncio.sleep(AWAY_RETRY_SECONDS)
    async with _client(app, "203.0.113.14") as client:
        assert (await client.get("/brands", headers=tenant_a.headers)).status_code == 200
    said = [r.getMessage() for r in caplog.records if r.name == "agency.kernel.ratelimit"]
    assert any("Redis reachable again" in m for m in said), said


async def test_each_credential_has_its_own_budget(
    settings: Settings,
    runtime: Runtime,
    tenant_a: Tenant,
    tenant_b: Tenant,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "agency.access")
    refusals = {
        "method": "GET",
        "path": "/audit-events",
        "status_code": "429",
        "app_name": "agency",
    }
    refused_before = REGISTRY.get_sample_value("agency_requests_total", refusals) or 0.0
    app = create_app(_limited(settings, credential=4, ip=1000, account=1000), runtime)
    async with _client(app, "198.51.100.77") as client:
        for used in range(4):
            served = await client.get("/brands", headers=tenant_a.headers)
            assert served.status_code == 200, served.text
            assert served.headers["RateLimit-Remaining"] == str(4 - used - 1)
        refused = await client.get("/audit-events", headers=tenant_a.headers)
        assert_problem(refused, 429, "retry in")
        assert 0 < int(refused.headers["Retry-After"]) <= 60
        # A write is counted in the same budget, and refused before it changes anything.
        write = await client.post(
            "/brands", json={"name": "Late", "slug": "late"}, headers=tenant_a.headers
        )
        assert_problem(write, 429)
        # Another credential, even from the same address, keeps its whole budget.
        other = await client.get("/brands", headers=tenant_b.headers)
        assert other.status_code == 200, other.text
        # No credential is not a budget: it is refused as unauthenticated, not counted.
        for _ in range(6):
            assert_problem(await client.get("/brands"), 401)
        # A session cookie is a credential too, counted apart from the bearer tokens.
        login = await client.post("/auth/login", json=_login(tenant_a.owner_email, PASSWORD))
        assert login.status_code == 201, login.text
        # (a password login answers the token; a browser would hold it as this cookie)
        cookie = {"Cookie": f"{SESSION_COOKIE}={login.json()['token']}"}
        by_cookie = await client.get("/brands", headers=cookie)
        assert by_cookie.status_code == 200, by_cookie.text
        assert by_cookie.headers["RateLimit-Remaining"] == "3"
    # The access log and the metrics say what the caller saw.
    logged = [r.getMessage() for r in caplog.records if r.name == "agency.access"]
    assert "GET /audit-events 429" in " ".join(logged), logged
    assert REGISTRY.get_sample_value("agency_requests_total", refusals) == refused_before + 1
    slugs = {b["slug"] for b in (await _brands(app, tenant_b))}
    assert "late" not in slugs


async def test_a_window_counted_by_the_previous_release_keeps_its_count(
    settings: Settings, runtime: Runtime, tenant_a: Tenant
) -> None:
    """Windows are kept as their count; one kept as Litestar's list of request times (as
    written before a rolling upgrade) counts as that many requests."""
    app = create_app(_limited(settings, credential=5, ip=1000, account=1000), runtime)
    digest = hashlib.blake2b(tenant_a.token.encode(), digest_size=16).hexdigest()
    now = int(time.time())
    earlier = msgspec.json.encode({"history": [now] * 3, "reset": now + 60})
    await app.stores.get(STORE_NAME).set(f"credential:{digest}", earlier, expires_in=60)
    async with _client(app, "198.51.100.78") as client:
        served = await client.get("/brands", headers=tenant_a.headers)
        assert served.status_code == 200, served.text
        assert served.headers["RateLimit-Remaining"] == "1"
        assert (await client.get("/brands", headers=tenant_a.headers)).status_code == 200
        assert_problem(await client.get("/brands", headers=tenant_a.headers), 429)


async def _brands(app: Litestar, tenant: Tenant) -> list[dict[str, str]]:
    async with _client(app, "192.0.2.44") as client:
        listed = await client.get("/brands", headers=tenant.headers)
    assert listed.status_code == 200, listed.text
    return list(listed.json()["items"])


def test_the_limits_are_documented(limited_app: Litestar) -> None:
    schema = limited_app.openapi_schema.to_schema()
    login = schema["paths"]["/auth/login"]["post"]["responses"]
    assert "Retry-After" in login["429"]["headers"]
    assert "RateLimit-Remaining" in login["201"]["headers"]
    assert "429" not in schema["paths"]["/health"]["get"]["responses"]
    brands = schema["paths"]["/brands"]["get"]["responses"]
    assert "Retry-After" in brands["429"]["headers"]


def test_the_document_names_429_on_every_route_that_counts(limited_app: Litestar) -> None:
    document = limited_app.openapi_schema.to_schema()
    counted = 0
    for route in limited_app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler) or not rate_limited(handler):
                continue
            item = document["paths"].get(route.path_format)
            if item is None:  # the document's own routes (/schema/...) are not in it
                continue
            for method in handler.http_methods - {"HEAD", "OPTIONS"}:
                responses = item[method.lower()]["responses"]
                assert "429" in responses, f"{method} {route.path_format}"
                counted += 1
    assert counted > 100


@pytest.mark.production_password_cost
async def test_password_hashing_leaves_the_event_loop_free(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    started = time.perf_counter()
    verify_password(PASSWORD, hash_password(PASSWORD))
    one_hash = (time.perf_counter() - started) / 2

    async def health_latency() -> float:
        """From when a request is due until it is answered: a blocked loop delays both."""
        due = time.perf_counter() + 0.005
        await asyncio.sleep(0.005)
        assert (await client.get("/health")).status_code == 200
        return time.perf_counter() - due

    done = asyncio.Event()

    async def probe() -> list[float]:
        latencies = []
        await asyncio.sleep(one_hash)  # the logins are under way
        deadline = time.perf_counter() + 6 * one_hash
        while time.perf_counter() < deadline:
            latencies.append(await health_latency())
        done.set()
        return latencies

    async def keep_logging_in() -> None:
        while not done.is_set():
            await client.post("/auth/login", json=_login(tenant_a.owner_email))

    results = await asyncio.gather(probe(), *(keep_logging_in() for _ in range(4)))
    latencies: list[float] = results[0]
    # On the loop, /health waited for whole hashes; off it, for little more than itself.
    assert statistics.median(latencies) < one_hash / 2, (latencies, one_hash)
