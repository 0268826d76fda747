"""Connecting Facebook Pages, Instagram, Threads, LinkedIn, TikTok and YouTube through our API.

Each network is its fake (tests/support/fakes), served on loopback with its consent page and
token endpoint: the browser follows the authorization URL, the network sends it back to our
callback, and our API exchanges the code, reads the accounts and creates the channels, all
over real HTTP. Nothing of ours is faked.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from agency.app import create_app
from agency.channel.models import Channel
from agency.channel.service import ChannelService
from agency.config import ConnectorSettings, ServerSettings
from agency.connector import Connector
from agency.connector.registry import installed
from agency.kernel.db import utcnow
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import Subject, bind_tenant
from tests.conftest import LiveServer, Tenant, make_settings
from tests.helpers import assert_problem, create_brand
from tests.support.connect_flow import (
    PUBLIC_URL,
    callback_uri,
    connect_with_consent,
    consent,
    start_connection,
)
from tests.support.fakes.asgi import FakeServer
from tests.support.oauth_peers import OAUTH_NETWORKS, OAuthPeer, oauth_peer
from tests.support.servers import PostgresServer, RedisServer

pytestmark = pytest.mark.slow

T = TypeVar("T")


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@dataclass
class World:
    client: httpx.AsyncClient
    runtime: Runtime
    peer: OAuthPeer
    tenant: Tenant

    @property
    def headers(self) -> dict[str, str]:
        return self.tenant.headers

    async def brand(self) -> str:
        return await create_brand(self.client, self.tenant)

    async def start(self, brand_id: str) -> dict[str, Any]:
        return await start_connection(self.client, self.tenant, brand_id, self.peer.network)

    async def consent(self, authorization_url: str) -> str:
        return await consent(authorization_url, callback_uri(self.peer.network))

    async def select(self, connection_id: str, account_ids: list[str]) -> httpx.Response:
        return await self.client.post(
            f"/connections/{connection_id}/select",
            json={"account_ids": account_ids},
            headers=self.headers,
        )

    async def connect(self, brand_id: str) -> tuple[str, list[httpx.Response]]:
        """Connect the peer's account; the channel id, and every answer on the way."""
        return await connect_with_consent(
            self.client, self.tenant, brand_id, self.peer.network, self.peer.pick
        )

    async def channel(self, channel_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/channels/{channel_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def refresh(self, channel_id: str) -> httpx.Response:
        return await self.client.post(f"/channels/{channel_id}/refresh", headers=self.headers)

    async def call(self, channel_id: str, operation: Callable[[Connector], Awaitable[T]]) -> T:
        """What the product does with a channel: a network call with its stored token."""
        subject = Subject(agency_id=self.tenant.agency_id, kind="system")
        async with self.runtime.session() as session:
            await bind_tenant(session, self.tenant.agency_id)
            channel = await session.get(Channel, uuid.UUID(channel_id))
            assert channel is not None
            try:
                return await ChannelService(session, subject, self.runtime).call(channel, operation)
            finally:
                await session.commit()


class Socket:
    """The network's address for a whole module; each test plugs in a fresh fake."""

    def __init__(self) -> None:
        self.fake: FakeServer | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.fake is not None:
            await self.fake(scope, receive, send)


@pytest.fixture(scope="module", params=OAUTH_NETWORKS)
def network(request: pytest.FixtureRequest) -> Iterator[tuple[str, Socket, str]]:
    socket = Socket()
    with LiveServer(socket) as server:
        yield request.param, socket, server.url


@pytest.fixture(scope="module")
async def api(
    pg: PostgresServer,
    redis_server: RedisServer,
    runtime: Runtime,
    network: tuple[str, Socket, str],
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    """Our app, configured with the network's app (its id and secret are the fakes')."""
    name, _, url = network
    settings = make_settings(pg, redis_server.url)
    settings.server = ServerSettings(public_url=PUBLIC_URL)
    template = oauth_peer(name, callback_uri(name))
    template.url = url
    settings.connectors = ConnectorSettings(networks={name: template.settings()})
    test_runtime = Runtime(settings, runtime.broker, connectors=installed())
    transport = httpx.ASGITransport(app=create_app(settings, test_runtime))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
        yield client, test_runtime
    await test_runtime.dispose_current_loop()


@pytest.fixture
def peer(network: tuple[str, Socket, str]) -> Iterator[OAuthPeer]:
    name, socket, url = network
    peer = oauth_peer(name, callback_uri(name))
    peer.url, socket.fake = url, peer.fake
    yield peer
    socket.fake = None


@pytest.fixture
def world(api: tuple[httpx.AsyncClient, Runtime], peer: OAuthPeer, tenant_a: Tenant) -> World:
    client, runtime = api
    return World(client, runtime, peer, tenant_a)


def lasts(expires_at: str | None, lifetime: timedelta | None) -> bool:
    if lifetime is None or expires_at is None:
        return expires_at is None and lifetime is None
    left = datetime.fromisoformat(expires_at) - utcnow()
    return abs(left - lifetime) < timedelta(minutes=5)


# -- connecting ----------------------------------------------------------------------------------


async def test_an_account_connects_through_the_api(world: World, peer: OAuthPeer) -> None:
    brand_id = await world.brand()
    started = await world.start(brand_id)
    url, asked = urlsplit(started["authorization_url"]), query_of(started["authorization_url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == peer.url + peer.authorize_path
    assert asked[peer.oauth.client_param] == peer.oauth.client_id
    assert asked["redirect_uri"] == callback_uri(peer.network)
    assert asked["state"].startswith("acs_")
    assert ("code_challenge" in asked) is peer.pkce

    done = await world.client.get(await world.consent(started["authorization_url"]))
    assert done.status_code == 200, done.text
    if peer.offered:  # the user picks among the accounts the grant reaches
        assert done.json()["status"] == "awaiting_selection"
        assert [a["account_id"] for a in done.json()["accounts"]] == peer.offered
        assert done.json()["channel_ids"] == []
        done = await world.select(done.json()["id"], [peer.account["account_id"]])
        assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    [channel_id] = done.json()["channel_ids"]

    listed = await world.client.get(f"/brands/{brand_id}/channels", headers=world.headers)
    assert [c["id"] for c in listed.json()["items"]] == [channel_id]  # only the one picked
    channel = await world.channel(channel_id)
    assert {key: channel[key] for key in peer.account} == peer.account
    assert (channel["network"], channel["health"], channel["refreshable"]) == (
        peer.network,
        "ok",
        True,
    )
    assert lasts(channel["token_expires_at"], peer.lifetime), channel["token_expires_at"]

    # The token requests, as each network documents them.
    requests = peer.token_requests()
    assert [r.get("grant_type") for r in requests] == list(peer.exchange)
    exchange = requests[0]
    assert exchange[peer.oauth.client_param] == peer.oauth.client_id
    assert exchange["client_secret"] == peer.oauth.client_secret
    assert exchange["redirect_uri"] == callback_uri(peer.network)
    assert ("code_verifier" in exchange) is peer.pkce
    # The token kept is one the network's API takes.
    assert (await world.call(channel_id, lambda c: c.account_metrics())).raw


async def test_a_refusal_on_the_consent_page_is_recorded(world: World, peer: OAuthPeer) -> None:
    peer.oauth.deny_next = True
    started = await world.start(await world.brand())
    response = await world.client.get(await world.consent(started["authorization_url"]))
    assert_problem(response, 400, peer.oauth.denial["error"])
    connection = await world.client.get(f"/connections/{started['id']}", headers=world.headers)
    assert connection.json()["status"] == "failed"
    assert peer.oauth.denial.get("error_description", "") in connection.json()["error"]
    assert peer.token_requests() == []


async def test_a_replayed_code_is_refused_in_the_networks_words(
    world: World, peer: OAuthPeer
) -> None:
    brand_id = await world.brand()
    first = await world.start(brand_id)
    callback = await world.consent(first["authorization_url"])
    assert (await world.client.get(callback)).status_code == 200
    # Someone replays the code with a state of their own.
    second = await world.start(brand_id)
    state = query_of(second["authorization_url"])["state"]
    code = query_of(callback)["code"]
    response = await world.client.get(
        f"/oauth/callback/{peer.network}", params={"state": state, "code": code}
    )
    assert_problem(response, 400, "refused the grant")
    connection = await world.client.get(f"/connections/{second['id']}", headers=world.headers)
    assert connection.json()["status"] == "failed"
    assert "{" not in connection.json()["error"]  # the network's words, not its JSON
    assert connection.json()["channel_ids"] == []


# -- after connecting ----------------------------------------------------------------------------


async def test_refresh_through_the_api_until_the_network_refuses(
    world: World, peer: OAuthPeer
) -> None:
    channel_id, _ = await world.connect(await world.brand())
    asked_before = len(peer.token_requests())
    renewed = await world.refresh(channel_id)
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["health"] == "ok"
    assert renewed.json()["last_refreshed_at"] is not None
    assert [r.get("grant_type") for r in peer.token_requests()[asked_before:]] == [
        peer.refresh_grant
    ]
    assert (await world.call(channel_id, lambda c: c.account_metrics())).raw

    peer.refuse_refresh()
    refused = await world.refresh(channel_id)
    assert refused.status_code == 200, refused.text
    assert refused.json()["health"] == "needs_reconnect"
    assert refused.json()["last_error"]
    assert (await world.channel(channel_id))["health"] == "needs_reconnect"
    events = await world.client.get(
        "/audit-events", params={"action": "channel.needs_reconnect"}, headers=world.headers
    )
    assert len(events.json()["items"]) == 1


async def test_disconnecting_gives_the_access_back_where_the_network_lets_it(
    world: World, peer: OAuthPeer
) -> None:
    channel_id, _ = await world.connect(await world.brand())
    display = world.runtime.connectors[peer.network].display_name
    issued = peer.secrets()
    done = await world.client.post(f"/channels/{channel_id}/disconnect", headers=world.headers)
    assert done.status_code == 200, done.text
    assert done.json()["health"] == "revoked"
    revocations = [r.form() for r in peer.fake.requests if r.path == peer.revoke_path]
    events = await world.client.get(
        "/audit-events", params={"action": "channel.disconnected"}, headers=world.headers
    )
    [event] = events.json()["items"]
    if peer.revoke_path:  # TikTok: the user access token, with the app's key and secret
        assert (
            done.json()["last_error"] == f"Disconnected by the agency; access revoked at {display}."
        )
        [form] = revocations
        assert form[peer.oauth.client_param] == peer.oauth.client_id
        assert form["client_secret"] == peer.oauth.client_secret
        assert form["token"] in issued
        assert event["changes"]["revoked_at_network"] is True
    else:  # Meta, Threads, LinkedIn, Google: nothing that ends this grant alone
        assert done.json()["last_error"] == (
            f"Disconnected by the agency; {display} does not let apps give their access "
            "back: remove it in the account's settings."
        )
        assert event["changes"] == {"network": peer.network, "revoked_at_network": None}
    assert (await world.channel(channel_id))["health"] == "revoked"
    for secret in issued:
        assert secret not in done.text


async def test_no_token_in_any_answer_or_log_line(
    world: World, peer: OAuthPeer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="agency")  # the app sets it to INFO
    brand_id = await world.brand()
    channel_id, answers = await world.connect(brand_id)
    connection_id = answers[0].json()["id"]
    answers.append(await world.refresh(channel_id))
    peer.refuse_refresh()
    answers.append(await world.refresh(channel_id))
    for path in (
        f"/brands/{brand_id}/channels",
        f"/channels/{channel_id}",
        f"/connections/{connection_id}",
        "/audit-events",
    ):
        answers.append(await world.client.get(path, headers=world.headers))
    secrets = peer.secrets()
    assert len(secrets) > 2  # the app's secret, and tokens issued on the way
    logged = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    for secret in secrets:
        assert all(secret not in answer.text for answer in answers), secret
        assert secret not in logged, secret
