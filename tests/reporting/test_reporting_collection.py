"""Collection through the scheduler and a real Dramatiq worker, against a stand-in network.

Posts published through the pipeline (written here as it leaves them) are followed by the
``reporting.follow`` job, their pulls claimed by the scheduler at the rhythm's points, read
by the worker through the channel's connector, and recorded: figures, gaps when the channel
needs reconnecting, nonsense kept out, Retry-After honoured (the network's, and the one
publishing met). The networks' own metrics endpoints (X, Pinterest) are read through Prism
in tests/connectors/test_metrics_through_worker.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dramatiq
import httpx
import pytest
from sqlalchemy import select

from agency.audit.models import AuditEvent
from agency.channel.models import Channel
from agency.config import ConnectorSettings, NetworkSettings, ReportingSettings
from agency.connector.registry import Registry
from agency.kernel.db import utcnow
from agency.kernel.runtime import Runtime
from agency.kernel.scheduling import ensure_periodic_rows, tick
from agency.kernel.tenancy import bind_system, bind_tenant
from agency.publication.models import Attempt, Variant
from agency.reporting.models import ChannelMetric, MetricSnapshot, PostMetric
from agency.reporting.pulling import Puller
from agency.reporting.tasks import follow_new
from tests.conftest import LiveServer, PostgresServer, RedisServer, Tenant, make_settings
from tests.helpers import create_brand, insert_channel
from tests.support.metricnet import TOKEN, MetricNetConnector, MetricNetState, build_metricnet
from tests.support.metrics import published_variant
from tests.support.publishing import running_worker, serving

PARIS = "Europe/Paris"


@dataclass
class Desk:
    client: httpx.AsyncClient
    runtime: Runtime
    net: MetricNetState
    tenant: Tenant

    async def brand(self, slug: str = "maison") -> str:
        return await create_brand(self.client, self.tenant, slug, timezone=PARIS)

    async def channel(self, brand_id: str, **fields: Any) -> str:
        return await insert_channel(
            self.runtime, self.tenant.agency_id, brand_id, "metricnet", TOKEN, **fields
        )

    async def post(self, brand_id: str, channel_id: str, hours_ago: float, post_id: str) -> str:
        _, variant = await published_variant(
            self.runtime,
            self.tenant.agency_id,
            brand_id,
            channel_id,
            "metricnet",
            utcnow() - timedelta(hours=hours_ago),
            post_id=post_id,
        )
        return str(variant.id)

    async def rows(self, model: Any, *where: Any) -> list[Any]:
        async with self.runtime.session() as session:
            await bind_system(session)
            found = await session.execute(select(model).where(*where))
            return list(found.scalars().all())

    async def until(self, done: Callable[[], Any], within: float = 20) -> None:
        """Scheduler ticks (the worker runs what they enqueue) until ``done()`` is true."""
        await ensure_periodic_rows(self.runtime)  # as the scheduler does when it starts
        deadline = asyncio.get_running_loop().time() + within
        while not await done():
            assert asyncio.get_running_loop().time() < deadline, "timed out"
            await tick(self.runtime)
            await asyncio.sleep(0.1)

    async def settle(self, ticks: int = 5) -> None:
        """A few ticks with time for the worker, when nothing is expected to happen."""
        await ensure_periodic_rows(self.runtime)
        for _ in range(ticks):
            await tick(self.runtime)
            await asyncio.sleep(0.2)

    async def report_today(self, brand_id: str) -> dict[str, Any]:
        today = utcnow().astimezone(ZoneInfo(PARIS)).date().isoformat()
        response = await self.client.get(
            f"/brands/{brand_id}/report",
            params={"start": today, "end": today},
            headers=self.tenant.headers,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def metricnet() -> Iterator[tuple[MetricNetState, str]]:
    state = MetricNetState()
    with LiveServer(build_metricnet(state)) as server:
        yield state, server.url


@pytest.fixture
async def desk(
    pg: PostgresServer,
    redis_server: RedisServer,
    runtime: Runtime,
    metricnet: tuple[MetricNetState, str],
    tenant_a: Tenant,
) -> AsyncIterator[Desk]:
    state, url = metricnet
    settings = make_settings(pg, redis_server.url)
    settings.connectors = ConnectorSettings(
        networks={"metricnet": NetworkSettings(base_url=url)}, http_timeout_seconds=2.0
    )
    settings.reporting = ReportingSettings(post_rhythm_hours=[1, 6, 24], lease_seconds=2.0)
    async with serving(runtime, settings, Registry([MetricNetConnector])) as (client, served):
        yield Desk(client, served, state, tenant_a)


@pytest.fixture
def worker(desk: Desk) -> Iterator[dramatiq.Worker]:
    with running_worker(desk.runtime) as consumer:
        yield consumer


async def test_published_posts_are_read_at_their_rhythm(desk: Desk, worker: Any) -> None:
    brand = await desk.brand()
    channel = await desk.channel(brand)
    desk.net.posts["p1"] = {
        "views": 500,
        "reach": 300,
        "likes": 20,
        "replies": 4,
        "boosts": 1,
        "clicks": 7,
    }
    desk.net.followers = 1200
    variant = await desk.post(brand, channel, hours_ago=7, post_id="p1")

    async def read() -> bool:
        found = await desk.rows(PostMetric, PostMetric.id == uuid.UUID(variant))
        accounts = await desk.rows(MetricSnapshot, MetricSnapshot.kind == "account")
        return bool(found and found[0].last_due_at and accounts)

    await desk.until(read)
    (post,) = await desk.rows(PostMetric)
    # Seven hours after publishing, the 1 h and 6 h points are past: one pull, as the 6 h one.
    assert post.last_due_at == post.published_at + timedelta(hours=6)
    assert post.step == 2 and post.next_pull_at == post.published_at + timedelta(hours=24)
    (snapshot,) = await desk.rows(MetricSnapshot, MetricSnapshot.kind == "post")
    assert (snapshot.outcome, snapshot.impressions, snapshot.reach) == ("ok", 500, 300)
    assert (snapshot.reactions, snapshot.comments, snapshot.shares) == (20, 4, 1)
    assert snapshot.saves is None and snapshot.video_views is None  # not given: not 0
    assert snapshot.raw["boosts"] == 1
    calls = len(desk.net.calls)
    await desk.settle()
    assert len(desk.net.calls) == calls, "nothing else is due"

    report = await desk.report_today(brand)
    assert report["current"]["followers"] == 1200
    # The post was published yesterday or today (Paris): it counts on its own day.
    day = post.day.isoformat()
    response = await desk.client.get(
        f"/brands/{brand}/report", params={"start": day, "end": day}, headers=desk.tenant.headers
    )
    figures = response.json()["current"]
    assert (figures["posts"], figures["reach"], figures["interactions"]) == (1, 300, 25)
    assert figures["link_clicks"] == 7 and figures["saves"] is None


async def test_a_rate_limited_channel_waits_out_retry_after(desk: Desk, worker: Any) -> None:
    brand = await desk.brand()
    channel = await desk.channel(brand)
    desk.net.plan.extend(["429:120", "429:120"])
    await desk.post(brand, channel, hours_ago=2, post_id="p1")

    async def blocked() -> bool:
        states = await desk.rows(ChannelMetric)
        return bool(states and states[0].blocked_until)

    await desk.until(blocked)
    (state,) = await desk.rows(ChannelMetric)
    assert state.blocked_until > utcnow() + timedelta(seconds=100)
    calls = len(desk.net.calls)
    await desk.settle()
    assert len(desk.net.calls) == calls, "no call before Retry-After is over"
    assert await desk.rows(MetricSnapshot, MetricSnapshot.outcome == "ok") == []
    (post,) = await desk.rows(PostMetric)
    assert post.next_pull_at is not None and post.next_pull_at <= utcnow()  # still due


async def test_publishings_retry_after_holds_pulls_back(desk: Desk, worker: Any) -> None:
    brand = await desk.brand()
    channel = await desk.channel(brand)
    variant = await desk.post(brand, channel, hours_ago=2, post_id="p1")
    (row,) = await desk.rows(Variant, Variant.id == uuid.UUID(variant))
    async with desk.runtime.session() as session:
        await bind_tenant(session, desk.tenant.agency_id)
        session.add(
            Attempt(
                agency_id=desk.tenant.agency_id,
                variant_id=row.id,
                publication_id=row.publication_id,
                number=1,
                kind="publish",
                outcome="rate_limited",
                started_at=utcnow(),
                retry_after_seconds=600,
            )
        )
        await session.commit()
    await desk.settle(8)
    assert desk.net.calls == []
    assert await desk.rows(MetricSnapshot) == []


async def test_a_channel_needing_reconnection_is_a_gap_not_zero(desk: Desk, worker: Any) -> None:
    brand = await desk.brand()
    channel = await desk.channel(brand)
    desk.net.plan.extend(["401"] * 4)
    await desk.post(brand, channel, hours_ago=2, post_id="p1")

    async def gaps() -> bool:
        found = await desk.rows(MetricSnapshot, MetricSnapshot.outcome == "gap")
        return len(found) == 2

    await desk.until(gaps)
    kinds = sorted(s.kind for s in await desk.rows(MetricSnapshot))
    assert kinds == ["account", "post"]
    report = await desk.report_today(brand)
    (gap,) = report["gaps"]
    assert gap["channel_id"] == channel and "reconnect" in gap["reason"]
    assert report["current"]["followers"] is None and report["current"]["gap_days"] == 1
    (state,) = (
        (await desk.client.get(f"/channels/{channel}", headers=desk.tenant.headers)).json()[
            "health"
        ],
    )
    assert state == "needs_reconnect"
    # Reconnecting is the agency's move; until then the next pulls are gaps, made without a call.
    calls = len(desk.net.calls)
    await desk.settle()
    assert len(desk.net.calls) == calls


async def test_a_nonsense_answer_is_recorded_and_kept_out(desk: Desk, worker: Any) -> None:
    brand = await desk.brand()
    channel = await desk.channel(brand)
    desk.net.post_plan.append("nonsense")
    variant = await desk.post(brand, channel, hours_ago=2, post_id="p1")

    async def answered() -> bool:
        return bool(await desk.rows(MetricSnapshot, MetricSnapshot.kind == "post"))

    await desk.until(answered)
    (snapshot,) = await desk.rows(MetricSnapshot, MetricSnapshot.kind == "post")
    assert snapshot.outcome == "rejected" and snapshot.raw == {"likes": -3, "views": 10}
    (post,) = await desk.rows(PostMetric, PostMetric.id == uuid.UUID(variant))
    assert post.impressions is None and post.reactions is None


async def test_the_same_pull_sent_twice_is_one_snapshot(desk: Desk, worker: Any) -> None:
    brand = await desk.brand()
    channel = await desk.channel(brand)
    desk.net.posts["p1"] = {"views": 10, "likes": 1}
    variant = await desk.post(brand, channel, hours_ago=2, post_id="p1")
    async with desk.runtime.session() as session:
        await follow_new(session, desk.runtime, utcnow())
        await session.commit()
    actor = desk.runtime.broker.get_actor("reporting.pull_posts")
    for _ in range(3):  # a message delivered three times, by two workers side by side
        actor.send(str(desk.tenant.agency_id), [variant])

    async def read() -> bool:
        return bool(await desk.rows(MetricSnapshot, MetricSnapshot.kind == "post"))

    await desk.until(read)
    await asyncio.sleep(1)
    assert len(await desk.rows(MetricSnapshot, MetricSnapshot.kind == "post")) == 1
    (post,) = await desk.rows(PostMetric)
    day = post.day.isoformat()
    figures = (
        await desk.client.get(
            f"/brands/{brand}/report",
            params={"start": day, "end": day},
            headers=desk.tenant.headers,
        )
    ).json()["current"]
    assert figures["impressions"] == 10 and figures["reactions"] == 1


async def test_two_pulls_meeting_a_refused_token_mark_the_channel_once(desk: Desk) -> None:
    """A post pull and an account pull of the same agency, side by side, both meet the
    channel whose token the network refuses: each ends well, the channel needs reconnecting
    once (one audit event), and the other channel's figures of each job are saved."""
    brand = await desk.brand()
    dead = await insert_channel(
        desk.runtime, desk.tenant.agency_id, brand, "metricnet", "refused-token"
    )
    live = await desk.channel(brand)
    desk.net.posts["live"] = {"views": 7}
    await desk.post(brand, dead, hours_ago=2, post_id="dead")
    await desk.post(brand, live, hours_ago=2, post_id="live")
    async with desk.runtime.session() as session:
        await follow_new(session, desk.runtime, utcnow())
        await session.commit()
    posts = [p.id for p in await desk.rows(PostMetric)]
    accounts = [uuid.UUID(dead), uuid.UUID(live)]

    async def pulling(pull: Callable[[Puller], Any]) -> None:
        async with desk.runtime.session() as session:
            await pull(Puller(session, desk.tenant.agency_id, desk.runtime))

    await asyncio.gather(
        pulling(lambda puller: puller.pull_posts(posts)),
        pulling(lambda puller: puller.pull_accounts(accounts)),
    )
    (channel,) = await desk.rows(Channel, Channel.id == uuid.UUID(dead))
    assert channel.health == "needs_reconnect" and channel.version == 2
    marked = await desk.rows(AuditEvent, AuditEvent.action == "channel.needs_reconnect")
    assert len(marked) == 1
    answered = await desk.rows(MetricSnapshot, MetricSnapshot.channel_id == uuid.UUID(live))
    assert sorted((s.kind, s.outcome) for s in answered) == [
        ("account", "ok"),
        ("post", "ok"),
    ]
    gaps = await desk.rows(MetricSnapshot, MetricSnapshot.channel_id == uuid.UUID(dead))
    assert sorted((s.kind, s.outcome) for s in gaps) == [("account", "gap"), ("post", "gap")]
