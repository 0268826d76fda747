"""The publishing world of the tests: the API serving this test's networks (the stand-in
network of tests/support/stubnet.py on loopback), a real Dramatiq worker, and the steps a
test takes through the API (a brand, a channel, a draft, its schedule, the scheduler's ticks
until it has gone out). Fixtures: ``stubnet``, ``world``, ``worker``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import dramatiq
import httpx
import pytest
from pydantic import SecretStr

from agency.config import ConnectorSettings, MediaSettings, NetworkSettings, PublishingSettings
from agency.connector.registry import Registry
from agency.kernel.runtime import Runtime
from tests.conftest import LiveServer, PostgresServer, RedisServer, Tenant, make_settings
from tests.helpers import create_brand, insert_channel
from tests.support.publishing import make_due, running_worker, schedule, serving, soon, until
from tests.support.stubnet import (
    CLIENT_ID,
    CLIENT_SECRET,
    TOKEN,
    QuotaNetConnector,
    StubNetConnector,
    StubNetState,
    build_stubnet,
)


@dataclass
class World:
    client: httpx.AsyncClient
    runtime: Runtime
    net: StubNetState
    tenant: Tenant

    @property
    def headers(self) -> dict[str, str]:
        return self.tenant.headers

    async def brand(self, slug: str = "maison", **extra: Any) -> str:
        return await create_brand(self.client, self.tenant, slug, name="Maison", **extra)

    async def channel(self, brand_id: str, network: str = "stubnet", **fields: Any) -> str:
        return await insert_channel(
            self.runtime, self.tenant.agency_id, brand_id, network, TOKEN, **fields
        )

    async def draft(self, brand_id: str, *variants: dict[str, Any], **extra: Any) -> dict[str, Any]:
        body = {"title": "Launch", "variants": list(variants), **extra}
        response = await self.client.post(
            f"/brands/{brand_id}/publications", json=body, headers=self.headers
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def schedule(self, publication: dict[str, Any], at: datetime) -> httpx.Response:
        return await schedule(self.client, self.headers, publication, at)

    async def get(self, publication_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/publications/{publication_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def make_due(
        self, publication_id: str, seconds_ago: float = 1, at: datetime | None = None
    ) -> None:
        await make_due(self.runtime, publication_id, seconds_ago, at)

    async def until(
        self,
        publication_id: str,
        done: Callable[[dict[str, Any]], bool],
        within: float = 20,
        scheduler: bool = True,
    ) -> dict[str, Any]:
        """Run the scheduler (ticks) until the publication satisfies ``done``."""
        return await until(self.runtime, lambda: self.get(publication_id), done, within, scheduler)


@pytest.fixture
def stubnet() -> Iterator[tuple[StubNetState, str]]:
    state = StubNetState()
    with LiveServer(build_stubnet(state)) as server:
        yield state, server.url
    state.released.set()


@pytest.fixture
async def world(
    pg: PostgresServer,
    redis_server: RedisServer,
    runtime: Runtime,
    stubnet: tuple[StubNetState, str],
    tenant_a: Tenant,
    tmp_path: Path,
) -> AsyncIterator[World]:
    state, url = stubnet
    settings = make_settings(pg, redis_server.url)
    settings.media = MediaSettings(storage="local", local_path=str(tmp_path / "media"))
    settings.connectors = ConnectorSettings(
        networks={
            "stubnet": NetworkSettings(
                base_url=url, client_id=CLIENT_ID, client_secret=SecretStr(CLIENT_SECRET)
            ),
            "quotanet": NetworkSettings(base_url=url),
        },
        http_timeout_seconds=2.0,
    )
    settings.publishing = PublishingSettings(
        lease_seconds=1.0, stale_attempt_seconds=3.0, max_attempts=3
    )
    registry = Registry([StubNetConnector, QuotaNetConnector])
    async with serving(runtime, settings, registry) as (client, test_runtime):
        yield World(client, test_runtime, state, tenant_a)


@pytest.fixture
def worker(world: World) -> Iterator[dramatiq.Worker]:
    with running_worker(world.runtime) as consumer:
        yield consumer


async def scheduled_post(world: World, text: str = "Bonjour !", **variant: Any) -> dict[str, Any]:
    brand = await world.brand()
    channel = await world.channel(brand)
    draft = await world.draft(brand, {"channel_id": channel, "text": text, **variant})
    response = await world.schedule(draft, soon())
    assert response.status_code == 200, response.text
    return dict(response.json())
