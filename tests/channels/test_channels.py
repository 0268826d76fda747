"""Connecting accounts end to end: our API, a strict OAuth 2.0 + PKCE server on loopback,
and the network's API behind it (tests/support/testnet.py). Nothing of ours is faked."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import text, update

from agency.channel.models import Channel, Connection, ConnectLink
from agency.channel.service import ChannelService
from agency.connector.errors import AuthExpired
from agency.kernel.db import utcnow
from agency.kernel.tenancy import Subject, bind_tenant
from tests.conftest import Tenant
from tests.helpers import assert_problem
from tests.support.connect_world import PUBLIC_URL, REDIRECT_URI, World
from tests.support.connect_world import testnet as testnet
from tests.support.connect_world import world as world
from tests.support.testnet import (
    CLIENT_ID,
    CLIENT_SECRET,
)


async def test_authorization_url_has_state_pkce_and_the_exact_redirect_uri(world: World) -> None:
    started = await world.start(await world.brand())
    assert started["status"] == "pending"
    url = urlsplit(started["authorization_url"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{world.network_url}/authorize"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == REDIRECT_URI
    assert query["response_type"] == "code"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert query["state"].startswith("acs_")
    assert query["scope"] == "read write"


async def test_connecting_creates_a_healthy_channel_without_showing_tokens(world: World) -> None:
    brand_id = await world.brand()
    done = await world.connect(brand_id)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["status"] == "completed"
    assert len(body["channel_ids"]) == 1
    # The token exchange proved PKCE: the verifier went to the network, never to the user.
    exchange = world.network.token_requests[-1]
    assert exchange["grant_type"] == "authorization_code"
    assert len(exchange["code_verifier"]) >= 43
    assert "client_secret" not in exchange  # client_secret_basic: in the header only

    listed = await world.client.get(f"/brands/{brand_id}/channels", headers=world.tenant.headers)
    [channel] = listed.json()["items"]
    assert channel["network"] == "testnet"
    assert channel["account_id"] == "acct-1"
    assert channel["name"] == "Maison Dupont"
    assert channel["health"] == "ok"
    assert channel["refreshable"] is True
    assert channel["scopes"] == ["read", "write"]
    for token in world.network.access_tokens | world.network.refresh_tokens:
        assert token not in listed.text
        assert token not in done.text
    # At rest the tokens are ciphertext.
    row = await world.channel_row(channel["id"])
    assert row.credentials is not None and row.credentials.startswith("v0:")
    for token in world.network.access_tokens | world.network.refresh_tokens:
        assert token not in row.credentials


async def test_connecting_the_same_account_again_refreshes_the_channel(world: World) -> None:
    brand_id = await world.brand()
    first = (await world.connect(brand_id)).json()["channel_ids"]
    second = (await world.connect(brand_id)).json()["channel_ids"]
    assert first == second


async def test_several_accounts_are_offered_for_picking(world: World) -> None:
    world.network.accounts = [
        {"id": "page-1", "name": "Dupont Paris", "kind": "page"},
        {"id": "page-2", "name": "Dupont Lyon", "kind": "page"},
    ]
    brand_id = await world.brand()
    done = (await world.connect(brand_id)).json()
    assert done["status"] == "awaiting_selection"
    assert [a["account_id"] for a in done["accounts"]] == ["page-1", "page-2"]
    assert done["channel_ids"] == []

    wrong = await world.client.post(
        f"/connections/{done['id']}/select",
        json={"account_ids": ["page-9"]},
        headers=world.tenant.headers,
    )
    assert_problem(wrong, 422, "page-9")
    picked = await world.client.post(
        f"/connections/{done['id']}/select",
        json={"account_ids": ["page-2"]},
        headers=world.tenant.headers,
    )
    assert picked.status_code == 200, picked.text
    assert picked.json()["status"] == "completed"
    listed = await world.client.get(f"/brands/{brand_id}/channels", headers=world.tenant.headers)
    assert [c["account_id"] for c in listed.json()["items"]] == ["page-2"]


# -- bad states, codes and provider errors: 400, nothing stored -----------------------------------


async def _channel_count(world: World) -> int:
    async with world.runtime.session() as session:
        await bind_tenant(session, world.tenant.agency_id)
        return int((await session.execute(text("SELECT count(*) FROM channels"))).scalar_one())


@pytest.mark.parametrize(
    "state",
    ["junk", "acs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.bm90LWEtcmVhbC1zZWNyZXQtYXQtYWxs"],
)
async def test_an_unknown_state_is_refused(world: World, state: str) -> None:
    response = await world.client.get(f"/oauth/callback/testnet?state={state}&code=abc")
    assert_problem(response, 400, "authorization")
    assert await _channel_count(world) == 0


async def test_a_tampered_or_foreign_state_is_refused(world: World, tenant_b: Tenant) -> None:
    started = await world.start(await world.brand())
    callback = await world.consent(started["authorization_url"])
    state = parse_qs(urlsplit(callback).query)["state"][0]
    tampered = state[:-4] + ("AAAA" if not state.endswith("AAAA") else "BBBB")
    response = await world.client.get(f"/oauth/callback/testnet?state={tampered}&code=x")
    assert_problem(response, 400)
    # The state names agency A; another network's callback does not accept it either.
    other = await world.client.get(f"/oauth/callback/x?state={state}&code=x")
    assert_problem(other, 400)
    assert await _channel_count(world) == 0


async def test_a_state_is_good_once(world: World) -> None:
    started = await world.start(await world.brand())
    callback = await world.consent(started["authorization_url"])
    assert (await world.client.get(callback)).status_code == 200
    again = await world.client.get(callback)
    assert_problem(again, 400, "already used")


async def test_an_expired_state_is_refused(world: World) -> None:
    started = await world.start(await world.brand())
    callback = await world.consent(started["authorization_url"])
    async with world.runtime.session() as session:
        await bind_tenant(session, world.tenant.agency_id)
        await session.execute(update(Connection).values(expires_at=utcnow() - timedelta(seconds=1)))
        await session.commit()
    response = await world.client.get(callback)
    assert_problem(response, 400, "expired")
    assert await _channel_count(world) == 0


async def test_a_reused_code_is_refused_and_recorded(world: World) -> None:
    brand_id = await world.brand()
    first = await world.start(brand_id)
    first_callback = await world.consent(first["authorization_url"])
    assert (await world.client.get(first_callback)).status_code == 200
    code = parse_qs(urlsplit(first_callback).query)["code"][0]
    # An attacker replays the code with a fresh state of their own.
    second = await world.start(brand_id)
    state = parse_qs(urlsplit(second["authorization_url"]).query)["state"][0]
    response = await world.client.get(f"/oauth/callback/testnet?state={state}&code={code}")
    assert_problem(response, 400, "already used")
    connection = await world.client.get(
        f"/connections/{second['id']}", headers=world.tenant.headers
    )
    assert connection.json()["status"] == "failed"
    assert "invalid_grant" in connection.json()["error"]


async def test_a_provider_error_is_shown_and_nothing_is_connected(world: World) -> None:
    world.network.deny_next = "access_denied"
    started = await world.start(await world.brand())
    response = await world.client.get(await world.consent(started["authorization_url"]))
    assert_problem(response, 400, "access_denied")
    connection = await world.client.get(
        f"/connections/{started['id']}", headers=world.tenant.headers
    )
    assert connection.json()["status"] == "failed"
    assert "The user said no." in connection.json()["error"]
    assert await _channel_count(world) == 0


async def test_the_code_goes_back_with_the_redirect_uri_it_was_issued_for(world: World) -> None:
    started = await world.start(await world.brand())
    callback = await world.consent(started["authorization_url"])
    # A release moves the callback while this user is at the network: RFC 6749 (4.1.3) wants
    # the exchange to name the redirect URI of the authorization, not the new one.
    moved = f"{PUBLIC_URL}/v2/oauth/callback/testnet"
    world.runtime.settings.connectors.networks["testnet"].redirect_uri = moved
    done = await world.client.get(callback)
    assert done.status_code == 200, done.text
    assert world.network.token_requests[-1]["redirect_uri"] == REDIRECT_URI


async def test_an_unreachable_token_endpoint_is_a_502(world: World) -> None:
    world.network.token_endpoint_down = True
    started = await world.start(await world.brand())
    response = await world.client.get(await world.consent(started["authorization_url"]))
    assert_problem(response, 502)
    assert await _channel_count(world) == 0


async def test_unknown_or_unconfigured_networks_are_refused(world: World) -> None:
    brand_id = await world.brand()
    response = await world.client.post(
        f"/brands/{brand_id}/connections", json={"network": "myspace"}, headers=world.tenant.headers
    )
    body = assert_problem(response, 422, "testnet")
    assert body["errors"][0]["field"] == "network"


# -- refresh ---------------------------------------------------------------------------------------


async def _connected_channel(world: World) -> Channel:
    done = (await world.connect(await world.brand())).json()
    return await world.channel_row(done["channel_ids"][0])


async def _call_publish(world: World, channel: Channel) -> str:
    from agency.connector import Post

    subject = Subject(agency_id=world.tenant.agency_id, kind="system")
    async with world.runtime.session() as session:
        await bind_tenant(session, world.tenant.agency_id)
        fresh = await session.get(Channel, channel.id)
        assert fresh is not None
        service = ChannelService(session, subject, world.runtime)
        try:
            published = await service.call(fresh, lambda c: c.publish(Post(text="Bonjour")))
        finally:
            await session.commit()
        return published.post_id


async def test_an_expired_token_is_refreshed_once_and_the_call_retried(world: World) -> None:
    channel = await _connected_channel(world)
    world.network.expire_access_tokens()
    assert await _call_publish(world, channel) == "post-1"
    row = await world.channel_row(str(channel.id))
    assert row.health == "ok"
    assert row.last_refreshed_at is not None
    assert [r["grant_type"] for r in world.network.token_requests][-1] == "refresh_token"


async def test_two_calls_meeting_an_expired_token_at_once_refresh_it_once(world: World) -> None:
    """Two jobs, side by side, on one channel whose token just died: one renews it, the other
    waits for the channel's row, finds the new token and uses it (the network refuses a
    refresh token spent twice: a second refresh would cost the channel its access)."""
    channel = await _connected_channel(world)
    world.network.expire_access_tokens()
    asked = len(world.network.token_requests)
    published = await asyncio.gather(_call_publish(world, channel), _call_publish(world, channel))
    assert sorted(published) == ["post-1", "post-2"]
    assert len(world.network.token_requests) == asked + 1
    row = await world.channel_row(str(channel.id))
    assert row.health == "ok" and row.version == 2


async def test_a_failed_refresh_asks_for_a_reconnect(world: World) -> None:
    channel = await _connected_channel(world)
    world.network.expire_access_tokens()
    world.network.revoke_refresh_tokens()
    with pytest.raises(AuthExpired):
        await _call_publish(world, channel)
    got = await world.client.get(f"/channels/{channel.id}", headers=world.tenant.headers)
    assert got.json()["health"] == "needs_reconnect"
    assert "revoked" in got.json()["last_error"]
    events = await world.client.get(
        "/audit-events", params={"action": "channel.needs_reconnect"}, headers=world.tenant.headers
    )
    assert len(events.json()["items"]) == 1
    # Nothing more is tried until someone reconnects.
    with pytest.raises(AuthExpired):
        await _call_publish(world, channel)
    assert world.network.posts == []


async def test_refresh_through_the_api(world: World) -> None:
    channel = await _connected_channel(world)
    ok = await world.client.post(f"/channels/{channel.id}/refresh", headers=world.tenant.headers)
    assert ok.status_code == 200, ok.text
    assert ok.json()["health"] == "ok"
    world.network.revoke_refresh_tokens()
    refused = await world.client.post(
        f"/channels/{channel.id}/refresh", headers=world.tenant.headers
    )
    assert refused.status_code == 200
    assert refused.json()["health"] == "needs_reconnect"


async def test_the_sweep_refreshes_tokens_before_they_expire(world: World) -> None:
    from agency.channel.tasks import refresh_channel

    channel = await _connected_channel(world)
    async with world.runtime.session() as session:
        await bind_tenant(session, world.tenant.agency_id)
        await session.execute(
            update(Channel).values(token_expires_at=utcnow() + timedelta(minutes=5))
        )
        await session.commit()
    before = (await world.channel_row(str(channel.id))).credentials
    async with world.runtime.session() as session:
        await refresh_channel(session, world.runtime, str(world.tenant.agency_id), str(channel.id))
        await session.commit()
    row = await world.channel_row(str(channel.id))
    assert row.credentials != before
    assert row.token_expires_at is not None and row.token_expires_at > utcnow() + timedelta(
        minutes=50
    )


async def test_disconnecting_forgets_the_tokens(world: World) -> None:
    channel = await _connected_channel(world)
    response = await world.client.post(
        f"/channels/{channel.id}/disconnect", headers=world.tenant.headers
    )
    assert response.json()["health"] == "revoked"
    # TestNet declares no REVOKE: the tokens stay alive there, and the user is told so.
    assert response.json()["last_error"] == (
        "Disconnected by the agency; TestNet does not let apps give their access back: "
        "remove it in the account's settings."
    )
    assert (await world.channel_row(str(channel.id))).credentials is None


async def _retired_channel(world: World) -> Channel:
    """A connected channel whose network's connector was uninstalled since."""
    channel = await _connected_channel(world)
    async with world.runtime.session() as session:
        await bind_tenant(session, world.tenant.agency_id)
        row = await session.get(Channel, channel.id)
        assert row is not None
        row.network = "retired"
        await session.commit()
    return channel


async def test_a_channel_of_a_network_no_longer_installed_can_still_be_disconnected(
    world: World,
) -> None:
    channel = await _retired_channel(world)
    response = await world.client.post(
        f"/channels/{channel.id}/disconnect", headers=world.tenant.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["health"] == "revoked"
    assert (await world.channel_row(str(channel.id))).credentials is None


async def test_refreshing_a_channel_of_a_network_no_longer_installed_says_so(
    world: World,
) -> None:
    channel = await _retired_channel(world)
    response = await world.client.post(
        f"/channels/{channel.id}/refresh", headers=world.tenant.headers
    )
    assert_problem(response, 400, "retired connector is not installed")


# -- connect links ---------------------------------------------------------------------------------


async def test_a_connect_link_lets_the_client_grant_access_without_a_login(world: World) -> None:
    brand_id = await world.brand()
    created = await world.client.post(
        f"/brands/{brand_id}/connect-links",
        json={"network": "testnet", "expires_in_hours": 48, "note": "for the client's admin"},
        headers=world.tenant.headers,
    )
    assert created.status_code == 201, created.text
    url = created.json()["url"]
    assert url.startswith(f"{PUBLIC_URL}/connect/acl_")
    listed = await world.client.get(
        f"/brands/{brand_id}/connect-links", headers=world.tenant.headers
    )
    assert url.rsplit("/", 1)[1] not in listed.text  # shown once

    followed = await world.client.get(urlsplit(url).path)  # no credentials at all
    assert followed.status_code == 303, followed.text
    done = await world.client.get(await world.consent(followed.headers["location"]))
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    links = await world.client.get(
        f"/brands/{brand_id}/connect-links", headers=world.tenant.headers
    )
    assert links.json()["items"][0]["used_at"] is not None

    revoked = await world.client.post(
        f"/connect-links/{created.json()['id']}/revoke", headers=world.tenant.headers
    )
    assert revoked.json()["revoked_at"] is not None
    assert_problem(await world.client.get(urlsplit(url).path), 404)


# -- secrets never leave -------------------------------------------------------------------------


async def test_no_token_in_any_response_or_log_line(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="agency")  # the app sets it to INFO
    bodies = []
    brand_id = await world.brand()
    done = await world.connect(brand_id)
    bodies.append(done.text)
    channel_id = done.json()["channel_ids"][0]
    world.network.expire_access_tokens()
    for path in (f"/brands/{brand_id}/channels", f"/channels/{channel_id}", "/audit-events"):
        bodies.append((await world.client.get(path, headers=world.tenant.headers)).text)
    bodies.append(
        (
            await world.client.post(f"/channels/{channel_id}/refresh", headers=world.tenant.headers)
        ).text
    )
    secrets = [*world.network.access_tokens, *world.network.refresh_tokens, CLIENT_SECRET]
    secrets += world.network.server.issued
    assert secrets
    logged = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    for secret in secrets:
        assert all(secret not in body for body in bodies), secret
        assert secret not in logged, secret


# -- landing: back to the frontend with the outcome, or a page in the brand's language ---------

FRONTEND = "https://app.agence-durand.example"
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


async def _allow_frontend(world: World) -> None:
    agency = await world.client.get("/agency", headers=world.tenant.headers)
    allowed = await world.client.patch(
        "/agency",
        json={"login_origins": [FRONTEND]},
        headers={**world.tenant.headers, "If-Match": agency.headers["etag"]},
    )
    assert allowed.status_code == 200, allowed.text


def _outcome(response: httpx.Response) -> tuple[str, dict[str, list[str]]]:
    assert response.status_code == 303, response.text
    location = urlsplit(response.headers["location"])
    return f"{location.scheme}://{location.netloc}{location.path}", parse_qs(location.query)


async def test_the_browser_goes_back_to_the_frontend_with_the_outcome(world: World) -> None:
    await _allow_frontend(world)
    brand_id = await world.brand()
    started = await world.client.post(
        f"/brands/{brand_id}/connections",
        json={"network": "testnet", "return_url": f"{FRONTEND}/channels/done?tab=new"},
        headers=world.tenant.headers,
    )
    assert started.status_code == 201, started.text
    assert started.json()["return_url"] == f"{FRONTEND}/channels/done?tab=new"
    back = await world.client.get(await world.consent(started.json()["authorization_url"]))
    where, outcome = _outcome(back)
    assert where == f"{FRONTEND}/channels/done"
    assert outcome["tab"] == ["new"]  # what the frontend put there stays
    assert outcome["connection_id"] == [started.json()["id"]]
    assert outcome["status"] == ["completed"]
    connection = await world.client.get(
        f"/connections/{started.json()['id']}", headers=world.tenant.headers
    )
    assert outcome["channel_id"] == connection.json()["channel_ids"]
    assert "problem" not in outcome
    # The state is spent: coming back again says so, to the same place.
    again = await world.client.get(await world.consent(started.json()["authorization_url"]))
    _, outcome = _outcome(again)
    assert outcome["problem"] == ["/problems/invalid-state"]


async def test_a_refusal_goes_back_with_the_problem_type(world: World) -> None:
    await _allow_frontend(world)
    world.network.deny_next = "access_denied"
    started = await world.client.post(
        f"/brands/{await world.brand()}/connections",
        json={"network": "testnet", "return_url": f"{FRONTEND}/done"},
        headers=world.tenant.headers,
    )
    back = await world.client.get(await world.consent(started.json()["authorization_url"]))
    _, outcome = _outcome(back)
    assert outcome["status"] == ["failed"]
    assert outcome["problem"] == ["/problems/authorization-failed"]
    assert "channel_id" not in outcome
    page = await world.client.get(outcome["problem"][0])
    assert page.status_code == 200


@pytest.mark.parametrize(
    "elsewhere",
    [
        "https://evil.example/steal",
        "https://app.agence-durand.example.evil.example/",
        "https://user@app.agence-durand.example/",
        "http://app.agence-durand.example/",  # another scheme is another origin
    ],
)
async def test_a_return_url_elsewhere_is_refused(world: World, elsewhere: str) -> None:
    await _allow_frontend(world)
    brand_id = await world.brand()
    for path, body in [
        (f"/brands/{brand_id}/connections", {"network": "testnet", "return_url": elsewhere}),
        (f"/brands/{brand_id}/connect-links", {"network": "testnet", "return_url": elsewhere}),
    ]:
        refused = await world.client.post(path, json=body, headers=world.tenant.headers)
        error = assert_problem(refused, 422)["errors"][0]
        assert (error["pointer"], error["code"]) == ("/return_url", "origin_not_allowed")
    for scripted in ("javascript:alert(1)", "//evil.example/x", "/relative"):
        refused = await world.client.post(
            f"/brands/{brand_id}/connections",
            json={"network": "testnet", "return_url": scripted},
            headers=world.tenant.headers,
        )
        assert assert_problem(refused, 422)["errors"][0]["code"] == "pattern"


async def _link(world: World, brand_id: str, **fields: str) -> str:
    created = await world.client.post(
        f"/brands/{brand_id}/connect-links",
        json={"network": "testnet", **fields},
        headers=world.tenant.headers,
    )
    assert created.status_code == 201, created.text
    return urlsplit(created.json()["url"]).path


async def test_a_connect_link_sends_the_client_back_to_its_return_url(world: World) -> None:
    await _allow_frontend(world)
    link = await _link(world, await world.brand(), return_url=f"{FRONTEND}/merci")
    followed = await world.client.get(link, headers=BROWSER)
    assert followed.status_code == 303
    back = await world.client.get(await world.consent(followed.headers["location"]))
    where, outcome = _outcome(back)
    assert where == f"{FRONTEND}/merci" and outcome["status"] == ["completed"]


async def test_without_a_frontend_the_client_reads_a_page_in_the_brands_language(
    world: World,
) -> None:
    brand_id = await world.brand()  # a French brand
    link = await _link(world, brand_id)
    followed = await world.client.get(link, headers=BROWSER)
    done = await world.client.get(
        await world.consent(followed.headers["location"]), headers=BROWSER
    )
    assert done.status_code == 200, done.text
    assert done.headers["content-type"].startswith("text/html")
    assert '<html lang="fr">' in done.text
    assert "Compte connecté" in done.text and "Maison Dupont" in done.text
    assert "Vous pouvez fermer cette page." in done.text
    # An API client following the same kind of link still gets JSON.
    followed = await world.client.get(await _link(world, brand_id))
    api = await world.client.get(await world.consent(followed.headers["location"]))
    assert api.json()["status"] == "completed"


async def test_a_refusal_and_a_dead_link_are_said_on_the_page(world: World) -> None:
    brand_id = await world.brand()
    world.network.deny_next = "access_denied"
    followed = await world.client.get(await _link(world, brand_id), headers=BROWSER)
    refused = await world.client.get(
        await world.consent(followed.headers["location"]), headers=BROWSER
    )
    assert refused.status_code == 400
    assert "Non connecté" in refused.text and "access_denied" in refused.text
    expired = await _link(world, brand_id)
    async with world.runtime.session() as session:
        await bind_tenant(session, world.tenant.agency_id)
        await session.execute(
            update(ConnectLink).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    dead = await world.client.get(expired, headers=BROWSER)
    assert dead.status_code == 404
    assert "Ce lien de connexion n'existe pas" in dead.text.replace("&#39;", "'")
    assert_problem(await world.client.get(expired), 404)  # an API client: the problem


async def test_a_dead_link_with_a_frontend_goes_back_with_the_problem(world: World) -> None:
    await _allow_frontend(world)
    brand_id = await world.brand()
    link = await _link(world, brand_id, return_url=f"{FRONTEND}/merci")
    async with world.runtime.session() as session:
        await bind_tenant(session, world.tenant.agency_id)
        await session.execute(update(ConnectLink).values(revoked_at=utcnow()))
        await session.commit()
    where, outcome = _outcome(await world.client.get(link, headers=BROWSER))
    assert where == f"{FRONTEND}/merci"
    assert outcome == {"problem": ["/problems/not-found"]}
    # A token that is not the link's own never learns where the link would go.
    forged = link[:-4] + "AAAA"
    assert (await world.client.get(forged, headers=BROWSER)).status_code == 404
