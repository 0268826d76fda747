"""The connect tests' world: our API, a strict OAuth 2.0 + PKCE server on loopback and the
network's API behind it (tests/support/testnet.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from agency.app import create_app
from agency.channel.models import Channel
from agency.config import ConnectorSettings, NetworkSettings, ServerSettings
from agency.connector.registry import Registry
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import bind_tenant
from tests.conftest import LiveServer, PostgresServer, RedisServer, Tenant, make_settings
from tests.helpers import create_brand
from tests.support.connect_flow import consent, start_connection
from tests.support.testnet import (
    CLIENT_ID,
    CLIENT_SECRET,
    TestNetConnector,
    TestNetState,
    build_testnet,
)

PUBLIC_URL = "http://agency.test"
REDIRECT_URI = f"{PUBLIC_URL}/oauth/callback/testnet"


@dataclass
class World:
    client: httpx.AsyncClient
    runtime: Runtime
    network: TestNetState
    network_url: str
    tenant: Tenant

    async def brand(self, slug: str = "dupont") -> str:
        return await create_brand(self.client, self.tenant, slug)

    async def start(self, brand_id: str) -> dict[str, Any]:
        return await start_connection(self.client, self.tenant, brand_id, "testnet")

    async def consent(self, authorization_url: str) -> str:
        return await consent(authorization_url, REDIRECT_URI)

    async def connect(self, brand_id: str) -> httpx.Response:
        started = await self.start(brand_id)
        return await self.client.get(await self.consent(started["authorization_url"]))

    async def channel_row(self, channel_id: str) -> Channel:
        async with self.runtime.session() as session:
            await bind_tenant(session, self.tenant.agency_id)
            channel = await session.get(Channel, uuid.UUID(channel_id))
            assert channel is not None
            return channel


@pytest.fixture
def testnet() -> Iterator[tuple[TestNetState, str]]:
    state = TestNetState(redirect_uris={REDIRECT_URI})
    with LiveServer(build_testnet(state)) as server:
        yield state, server.url


@pytest.fixture
async def world(
    pg: PostgresServer,
    redis_server: RedisServer,
    runtime: Runtime,
    testnet: tuple[TestNetState, str],
    tenant_a: Tenant,
) -> AsyncIterator[World]:
    state, url = testnet
    settings = make_settings(pg, redis_server.url)
    settings.server = ServerSettings(public_url=PUBLIC_URL)
    settings.connectors = ConnectorSettings(
        networks={
            "testnet": NetworkSettings(
                client_id=CLIENT_ID,
                client_secret=CLIENT_SECRET,  # type: ignore[arg-type]
                base_url=url,
                authorize_url=f"{url}/authorize",
                token_url=f"{url}/token",
            )
        }
    )
    test_runtime = Runtime(settings, runtime.broker, connectors=Registry([TestNetConnector]))
    app = create_app(settings, test_runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
        yield World(client, test_runtime, state, url, tenant_a)
    await test_runtime.dispose_current_loop()


# -- the happy path --------------------------------------------------------------------------------
