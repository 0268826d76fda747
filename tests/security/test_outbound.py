"""The outbound-address policy: calls to hosts a caller chose never reach our neighbours.

The policy on its own (refused forms, the check at connection time against a rebinding DNS,
redirects), then through the API: connecting Mastodon and Bluesky with a server URL, with
and without a connect link. Webhook targets are in test_webhooks.py.

Every connection any httpx client of this process opens is recorded (``connects``), and one
to a host that is not a loopback address fails there: nothing leaves this machine, and a
refusal is shown to happen before any connection.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
import pytest

from agency.config import OutboundSettings
from agency.kernel import outbound
from agency.kernel.outbound import OutboundPolicy, OutboundRefused, check_url
from agency.kernel.runtime import Runtime
from tests.conftest import LiveServer, Tenant, count_rows
from tests.helpers import assert_problem, create_brand
from tests.support.fakes.asgi import FakeServer, Request, Response, json_response

# Each a server URL a caller could send; each names (or resolves to) a neighbour of ours.
REFUSED = [
    ("https://127.0.0.1", "loopback"),
    ("https://10.0.0.1", "a private address"),
    ("https://172.16.0.1", "a private address"),
    ("https://192.168.1.1", "a private address"),
    ("https://169.254.169.254", "link-local"),
    ("https://[::1]", "loopback"),
    ("https://[::ffff:127.0.0.1]", "loopback"),
    ("https://[64:ff9b::7f00:1]", "loopback address inside an IPv6 address"),
    ("https://[2002:7f00:1::]", "loopback address inside an IPv6 address"),
    ("https://[::127.0.0.1]", "loopback address inside an IPv6 address"),
    ("https://localhost", "local name"),
    ("http://2130706433", "loopback"),
    ("https://017700000001", "loopback"),
    ("https://0x7f.1", "loopback"),
]
PUBLIC = "93.184.215.14"  # a public address, only ever handed to the recorder below
SECRET_WORDS = "internal-db-password-hunter2"


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, int]]]:
    """Every (address, port) an httpx client connects to; only loopback ones go through."""
    seen: list[tuple[str, int]] = []
    original = httpcore.AnyIOBackend.connect_tcp

    async def recording(
        self: httpcore.AnyIOBackend, host: str, port: int, *args: Any, **kwargs: Any
    ) -> httpcore.AsyncNetworkStream:
        seen.append((host, port))
        try:
            loopback = ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise httpcore.ConnectError("tests send nothing beyond loopback")
        return await original(self, host, port, *args, **kwargs)

    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", recording)
    yield seen


class Server(FakeServer):
    """A server a caller names: answers from ``script`` (by path), else 404."""

    def __init__(self) -> None:
        super().__init__()
        self.script: dict[str, Response] = {}

    def handle(self, request: Request) -> Response:
        return self.script.get(request.path, Response(404, SECRET_WORDS.encode()))


@pytest.fixture
def peer() -> Iterator[tuple[Server, str]]:
    server = Server()
    with LiveServer(server) as live:  # type: ignore[arg-type]
        yield server, live.url


@pytest.fixture
def neighbour() -> Iterator[tuple[Server, str]]:
    """A service next to ours, on loopback, that nobody allowed."""
    server = Server()
    with LiveServer(server) as live:  # type: ignore[arg-type]
        yield server, live.url


def netloc(url: str) -> str:
    return urlsplit(url).netloc


# -- the policy on its own ----------------------------------------------------------------------


@pytest.mark.parametrize(("url", "words"), REFUSED)
async def test_each_form_of_a_neighbour_is_refused_before_connecting(
    url: str, words: str, connects: list[tuple[str, int]]
) -> None:
    async with outbound.client(OutboundPolicy(allow_http=True)) as client:
        with pytest.raises(OutboundRefused) as refused:
            await client.get(f"{url}/latest/meta-data/")
    assert words in refused.value.reason
    assert connects == []


def test_what_the_url_says_is_checked_before_resolving() -> None:
    strict = OutboundPolicy()
    for url, reason in [
        ("http://example.com/", "must use https://"),
        ("ftp://example.com/", "is not an https:// URL with a host"),
        ("https://user:pw@example.com/", "must not carry credentials"),
        ("https://0177.0.0.1/", "is not a valid URL"),
        ("https://[64:ff9b:1::a00:1]/", "is a local-use NAT64 address"),
        ("https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "inside an IPv6 address"),
        ("https://100.64.1.1/", "is a shared (carrier-grade NAT) address"),
        ("https://[ff02::1]/", "is a multicast address"),
        ("https://0.0.0.0/", "is an unspecified address"),
        ("https://a.b.localhost/", "names this machine (a local name)"),
    ]:
        with pytest.raises(OutboundRefused) as refused:
            check_url(url, strict)
        assert reason in refused.value.reason, url
    # Public addresses, also when an IPv6 form carries a public IPv4 address (NAT64, 6to4).
    for url in ("https://8.8.8.8/", "https://[64:ff9b::808:808]/", "https://[2002:808:808::1]/"):
        assert check_url(url, strict).host
    named = OutboundPolicy(allowed_hosts=frozenset({"idp.internal", "127.0.0.1:8443"}))
    assert check_url("http://idp.internal/", named)  # named by the operator: http too
    assert check_url("https://127.0.0.1:8443/", named)
    with pytest.raises(OutboundRefused):
        check_url("https://127.0.0.1:8444/", named)  # another port of the same machine


async def test_every_address_is_checked_when_connecting_and_only_checked_ones_are_used(
    connects: list[tuple[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebinding DNS: public when first asked, loopback the next time, then both."""
    answers = [[PUBLIC], ["127.0.0.1"], [PUBLIC, "127.0.0.1"], ["::ffff:10.0.0.1"]]
    asked: list[str] = []
    loop = asyncio.get_running_loop()

    async def rebinding(host: str, port: int, **_: Any) -> list[Any]:
        asked.append(host)
        found = answers.pop(0)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in found]

    monkeypatch.setattr(loop, "getaddrinfo", rebinding)
    async with outbound.client(OutboundPolicy()) as client:
        with pytest.raises(httpx.ConnectError) as first:
            await client.get("https://rebind.example/")
        assert not isinstance(first.value, OutboundRefused)  # allowed: only the test net said no
        assert connects == [(PUBLIC, 443)]  # the address checked, not a second lookup
        for reason in (
            "a loopback address",
            "a loopback address",  # one bad address in the answer is enough
            "a private address inside an IPv6 address",
        ):
            with pytest.raises(OutboundRefused) as refused:
                await client.get("https://rebind.example/")
            assert refused.value.reason == f"resolves to {reason}"
            assert refused.value.url == "https://rebind.example"  # no resolved address
    assert asked == ["rebind.example"] * 4
    assert connects == [(PUBLIC, 443)]


async def test_a_slow_lookup_counts_in_the_connect_timeout(
    connects: list[tuple[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def silent(host: str, port: int, **_: Any) -> list[Any]:
        await asyncio.sleep(30)
        return []

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", silent)
    started = asyncio.get_running_loop().time()
    async with outbound.client(OutboundPolicy(), timeout=0.3) as client:
        with pytest.raises(httpx.ConnectTimeout):
            await client.get("https://slow-dns.example/")
    assert asyncio.get_running_loop().time() - started < 5
    assert connects == []


async def test_a_followed_redirect_is_checked_like_the_first_hop(
    peer: tuple[Server, str],
    neighbour: tuple[Server, str],
    connects: list[tuple[str, int]],
) -> None:
    server, url = peer
    inside, inside_url = neighbour
    server.script["/go"] = Response(302, b"", {"location": f"{inside_url}/admin"})
    server.script["/metadata"] = Response(
        302, b"", {"location": "http://169.254.169.254/latest/meta-data/"}
    )
    policy = OutboundPolicy(allowed_hosts=frozenset({netloc(url)}))
    async with outbound.client(policy, follow_redirects=True) as client:
        for path in ("/go", "/metadata"):
            with pytest.raises(OutboundRefused):
                await client.get(f"{url}{path}")
    async with outbound.client(policy) as client:  # ours: not followed at all
        answer = await client.get(f"{url}/go")
    assert answer.status_code == 302
    assert inside.requests == []
    assert {port for _, port in connects} == {urlsplit(url).port}


# -- through the API: connecting accounts ------------------------------------------------------


def use_outbound(runtime: Runtime, monkeypatch: pytest.MonkeyPatch, *allowed: str) -> None:
    monkeypatch.setattr(runtime.settings, "outbound", OutboundSettings(allowed_hosts=[*allowed]))


async def _connect(
    client: httpx.AsyncClient, tenant: Tenant, brand_id: str, **body: Any
) -> httpx.Response:
    return await client.post(f"/brands/{brand_id}/connections", json=body, headers=tenant.headers)


async def _link(client: httpx.AsyncClient, tenant: Tenant, brand_id: str, network: str) -> str:
    created = await client.post(
        f"/brands/{brand_id}/connect-links", json={"network": network}, headers=tenant.headers
    )
    assert created.status_code == 201, created.text
    return urlsplit(created.json()["url"]).path


def _assert_refused(response: httpx.Response, server_url: str, words: str) -> None:
    problem = assert_problem(response, 422, server_url, words)
    assert problem["errors"][0]["field"] == "server_url"


# Bluesky takes an app password at once; Mastodon registers our app on the server first.
ACCOUNTS = {
    "mastodon": {},
    "bluesky": {"identifier": "someone.bsky.social", "app_password": "abcd-efgh-ijkl-mnop"},
}


@pytest.mark.parametrize("network", ACCOUNTS)
@pytest.mark.parametrize(("server_url", "words"), REFUSED)
async def test_connecting_to_a_neighbour_is_refused(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Tenant,
    connects: list[tuple[str, int]],
    network: str,
    server_url: str,
    words: str,
) -> None:
    brand_id = await create_brand(client, tenant_a)
    answer = await _connect(
        client, tenant_a, brand_id, network=network, server_url=server_url, **ACCOUNTS[network]
    )
    _assert_refused(answer, server_url, words)
    assert connects == []
    assert await count_rows(runtime, "oauth_apps") == 0
    assert await count_rows(runtime, "channel_connections") == 0


@pytest.mark.parametrize(("server_url", "words"), REFUSED)
async def test_a_connect_link_cannot_point_us_at_a_neighbour(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Tenant,
    connects: list[tuple[str, int]],
    server_url: str,
    words: str,
) -> None:
    brand_id = await create_brand(client, tenant_a)
    for network, account in ACCOUNTS.items():
        path = await _link(client, tenant_a, brand_id, network)
        answer = await client.post(path, json={"server_url": server_url, **account})  # no login
        _assert_refused(answer, server_url, words)
    assert connects == []
    assert await count_rows(runtime, "channel_connections") == 0


@pytest.fixture
def chosen(
    runtime: Runtime, peer: tuple[Server, str], monkeypatch: pytest.MonkeyPatch
) -> tuple[Server, str]:
    """The peer as a Mastodon server the operator allows by name, registering our app."""
    server, url = peer
    use_outbound(runtime, monkeypatch, netloc(url))
    server.script["/api/v1/apps"] = json_response(200, {"client_id": "c", "client_secret": "s"})
    return server, url


async def test_a_connect_link_is_no_open_redirect(
    client: httpx.AsyncClient, tenant_a: Tenant, chosen: tuple[Server, str]
) -> None:
    """Even to a server we may call, a link's URL cannot choose where the 303 goes."""
    server, url = chosen
    path = await _link(client, tenant_a, await create_brand(client, tenant_a), "mastodon")
    followed = await client.get(path, params={"server_url": url})
    problem = assert_problem(followed, 422, "server_url", "POST")
    assert "location" not in followed.headers
    assert problem["errors"][0]["field"] == "server_url"
    assert server.requests == []
    # POSTed, the server is used and the authorization URL comes back as data.
    started = await client.post(path, json={"server_url": url})
    assert started.status_code == 201, started.text
    assert started.json()["authorization_url"].startswith(f"{url}/oauth/authorize?")


@pytest.mark.parametrize(
    ("answer", "status", "words"),
    [
        (json_response(500, {"error": SECRET_WORDS}), 502, "answered HTTP 500"),
        (json_response(422, {"error": SECRET_WORDS}), 400, "refused the request (HTTP 422)"),
        (Response(200, SECRET_WORDS.encode()), 502, "did not answer as the network's API does"),
        (json_response(200, [SECRET_WORDS]), 400, "did not register the app"),
        (Response(302, b"", {"location": "http://169.254.169.254/"}), 400, "(HTTP 302)"),
    ],
)
async def test_what_a_chosen_server_says_is_never_echoed(
    client: httpx.AsyncClient,
    tenant_a: Tenant,
    chosen: tuple[Server, str],
    connects: list[tuple[str, int]],
    answer: Response,
    status: int,
    words: str,
) -> None:
    server, url = chosen
    server.script["/api/v1/apps"] = answer
    brand_id = await create_brand(client, tenant_a)
    started = await _connect(client, tenant_a, brand_id, network="mastodon", server_url=url)
    assert_problem(started, status, url, words)
    assert SECRET_WORDS not in started.text
    assert [r.path for r in server.requests] == ["/api/v1/apps"]
    assert {port for _, port in connects} == {urlsplit(url).port}  # the redirect: not followed


async def test_a_refused_code_exchange_is_not_echoed_either(
    client: httpx.AsyncClient, tenant_a: Tenant, chosen: tuple[Server, str]
) -> None:
    server, url = chosen
    server.script["/oauth/token"] = json_response(
        400, {"error": "invalid_grant", "error_description": SECRET_WORDS}
    )
    brand_id = await create_brand(client, tenant_a)
    started = await _connect(client, tenant_a, brand_id, network="mastodon", server_url=url)
    assert started.status_code == 201, started.text
    state = dict(httpx.URL(started.json()["authorization_url"]).params)["state"]
    done = await client.get("/oauth/callback/mastodon", params={"code": "c0de", "state": state})
    assert_problem(done, 400, url, "refused the credentials (HTTP 400)")
    connection = await client.get(f"/connections/{started.json()['id']}", headers=tenant_a.headers)
    assert connection.json()["status"] == "failed"
    assert url in connection.json()["error"]
    for text in (done.text, connection.text):
        assert SECRET_WORDS not in text


# -- through the API: signing in with an identity provider an agency named -------------------


@pytest.mark.parametrize(
    ("issuer", "words"),
    [
        ("https://169.254.169.254", "link-local"),
        ("https://[64:ff9b::a00:1]", "a private address inside an IPv6 address"),
        ("https://localhost", "local name"),
    ],
)
async def test_an_identity_provider_next_to_us_is_never_called(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Tenant,
    connects: list[tuple[str, int]],
    issuer: str,
    words: str,
) -> None:
    frontend = "https://app.example"
    brand_id = await create_brand(client, tenant_a)
    await client.patch(
        "/agency", json={"login_origins": [frontend]}, headers={**tenant_a.headers, "If-Match": "*"}
    )
    provider = {"brand_id": brand_id, "name": "SSO", "issuer": issuer, "client_id": "x"}
    refused = await client.post("/login-providers", json=provider, headers=tenant_a.headers)
    body = assert_problem(refused, 422)
    assert [e["field"] for e in body["errors"]] == ["issuer"]
    assert words in body["errors"][0]["message"]
    # Saved while the operator allowed the host, then no longer allowed: sign-in still refuses.
    allowed = OutboundSettings(allowed_hosts=[str(urlsplit(issuer).hostname)])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runtime.settings, "outbound", allowed)
        created = await client.post("/login-providers", json=provider, headers=tenant_a.headers)
    assert created.status_code == 201, created.text
    started = await client.get(
        f"/auth/providers/{tenant_a.agency_id}/{created.json()['id']}/sign-in",
        params={"return_to": f"{frontend}/calendar"},
    )
    assert_problem(started, 502, netloc(issuer), words)
    assert connects == []
