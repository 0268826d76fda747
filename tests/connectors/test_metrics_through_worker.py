"""Metrics read through the real worker from Prism serving X's and Pinterest's descriptions.

Prism samples what a description leaves open: X's counters come back as -9007199254740991
(a nonsense answer, which collection rejects: see the last test) and Pinterest's analytics
as an empty object (every measure not available). So the answers are given examples here,
each a value its own schema accepts: X's shaped after its reference page for
``GET /2/tweets/:id`` with ``public_metrics``, Pinterest's the description's own examples.

A post published on the channel (written as the pipeline leaves it) is followed, its pull
claimed by the scheduler and made by a Dramatiq worker through the network's own connector,
built from the server's configuration (base URL, sealed token); the account's daily pull as
well. Every request is held against the network's published description (a violation is
listed in Prism's ``sl-violations`` and fails the test), and what is recorded is what the
connector maps from the network's answer: the same connector, called directly on the same
Prism, gives the same figures.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import dramatiq
import httpx
import pytest
from sqlalchemy import select

from agency.app import create_app
from agency.config import ConnectorSettings, NetworkSettings, ReportingSettings
from agency.connector import ConnectorContext, Credentials
from agency.connector.registry import Registry
from agency.kernel.db import utcnow
from agency.kernel.scheduling import ensure_periodic_rows, tick
from agency.kernel.tenancy import bind_system
from agency.reporting.measures import from_account, from_post
from agency.reporting.models import POST_MEASURES, ChannelDay, MetricSnapshot
from agency_connectors.pinterest import PinterestConnector
from agency_connectors.x import XConnector
from tests.conftest import PostgresServer, RedisServer, Tenant, make_settings
from tests.connectors.conftest import PRISM_START_SECONDS
from tests.helpers import insert_channel
from tests.support.metrics import published_variant
from tests.support.prism import (
    SHORT_IDENTIFIER_EXAMPLE,
    PrismServer,
    prism_client,
    request_violations,
)
from tests.support.publishing import jobs_see, running_worker
from tests.support.watched_runtime import WatchedRuntime

pytestmark = pytest.mark.slow

CONNECTORS = {"x": XConnector, "pinterest": PinterestConnector}
X_POST = {
    "data": {
        "id": "1346889436626259968",
        "text": "Nouvelle collection",
        "public_metrics": {
            "repost_count": 12,
            "reply_count": 5,
            "like_count": 140,
            "quote_count": 2,
            "bookmark_count": 9,
            "impression_count": 4810,
        },
    }
}
X_ME = {
    "data": {
        "id": "2244994945",
        "name": "Maison",
        "username": "maison",
        "public_metrics": {
            "followers_count": 5120,
            "following_count": 80,
            "post_count": 900,
            "listed_count": 4,
        },
    }
}
PIN_ANALYTICS = {
    "ALL": {
        "summary_metrics": {"IMPRESSION": 240, "OUTBOUND_CLICK": 20, "PIN_CLICK": 37, "SAVE": 20},
        "lifetime_metrics": {"TOTAL_COMMENTS": 10, "TOTAL_REACTIONS": 12},
    }
}
EXAMPLES = {
    "x": (
        ("get", "/2/tweets/{id}", "200", {"counted": X_POST}),
        ("get", "/2/users/me", "200", {"counted": X_ME}),
    ),
    "pinterest": (("get", "/pins/{pin_id}/analytics", "200", {"counted": PIN_ANALYTICS}),),
}
EXPECTED = {
    "x": {"impressions": 4810, "reactions": 140, "comments": 5, "shares": 12, "saves": 9},
    "pinterest": {"impressions": 240, "saves": 20, "link_clicks": 20},
}
FOLLOWERS = {"x": 5120, "pinterest": 10}
# An id each description's pattern accepts (X: digits; Pinterest: its own example).
POST_IDS = {"x": "1346889436626259968", "pinterest": SHORT_IDENTIFIER_EXAMPLE}


@pytest.fixture(scope="module", params=["x", "pinterest"])
def network(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """The network, and Prism serving its description with counted answers."""
    spec = {"x": "x-api-v2.json", "pinterest": "pinterest-v5.json"}[request.param]
    with PrismServer(spec, numeric_ids=True, answer_examples=EXAMPLES[request.param]) as server:
        server.start(timeout=PRISM_START_SECONDS)
        yield request.param, server.url


@pytest.fixture
async def desk(
    pg: PostgresServer,
    redis_server: RedisServer,
    runtime: WatchedRuntime,
    network: tuple[str, str],
) -> AsyncIterator[WatchedRuntime]:
    name, url = network
    settings = make_settings(pg, redis_server.url)
    settings.connectors = ConnectorSettings(networks={name: NetworkSettings(base_url=url)})
    settings.reporting = ReportingSettings(lease_seconds=5.0)
    watched = WatchedRuntime(settings, runtime.broker, connectors=Registry([CONNECTORS[name]]))
    try:
        with jobs_see(watched):
            yield watched
    finally:
        await watched.dispose_current_loop()


@pytest.fixture
def worker(desk: WatchedRuntime) -> Iterator[dramatiq.Worker]:
    with running_worker(desk) as consumer:
        yield consumer


async def snapshots(runtime: WatchedRuntime) -> list[MetricSnapshot]:
    async with runtime.session() as session:
        await bind_system(session)
        found = await session.execute(select(MetricSnapshot).order_by(MetricSnapshot.kind))
        return list(found.scalars().all())


async def collect(runtime: WatchedRuntime, tenant: Tenant, name: str) -> list[MetricSnapshot]:
    """A post published two hours ago on a new channel of ``name``, and the scheduler's ticks
    until its first pull and the account's are recorded: (account, post) snapshots."""
    transport = httpx.ASGITransport(app=create_app(runtime.settings, runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        body = {"name": "Maison", "slug": "maison", "timezone": "Europe/Paris"}
        brand = (await client.post("/brands", json=body, headers=tenant.headers)).json()["id"]
    channel = await insert_channel(runtime, tenant.agency_id, brand, name, "prism-token")
    await published_variant(
        runtime,
        tenant.agency_id,
        brand,
        channel,
        name,
        utcnow() - timedelta(hours=2),
        post_id=POST_IDS[name],
    )
    await ensure_periodic_rows(runtime)
    deadline = asyncio.get_running_loop().time() + 30
    while len(await snapshots(runtime)) < 2:
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await tick(runtime)
        await asyncio.sleep(0.2)
    found = await snapshots(runtime)
    assert [s.kind for s in found] == ["account", "post"]
    assert all(uuid.UUID(str(s.channel_id)) == uuid.UUID(channel) for s in found)
    assert [request_violations(a) for a in runtime.answers if request_violations(a)] == []
    return found


async def test_metrics_are_read_from_the_networks_description(
    desk: WatchedRuntime,
    worker: Any,
    tenant_a: Tenant,
    network: tuple[str, str],
) -> None:
    name, url = network
    account, post = await collect(desk, tenant_a, name)
    assert (account.outcome, post.outcome) == ("ok", "ok"), (account.note, post.note)
    assert {a.request.url.path for a in desk.answers} >= {
        "x": {f"/2/tweets/{POST_IDS['x']}", "/2/users/me"},
        "pinterest": {f"/pins/{POST_IDS['pinterest']}/analytics", "/user_account"},
    }[name]

    # The same connector on the same Prism: the figures recorded are the ones it maps.
    async with prism_client() as http:
        connector = CONNECTORS[name](
            ConnectorContext(http, url, Credentials(access_token="prism-token"))
        )
        expected_post = from_post(await connector.post_metrics(POST_IDS[name]))
        expected_account = from_account(await connector.account_metrics())
    recorded = {m: getattr(post, m) for m in POST_MEASURES}
    assert recorded == {m: expected_post.get(m) for m in POST_MEASURES}
    assert recorded == {m: EXPECTED[name].get(m) for m in POST_MEASURES}  # the rest: n/a
    assert account.followers == expected_account.get("followers") == FOLLOWERS[name]
    assert post.raw == expected_post.raw


async def test_sampled_nonsense_is_recorded_and_kept_out(
    pg: PostgresServer,
    redis_server: RedisServer,
    runtime: WatchedRuntime,
    prism_x: str,
    tenant_a: Tenant,
) -> None:
    """Prism's own sampling of X's counters (-9007199254740991): a network answering
    nonsense. Recorded as the network said it, rejected, nothing added to any rollup."""
    settings = make_settings(pg, redis_server.url)
    settings.connectors = ConnectorSettings(networks={"x": NetworkSettings(base_url=prism_x)})
    sampled = WatchedRuntime(settings, runtime.broker, connectors=Registry([XConnector]))
    try:
        with jobs_see(sampled), running_worker(sampled):
            account, post = await collect(sampled, tenant_a, "x")
        async with sampled.session() as session:
            await bind_system(session)
            days = (await session.execute(select(ChannelDay))).scalars().all()
    finally:
        await sampled.dispose_current_loop()
    assert (account.outcome, post.outcome) == ("rejected", "rejected")
    assert "negative" in (post.note or "") and post.raw["like_count"] < 0
    assert post.impressions is None and account.followers is None
    assert days and all(d.impressions is None and d.followers is None for d in days)
