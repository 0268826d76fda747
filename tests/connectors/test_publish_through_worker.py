"""An account connected through our API, then a post published through the real worker.

The other tests check the pieces apart: connecting (test_connect_through_api.py,
test_connect_oauth_networks.py), each connector against its peer, and the pipeline against a
stand-in network (tests/test_publishing.py). Here the channel the connect flow made goes
through the scheduler's claim and a Dramatiq worker to the network's connector, as built
from the server's configuration (base URL, client id, OAuth endpoints, sealed credentials,
Mastodon's server), with the Post built from the variant (options, link, title, first
comment). The peers are those of the connect tests: X and Mastodon are Prism serving their
descriptions (a request that breaks one is answered 422 and listed in ``sl-violations``),
Bluesky a real PDS, Facebook, Threads and LinkedIn their fakes.

Not here yet: Pinterest, Instagram, TikTok and YouTube, which take no text-only post (a Pin
needs a board and an image, the others a photo or a video fetched from a public URL or
uploaded): they need a file uploaded through our media API first. Each connector's own tests
publish media against these peers.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from agency.app import create_app
from agency.channel.credentials import unseal
from agency.channel.models import Channel
from agency.config import ConnectorSettings, NetworkSettings, ServerSettings
from agency.connector.registry import installed
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import bind_tenant
from tests.conftest import LiveServer, PostgresServer, RedisServer, Tenant, make_settings
from tests.connectors.conftest import MASTODON_TOKEN
from tests.support.connect_flow import (
    PUBLIC_URL,
    callback_uri,
    connect_with_app_password,
    connect_with_consent,
    create_brand,
)
from tests.support.fakes.linkedin import FakeLinkedIn
from tests.support.fakes.meta_base import MetaFake
from tests.support.oauth_peers import OAuthPeer, oauth_peer
from tests.support.pds import PdsServer, record_of
from tests.support.prism import request_violations
from tests.support.publishing import (
    delivered,
    jobs_see,
    make_due,
    running_worker,
    schedule,
    soon,
    until,
)
from tests.support.testnet import CLIENT_SECRET, TestNetState, network_settings

TEXT = "Nouvelle collection d'hiver : les manteaux arrivent en boutique."
COMMENT = "Toutes les tailles sont en ligne."
LINK = "https://maison.example/hiver"


class WatchedRuntime(Runtime):
    """The runtime whose client for the networks keeps every answer, the worker's too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.answers: list[httpx.Response] = []

    @property
    def http(self) -> httpx.AsyncClient:
        client = super().http
        hooks = client.event_hooks["response"]
        if self._keep not in hooks:
            hooks.append(self._keep)
        return client

    async def _keep(self, response: httpx.Response) -> None:
        await response.aread()
        self.answers.append(response)

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        """The requests sent to the networks at ``path`` (on any server), oldest first."""
        return [
            answer.request
            for answer in self.answers
            if answer.request.method == method and answer.request.url.path == path
        ]


@dataclass
class Studio:
    """Our API and worker, configured for one network, and every answer the API gave."""

    client: httpx.AsyncClient
    runtime: WatchedRuntime
    tenant: Tenant
    answers: list[httpx.Response]

    @property
    def headers(self) -> dict[str, str]:
        return self.tenant.headers

    async def get(self, path: str) -> dict[str, Any]:
        response = await self.client.get(path, headers=self.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def tokens(self, channel_id: str) -> set[str]:
        """The tokens the channel holds, sealed in the database."""
        async with self.runtime.session() as session:
            await bind_tenant(session, self.tenant.agency_id)
            channel = await session.get(Channel, uuid.UUID(channel_id))
            assert channel is not None and channel.credentials is not None
            held = unseal(self.runtime.secrets, channel.credentials)
        return {t for t in (held.access_token, held.refresh_token) if t}


@dataclass
class Peer:
    """One network's side: its configuration, how its account connects, what the variant
    asks of it, what it issued and how it shows the post it received."""

    network: str
    settings: NetworkSettings | None
    connect: Callable[[Studio, str], Awaitable[str]]
    received: Callable[[Studio, dict[str, Any], str | None], Awaitable[None]]
    issued: Callable[[], set[str]]
    variant: dict[str, Any] = field(default_factory=dict)
    comment_as_reply: bool = True  # the pipeline posts the first comment after the post


def body_of(request: httpx.Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").startswith("application/json"):
        found: dict[str, Any] = json.loads(request.content)
        return found
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


# -- the networks --------------------------------------------------------------------------


def _x(request: pytest.FixtureRequest) -> Peer:
    state: TestNetState
    state, oauth_url = request.getfixturevalue("oauth_server")

    async def connect(studio: Studio, brand_id: str) -> str:
        channel_id, _ = await connect_with_consent(studio.client, studio.tenant, brand_id, "x")
        return channel_id

    async def received(studio: Studio, variant: dict[str, Any], comment_id: str | None) -> None:
        post, reply = (body_of(r) for r in studio.runtime.sent("POST", "/2/tweets"))
        assert (post["text"], post["reply_settings"]) == (TEXT, "following")
        assert (reply["text"], reply["reply"]) == (
            COMMENT,
            {"in_reply_to_tweet_id": variant["post_id"]},
        )

    return Peer(
        "x",
        network_settings(oauth_url, request.getfixturevalue("prism_x")),
        connect,
        received,
        lambda: {*state.access_tokens, *state.refresh_tokens, CLIENT_SECRET},
        {"options": {"reply_settings": "following"}},
    )


def _mastodon(request: pytest.FixtureRequest) -> Peer:
    server_url: str = request.getfixturevalue("prism_mastodon")

    async def connect(studio: Studio, brand_id: str) -> str:
        started = await studio.client.post(
            f"/brands/{brand_id}/connections",
            json={"network": "mastodon", "server_url": server_url},
            headers=studio.headers,
        )
        assert started.status_code == 201, started.text
        state = parse_qs(urlsplit(started.json()["authorization_url"]).query)["state"][0]
        done = await studio.client.get(
            "/oauth/callback/mastodon", params={"code": "granted", "state": state}
        )
        assert done.status_code == 200, done.text
        [channel_id] = done.json()["channel_ids"]
        return str(channel_id)

    async def received(studio: Studio, variant: dict[str, Any], comment_id: str | None) -> None:
        post, reply = studio.runtime.sent("POST", "/api/v1/statuses")
        assert str(post.url).startswith(server_url)  # the account's server, not a default
        assert post.headers["Idempotency-Key"].startswith(f"agency-{variant['id']}-")
        assert (body_of(post)["status"], body_of(post)["visibility"]) == (TEXT, "unlisted")
        assert body_of(reply)["status"] == COMMENT
        assert body_of(reply)["in_reply_to_id"] == variant["post_id"]

    return Peer(
        "mastodon",
        None,  # nothing to configure: the account's server registers our app
        connect,
        received,
        lambda: {MASTODON_TOKEN["access_token"]},
        {"options": {"visibility": "unlisted"}},
    )


def _bluesky(request: pytest.FixtureRequest) -> Peer:
    pds: PdsServer = request.getfixturevalue("pds_peer")
    account = pds.create_account(f"pub{uuid.uuid4().hex[:6]}")

    async def connect(studio: Studio, brand_id: str) -> str:
        done = await connect_with_app_password(
            studio.client, studio.tenant, brand_id, account.handle, account.app_password
        )
        assert done.status_code == 201, done.text
        [channel_id] = done.json()["channel_ids"]
        return str(channel_id)

    async def received(studio: Studio, variant: dict[str, Any], comment_id: str | None) -> None:
        async with httpx.AsyncClient() as outside:
            post = await record_of(outside, pds, variant["post_id"])
            reply = await record_of(outside, pds, str(comment_id))
        assert post is not None and reply is not None
        assert (post["text"], post["langs"]) == (TEXT, ["fr"])
        external = post["embed"]["external"]
        assert (external["uri"], external["title"]) == (LINK, "L'hiver chez Dupont")
        assert reply["text"] == COMMENT
        assert reply["reply"]["parent"]["uri"] == variant["post_id"]
        assert variant["post_id"].startswith(f"at://{account.did}/")

    return Peer(
        "bluesky",
        NetworkSettings(base_url=pds.url),
        connect,
        received,
        lambda: {account.app_password},
        {"options": {"langs": ["fr"]}, "link": LINK, "title": "L'hiver chez Dupont"},
    )


def _oauth_fake(network: str, stack: ExitStack) -> Peer:
    peer = oauth_peer(network, callback_uri(network))
    peer.url = stack.enter_context(LiveServer(peer.fake)).url
    if isinstance(peer.fake, MetaFake):
        peer.fake.processing_polls = 0  # Threads' containers are ready at once

    async def connect(studio: Studio, brand_id: str) -> str:
        channel_id, _ = await connect_with_consent(
            studio.client, studio.tenant, brand_id, network, peer.pick
        )
        return channel_id

    async def received(studio: Studio, variant: dict[str, Any], comment_id: str | None) -> None:
        assert published_on(peer, variant["post_id"]) == (TEXT, [COMMENT])

    return Peer(
        network,
        peer.settings(),
        connect,
        received,
        peer.secrets,
        comment_as_reply=network == "linkedin",  # Meta's connectors post it with the post
    )


def published_on(peer: OAuthPeer, post_id: str) -> tuple[str, list[str]]:
    """The text of the post the fake holds under ``post_id``, and the comments under it
    by the account (not the visitors the fake adds)."""
    fake = peer.fake
    if isinstance(fake, FakeLinkedIn):
        mine = [c for c in fake.comments[post_id] if c["actor"] == peer.account["account_id"]]
        return fake.posts[post_id]["commentary"], [c["message"]["text"] for c in mine]
    assert isinstance(fake, MetaFake)
    post = fake.objects[post_id]
    if peer.network == "threads":
        replies = [m for m in fake.of_kind("threads_media") if m["_parent"] == post_id]
        return post["text"], [m["text"] for m in replies]
    comments = fake.of_kind("comment", _post=post_id)
    return post["message"], [c["message"] for c in comments]


NETWORKS = ("x", "mastodon", "bluesky", "facebook", "threads", "linkedin")


@pytest.fixture(params=NETWORKS)
def peer(request: pytest.FixtureRequest) -> Iterator[Peer]:
    """Only the network of this run is started (Prism, the PDS, or a fake)."""
    builders = {"x": _x, "mastodon": _mastodon, "bluesky": _bluesky}
    with ExitStack() as stack:
        build = builders.get(request.param)
        yield build(request) if build else _oauth_fake(request.param, stack)


@pytest.fixture
async def studio(
    pg: PostgresServer, redis_server: RedisServer, runtime: Runtime, peer: Peer, tenant_a: Tenant
) -> AsyncIterator[Studio]:
    settings = make_settings(pg, redis_server.url)
    settings.server = ServerSettings(public_url=PUBLIC_URL)
    networks = {peer.network: peer.settings} if peer.settings else {}
    settings.connectors = ConnectorSettings(networks=networks)
    test_runtime = WatchedRuntime(settings, runtime.broker, connectors=installed())
    answers: list[httpx.Response] = []

    async def keep(response: httpx.Response) -> None:
        await response.aread()
        answers.append(response)

    transport = httpx.ASGITransport(app=create_app(settings, test_runtime))
    try:
        with jobs_see(test_runtime), running_worker(test_runtime):
            async with httpx.AsyncClient(
                transport=transport, base_url=PUBLIC_URL, event_hooks={"response": [keep]}
            ) as client:
                yield Studio(client, test_runtime, tenant_a, answers)
    finally:
        await test_runtime.dispose_current_loop()


async def test_a_connected_account_publishes_through_the_worker(studio: Studio, peer: Peer) -> None:
    brand_id = await create_brand(studio.client, studio.tenant)
    channel_id = await peer.connect(studio, brand_id)
    variant = {"channel_id": channel_id, "text": TEXT, "first_comment": COMMENT, **peer.variant}
    drafted = await studio.client.post(
        f"/brands/{brand_id}/publications",
        json={"title": "Hiver", "variants": [variant]},
        headers=studio.headers,
    )
    assert drafted.status_code == 201, drafted.text
    scheduled = await schedule(studio.client, studio.headers, drafted.json(), soon())
    assert scheduled.status_code == 200, scheduled.text
    publication_id = drafted.json()["id"]
    await make_due(studio.runtime, publication_id)

    def commented(p: dict[str, Any]) -> bool:
        return delivered(p) and p["variants"][0]["first_comment_status"] is not None

    done = await until(
        studio.runtime, lambda: studio.get(f"/publications/{publication_id}"), commented, within=30
    )
    [published] = done["variants"]
    assert (done["status"], published["last_error"]) == ("published", None)
    assert published["post_id"] and published["post_url"], published
    attempts = (await studio.get(f"/publications/{publication_id}/attempts"))["items"]
    assert published["first_comment_status"] == "posted", [a["message"] for a in attempts]
    logged = [("publish", "published")]
    if peer.comment_as_reply:  # posted by the pipeline, under the post
        logged.append(("first_comment", "published"))
    assert [(a["kind"], a["outcome"]) for a in attempts] == logged
    assert attempts[0]["post_id"] == published["post_id"]
    await peer.received(
        studio, published, attempts[-1]["post_id"] if peer.comment_as_reply else None
    )

    # Every request the connector sent is one the network's description allows (Prism).
    assert [request_violations(a) for a in studio.runtime.answers if request_violations(a)] == []
    secrets = peer.issued() | await studio.tokens(channel_id)
    assert secrets
    for answer in studio.answers:
        for secret in secrets:
            assert secret not in answer.text, (answer.request.url, secret)
