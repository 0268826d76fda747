"""Connecting real connectors through our API, against their local peers.

X and Pinterest: our strict OAuth server (tests/support/testnet.py) stands in for their
authorization servers, whose token endpoints their descriptions do not include; the account
is then read from Prism serving the network's own description. Bluesky: a real PDS, app
password. Mastodon: the app registration on the server, the authorization URL and the code
exchange, against Prism serving Mastodon's description.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from agency.app import create_app
from agency.config import ConnectorSettings, NetworkSettings, OutboundSettings, ServerSettings
from agency.connector.registry import installed
from agency.kernel.runtime import Runtime
from tests.conftest import (
    PostgresServer,
    RedisServer,
    Tenant,
    count_rows,
    make_settings,
)
from tests.helpers import assert_problem, create_brand
from tests.support.connect_flow import (
    PUBLIC_URL,
    connect_with_app_password,
    connect_with_consent,
    consent,
    start_connection,
)
from tests.support.pds import PdsServer
from tests.support.testnet import CLIENT_ID, CLIENT_SECRET, TestNetState, network_settings

pytestmark = pytest.mark.slow


@pytest.fixture
async def api(
    pg: PostgresServer,
    redis_server: RedisServer,
    runtime: Runtime,
    prism_x: str,
    prism_pinterest: str,
    pds_peer: PdsServer,
    oauth_server: tuple[TestNetState, str],
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    _, oauth_url = oauth_server
    settings = make_settings(pg, redis_server.url)
    settings.server = ServerSettings(public_url=PUBLIC_URL)
    settings.connectors = ConnectorSettings(
        networks={
            "x": network_settings(oauth_url, prism_x),
            "pinterest": network_settings(oauth_url, prism_pinterest, revocation=False),
            "bluesky": NetworkSettings(base_url=pds_peer.url),
        }
    )
    test_runtime = Runtime(settings, runtime.broker, connectors=installed())
    transport = httpx.ASGITransport(app=create_app(settings, test_runtime))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
        yield client, test_runtime
    await test_runtime.dispose_current_loop()


def allow(runtime: Runtime, url: str) -> None:
    """The operator allows this loopback peer by name (before the first call to it)."""
    runtime.settings.outbound = OutboundSettings(allowed_hosts=[urlsplit(url).netloc])


async def _channels(client: httpx.AsyncClient, tenant: Tenant, brand_id: str) -> list[Any]:
    listed = await client.get(f"/brands/{brand_id}/channels", headers=tenant.headers)
    items: list[Any] = listed.json()["items"]
    return items


async def test_networks_lists_every_installed_connector(
    api: tuple[httpx.AsyncClient, Runtime], tenant_a: Tenant
) -> None:
    client, _ = api
    response = await client.get("/networks", headers=tenant_a.headers)
    assert response.status_code == 200
    networks = {n["network"]: n for n in response.json()["items"]}
    assert set(networks) >= {
        "x", "facebook", "instagram", "linkedin", "youtube", "pinterest", "tiktok",
        "threads", "bluesky", "mastodon",
    }  # fmt: skip
    assert networks["x"]["configured"] is True
    assert networks["facebook"]["configured"] is False  # no client id on this server
    assert networks["bluesky"]["auth_kind"] == "app_password"
    assert networks["x"]["limits"]["text_counting"] == "x-weighted"
    assert networks["instagram"]["limits"]["max_posts_per_day"] == 50
    assert networks["bluesky"]["limits"]["max_comment_length"] == 300
    assert "reply" in networks["bluesky"]["capabilities"]  # first comments as a thread


async def test_x_account_connects_through_the_api(
    api: tuple[httpx.AsyncClient, Runtime], tenant_a: Tenant
) -> None:
    client, _ = api
    brand_id = await create_brand(client, tenant_a)
    started = await start_connection(client, tenant_a, brand_id, "x")
    callback = await consent(started["authorization_url"], f"{PUBLIC_URL}/oauth/callback/x")
    assert parse_qs(urlsplit(callback).query)["state"][0].startswith("acs_")
    done = await client.get(callback)
    assert done.status_code == 200, done.text
    [channel] = await _channels(client, tenant_a, brand_id)
    assert channel["network"] == "x"
    assert channel["health"] == "ok"
    assert channel["account_id"]  # read from GET /2/users/me, as X describes it


async def _connect_x(client: httpx.AsyncClient, tenant: Tenant) -> str:
    channel_id, _ = await connect_with_consent(
        client, tenant, await create_brand(client, tenant), "x"
    )
    return channel_id


async def _disconnect(client: httpx.AsyncClient, tenant: Tenant, channel_id: str) -> httpx.Response:
    done = await client.post(f"/channels/{channel_id}/disconnect", headers=tenant.headers)
    assert done.status_code == 200, done.text
    assert done.json()["health"] == "revoked"  # whatever the network said
    return done


async def _disconnected(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    events = await client.get(
        "/audit-events", params={"action": "channel.disconnected"}, headers=tenant.headers
    )
    [event] = events.json()["items"]
    changes: dict[str, Any] = event["changes"]
    return changes


async def test_disconnecting_x_revokes_the_grant_at_x(
    api: tuple[httpx.AsyncClient, Runtime],
    tenant_a: Tenant,
    oauth_server: tuple[TestNetState, str],
) -> None:
    network, oauth_url = oauth_server
    channel_id = await _connect_x(api[0], tenant_a)
    [refresh_token], [access_token] = network.refresh_tokens, network.access_tokens
    done = await _disconnect(api[0], tenant_a, channel_id)
    assert done.json()["last_error"] == "Disconnected by the agency; access revoked at X."
    assert network.revoked == [refresh_token]  # the grant, and its access token with it
    assert not network.access_tokens and not network.refresh_tokens
    # The revoked refresh token no longer renews anything at X's token endpoint.
    async with httpx.AsyncClient() as outside:
        refused = await outside.post(
            f"{oauth_url}/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            auth=(CLIENT_ID, CLIENT_SECRET),
        )
    assert refused.json()["error"] == "invalid_grant"
    assert await _disconnected(api[0], tenant_a) == {"network": "x", "revoked_at_network": True}
    for token in (refresh_token, access_token):
        assert token not in done.text


async def test_disconnecting_x_while_x_is_down_still_forgets_the_tokens(
    api: tuple[httpx.AsyncClient, Runtime],
    tenant_a: Tenant,
    oauth_server: tuple[TestNetState, str],
) -> None:
    client, _ = api
    network, _ = oauth_server
    channel_id = await _connect_x(client, tenant_a)
    network.revoke_endpoint_down = True
    done = await _disconnect(client, tenant_a, channel_id)
    assert done.json()["last_error"] == (
        "Disconnected by the agency; X could not be reached (the revocation endpoint answered "
        "HTTP 503): remove the app in the account's settings."
    )
    assert network.revoked == [] and network.refresh_tokens  # still alive at X
    assert await _disconnected(client, tenant_a) == {"network": "x", "revoked_at_network": False}
    again = await _disconnect(client, tenant_a, channel_id)
    assert again.json()["last_error"] == done.json()["last_error"]  # nothing left to revoke


async def test_pinterest_account_connects_through_the_api(
    api: tuple[httpx.AsyncClient, Runtime], tenant_a: Tenant
) -> None:
    client, _ = api
    brand_id = await create_brand(client, tenant_a)
    started = await start_connection(client, tenant_a, brand_id, "pinterest")
    callback = await consent(started["authorization_url"], f"{PUBLIC_URL}/oauth/callback/pinterest")
    done = await client.get(callback)
    assert done.status_code == 200, done.text
    [channel] = await _channels(client, tenant_a, brand_id)
    assert channel["network"] == "pinterest"
    assert channel["health"] == "ok"
    assert channel["account_id"]  # read from GET /v5/user_account, as Pinterest describes it


async def test_bluesky_account_connects_with_an_app_password(
    api: tuple[httpx.AsyncClient, Runtime], tenant_a: Tenant, pds_peer: PdsServer
) -> None:
    client, runtime = api
    account = pds_peer.create_account(f"api{uuid.uuid4().hex[:6]}")
    brand_id = await create_brand(client, tenant_a)
    wrong = await connect_with_app_password(
        client, tenant_a, brand_id, account.handle, "abcd-efgh-ijkl-mnop"
    )
    assert_problem(wrong, 400)
    assert await count_rows(runtime, "channels") == 0
    done = await connect_with_app_password(
        client, tenant_a, brand_id, account.handle, account.app_password
    )
    assert done.status_code == 201, done.text
    assert done.json()["status"] == "completed"
    assert account.app_password not in done.text
    [channel] = await _channels(client, tenant_a, brand_id)
    assert channel["network"] == "bluesky"
    assert channel["account_id"] == account.did
    assert channel["handle"] == account.handle
    assert channel["refreshable"] is True


async def test_mastodon_registers_an_app_on_the_server_once(
    api: tuple[httpx.AsyncClient, Runtime], tenant_a: Tenant, prism_mastodon: str
) -> None:
    client, runtime = api
    allow(runtime, prism_mastodon)
    brand_id = await create_brand(client, tenant_a)
    urls = []
    for _ in range(2):
        started = await client.post(
            f"/brands/{brand_id}/connections",
            json={"network": "mastodon", "server_url": prism_mastodon},
            headers=tenant_a.headers,
        )
        assert started.status_code == 201, started.text
        urls.append(urlsplit(started.json()["authorization_url"]))
    assert await count_rows(runtime, "oauth_apps") == 1
    for url in urls:
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        assert f"{url.scheme}://{url.netloc}{url.path}" == f"{prism_mastodon}/oauth/authorize"
        assert query["redirect_uri"] == f"{PUBLIC_URL}/oauth/callback/mastodon"
        assert query["code_challenge_method"] == "S256"
    missing = await client.post(
        f"/brands/{brand_id}/connections",
        json={"network": "mastodon", "server_url": "ftp://nowhere"},
        headers=tenant_a.headers,
    )
    assert_problem(missing, 422, "server_url")


async def test_mastodon_account_connects_through_the_api(
    api: tuple[httpx.AsyncClient, Runtime], tenant_a: Tenant, prism_mastodon: str
) -> None:
    client, runtime = api
    allow(runtime, prism_mastodon)
    brand_id = await create_brand(client, tenant_a)
    started = await client.post(
        f"/brands/{brand_id}/connections",
        json={"network": "mastodon", "server_url": prism_mastodon},
        headers=tenant_a.headers,
    )
    assert started.status_code == 201, started.text
    state = parse_qs(urlsplit(started.json()["authorization_url"]).query)["state"][0]
    # The server's consent page is not in its API description: the user's agreement is the
    # code it hands back. Prism refuses (422) any token request its description does not allow.
    done = await client.get("/oauth/callback/mastodon", params={"code": "granted", "state": state})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    [channel] = await _channels(client, tenant_a, brand_id)
    assert channel["network"] == "mastodon"
    assert channel["health"] == "ok"
    assert channel["account_id"]  # read from GET /api/v1/accounts/verify_credentials
    assert channel["refreshable"] is False  # Mastodon's tokens do not expire
    reused = await client.get(
        "/oauth/callback/mastodon", params={"code": "granted", "state": state}
    )
    assert_problem(reused, 400, "state")
    assert await count_rows(runtime, "channels") == 1
