"""An account connected through our API, then a post published through the real worker.

The other tests check the pieces apart: connecting (test_connect_through_api.py,
test_connect_oauth_networks.py), each connector against its peer, and the pipeline against a
stand-in network (tests/publishing/test_publishing.py). Here the channel the connect flow made goes
through the scheduler's claim and a Dramatiq worker to the network's connector, as built
from the server's configuration (base URL, client id, OAuth endpoints, sealed credentials,
Mastodon's server), with the Post built from the variant (options, link, title, first
comment). The peers are those of the connect tests: X and Mastodon are Prism serving their
descriptions (a request that breaks one is answered 422 and listed in ``sl-violations``),
Bluesky a real PDS, Facebook, Threads and LinkedIn their fakes.

Pinterest, Instagram, TikTok and YouTube take no text-only post: their file is uploaded
through our media API first (``POST /brands/{id}/media``, stored in a local directory), and
the worker hands it to the connector as our storage gives it (its bytes, and a signed public
URL). Pinterest is Prism serving its description (an image Pin on ``options.board_id``, sent
by URL), Instagram the Graph fake (a JPEG photo, fetched from a URL), TikTok and YouTube their
fakes (a video, uploaded in chunks / by the resumable protocol). Where the network fetches
the file (Pinterest, Instagram), the URL it was given is our signed link for that media; the
peers cannot reach our API (it answers in-process at ``PUBLIC_URL``), so the test fetches
that link through our API as the network would and gets the uploaded bytes. Where the bytes
go to the network (TikTok, YouTube), the fake holds them byte for byte. Pinterest and TikTok
take no first comment; YouTube's is posted by the pipeline after the video, as a new thread.

Instagram and YouTube also stage through the worker: claimed minutes ahead, the container
made (the video uploaded private) by the staging job, and at the post's time one call.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from agency.app import create_app
from agency.channel.credentials import unseal
from agency.channel.models import Channel
from agency.config import (
    ConnectorSettings,
    MediaSettings,
    NetworkSettings,
    OutboundSettings,
    ServerSettings,
)
from agency.connector.registry import installed
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import bind_tenant
from tests.conftest import LiveServer, PostgresServer, RedisServer, Tenant, make_settings
from tests.connectors.conftest import MASTODON_TOKEN
from tests.helpers import create_brand
from tests.support.connect_flow import (
    PUBLIC_URL,
    callback_uri,
    connect_with_app_password,
    connect_with_consent,
)
from tests.support.fakes.linkedin import FakeLinkedIn
from tests.support.fakes.meta import GraphFake
from tests.support.fakes.meta_base import MetaFake
from tests.support.fakes.tiktok import FakeTikTok
from tests.support.fakes.youtube import FakeYouTube
from tests.support.images import picture
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
from tests.support.video import mjpeg_movie
from tests.support.watched_runtime import WatchedRuntime

pytestmark = pytest.mark.slow

TEXT = "Nouvelle collection d'hiver : les manteaux arrivent en boutique."
COMMENT = "Toutes les tailles sont en ligne."
LINK = "https://maison.example/hiver"
TITLE = "L'hiver chez Dupont"
PHOTO = ("vitrine.jpg", picture("JPEG", (1080, 1080)), "image/jpeg")
MOVIE = ("defile.mp4", mjpeg_movie(seconds=4.0), "video/mp4")  # TikTok wants 3 s or more
BOARD = "549755885175"  # a Pinterest board id (Prism takes any)


@dataclass
class Studio:
    """Our API and worker, configured for one network, and every answer the API gave."""

    client: httpx.AsyncClient
    runtime: WatchedRuntime
    tenant: Tenant
    answers: list[httpx.Response]
    uploaded: dict[str, bytes] = field(default_factory=dict)  # media id -> its bytes

    @property
    def headers(self) -> dict[str, str]:
        return self.tenant.headers

    async def upload(self, brand_id: str, name: str, content: bytes, mime_type: str) -> str:
        """``POST /brands/{id}/media``: the media's id."""
        response = await self.client.post(
            f"/brands/{brand_id}/media",
            files={"file": (name, content, mime_type)},
            headers=self.headers,
        )
        assert response.status_code == 201, response.text
        media_id: str = response.json()["id"]
        self.uploaded[media_id] = content
        return media_id

    @property
    def file(self) -> bytes:
        [content] = self.uploaded.values()
        return content

    async def serves_the_file(self, url: str) -> None:
        """``url`` is our signed public link to the uploaded media, and serves its bytes to
        anyone (no credentials), as the network that fetches it would."""
        [media_id] = self.uploaded
        assert url.startswith(f"{PUBLIC_URL}/media/{media_id}/signed?"), url
        response = await self.client.get(url)
        assert response.status_code == 200, response.text
        assert response.content == self.uploaded[media_id]

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
    file: tuple[str, bytes, str] | None = None  # uploaded and attached: name, bytes, type
    comment: bool = True  # the network takes a first comment
    oauth: OAuthPeer | None = None  # the fake and its authorization server, where one
    # A server the account chose (Mastodon's), on loopback: the operator allows it by name.
    allowed_hosts: tuple[str, ...] = ()


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
        allowed_hosts=(urlsplit(server_url).netloc,),
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


def _pinterest(request: pytest.FixtureRequest) -> Peer:
    state: TestNetState
    state, oauth_url = request.getfixturevalue("oauth_server")

    async def connect(studio: Studio, brand_id: str) -> str:
        channel_id, _ = await connect_with_consent(
            studio.client, studio.tenant, brand_id, "pinterest"
        )
        return channel_id

    async def received(studio: Studio, variant: dict[str, Any], comment_id: str | None) -> None:
        [pin] = (body_of(r) for r in studio.runtime.sent("POST", "/pins"))
        assert (pin["board_id"], pin["description"]) == (BOARD, TEXT)
        assert (pin["title"], pin["link"]) == (TITLE, LINK)
        assert pin["media_source"]["source_type"] == "image_url"
        await studio.serves_the_file(pin["media_source"]["url"])

    return Peer(
        "pinterest",
        network_settings(oauth_url, request.getfixturevalue("prism_pinterest"), revocation=False),
        connect,
        received,
        lambda: {*state.access_tokens, *state.refresh_tokens, CLIENT_SECRET},
        {"options": {"board_id": BOARD}, "title": TITLE, "link": LINK},
        file=PHOTO,
        comment=False,  # Pinterest has no comments API
    )


# What the networks that take no text-only post are given, past the text: the variant's
# fields, the file attached, and whether a first comment goes with it (TikTok has none).
WITH_MEDIA: dict[str, tuple[dict[str, Any], tuple[str, bytes, str], bool]] = {
    "instagram": ({}, PHOTO, True),
    "tiktok": ({"options": {"privacy_level": "PUBLIC_TO_EVERYONE"}}, MOVIE, False),
    "youtube": ({"title": TITLE, "options": {"privacy_status": "unlisted"}}, MOVIE, True),
}


def _oauth_fake(network: str, stack: ExitStack) -> Peer:
    peer = oauth_peer(network, callback_uri(network))
    peer.url = stack.enter_context(LiveServer(peer.fake)).url
    if isinstance(peer.fake, MetaFake | FakeTikTok):
        peer.fake.processing_polls = 0  # the media and posts are ready at once
    variant, file, comment = WITH_MEDIA.get(network, ({}, None, True))

    async def connect(studio: Studio, brand_id: str) -> str:
        channel_id, _ = await connect_with_consent(
            studio.client, studio.tenant, brand_id, network, peer.pick
        )
        return channel_id

    async def received(studio: Studio, variant: dict[str, Any], comment_id: str | None) -> None:
        assert published_on(peer, variant["post_id"]) == (TEXT, [COMMENT] if comment else [])
        await file_received(peer, studio, variant["post_id"])

    return Peer(
        network,
        peer.settings(),
        connect,
        received,
        peer.secrets,
        variant,
        # Meta's connectors post the first comment with the post.
        comment_as_reply=network in ("linkedin", "youtube"),
        file=file,
        comment=comment,
        oauth=peer,
    )


def published_on(peer: OAuthPeer, post_id: str) -> tuple[str, list[str]]:
    """The text of the post the fake holds under ``post_id``, and the comments under it
    by the account (not the visitors the fake adds)."""
    fake = peer.fake
    if isinstance(fake, FakeLinkedIn):
        mine = [c for c in fake.comments[post_id] if c["actor"] == peer.account["account_id"]]
        return fake.posts[post_id]["commentary"], [c["message"]["text"] for c in mine]
    if isinstance(fake, FakeTikTok):
        [publish] = fake.publishes.values()
        assert publish.post_id == post_id
        return publish.post_info["title"], []  # TikTok has no comments API
    if isinstance(fake, FakeYouTube):
        threads = [t for t in fake.threads.values() if t["snippet"]["videoId"] == post_id]
        comments = [t["snippet"]["topLevelComment"] for t in threads]
        comments += [c for t in threads for c in t["replies"]["comments"]]
        channel = fake.channel["snippet"]["title"]
        mine = [c for c in comments if c["snippet"]["authorDisplayName"] == channel]
        description = fake.videos[post_id]["snippet"]["description"]
        return description, [c["snippet"]["textOriginal"] for c in mine]
    assert isinstance(fake, MetaFake)
    post = fake.objects[post_id]
    if peer.network == "threads":
        replies = [m for m in fake.of_kind("threads_media") if m["_parent"] == post_id]
        return post["text"], [m["text"] for m in replies]
    if peer.network == "instagram":
        comments = fake.of_kind("ig_comment", _post=post_id)
        return post["caption"], [c["text"] for c in comments]
    comments = fake.of_kind("comment", _post=post_id)
    return post["message"], [c["message"] for c in comments]


async def file_received(peer: OAuthPeer, studio: Studio, post_id: str) -> None:
    """The uploaded file reached the network: its URL to fetch, or its bytes."""
    fake = peer.fake
    if isinstance(fake, GraphFake) and peer.network == "instagram":
        [container] = fake.of_kind("ig_container")
        await studio.serves_the_file(container["_params"]["image_url"])
    elif isinstance(fake, FakeTikTok):
        [publish] = fake.publishes.values()
        assert publish.chunks_received == 1  # a file under 5 MB goes whole
        assert bytes(publish.received) == studio.file
    elif isinstance(fake, FakeYouTube):
        [session] = fake.sessions.values()
        assert (session.video_id, session.content_type) == (post_id, "video/mp4")
        assert bytes(session.received) == studio.file


NETWORKS = (
    *("x", "mastodon", "bluesky", "facebook", "threads", "linkedin"),
    *("pinterest", "instagram", "tiktok", "youtube"),
)


@pytest.fixture(params=NETWORKS)
def peer(request: pytest.FixtureRequest) -> Iterator[Peer]:
    """Only the network of this run is started (Prism, the PDS, or a fake)."""
    builders = {"x": _x, "mastodon": _mastodon, "bluesky": _bluesky, "pinterest": _pinterest}
    with ExitStack() as stack:
        build = builders.get(request.param)
        yield build(request) if build else _oauth_fake(request.param, stack)


@pytest.fixture
async def studio(
    pg: PostgresServer,
    redis_server: RedisServer,
    runtime: Runtime,
    peer: Peer,
    tenant_a: Tenant,
    tmp_path: Path,
) -> AsyncIterator[Studio]:
    settings = make_settings(pg, redis_server.url)
    settings.server = ServerSettings(public_url=PUBLIC_URL)
    settings.media = MediaSettings(storage="local", local_path=str(tmp_path / "media"))
    networks = {peer.network: peer.settings} if peer.settings else {}
    settings.connectors = ConnectorSettings(networks=networks)
    settings.outbound = OutboundSettings(allowed_hosts=list(peer.allowed_hosts))
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


async def scheduled_post(studio: Studio, peer: Peer) -> tuple[str, str]:
    """A connected account's post (the peer's variant, comment and file), scheduled a
    minute ahead: its publication's id and the channel's."""
    brand_id = await create_brand(studio.client, studio.tenant)
    channel_id = await peer.connect(studio, brand_id)
    variant = {"channel_id": channel_id, "text": TEXT, **peer.variant}
    if peer.comment:
        variant["first_comment"] = COMMENT
    if peer.file:
        variant["media_ids"] = [await studio.upload(brand_id, *peer.file)]
    drafted = await studio.client.post(
        f"/brands/{brand_id}/publications",
        json={"title": "Hiver", "variants": [variant]},
        headers=studio.headers,
    )
    assert drafted.status_code == 201, drafted.text
    assert drafted.json()["variants"][0]["problems"] == []
    scheduled = await schedule(studio.client, studio.headers, drafted.json(), soon())
    assert scheduled.status_code == 200, scheduled.text
    return str(drafted.json()["id"]), channel_id


async def test_a_connected_account_publishes_through_the_worker(studio: Studio, peer: Peer) -> None:
    publication_id, channel_id = await scheduled_post(studio, peer)
    await make_due(studio.runtime, publication_id)

    def commented(p: dict[str, Any]) -> bool:  # or failed: there will be no comment then
        [v] = p["variants"]
        awaited = peer.comment and v["status"] == "published"
        return delivered(p) and not (awaited and v["first_comment_status"] is None)

    done = await until(
        studio.runtime, lambda: studio.get(f"/publications/{publication_id}"), commented, within=30
    )
    [published] = done["variants"]
    attempts = (await studio.get(f"/publications/{publication_id}/attempts"))["items"]
    assert (done["status"], published["last_error"]) == ("published", None), attempts
    assert published["post_id"] and published["post_url"], published
    expected = "posted" if peer.comment else None
    assert published["first_comment_status"] == expected, [a["message"] for a in attempts]
    replied = peer.comment and peer.comment_as_reply  # posted by the pipeline, under the post
    logged = [("publish", "published")] + [("first_comment", "published")] * replied
    assert [(a["kind"], a["outcome"]) for a in attempts] == logged
    assert attempts[0]["post_id"] == published["post_id"]
    await peer.received(studio, published, attempts[-1]["post_id"] if replied else None)

    # Every request the connector sent is one the network's description allows (Prism).
    assert [request_violations(a) for a in studio.runtime.answers if request_violations(a)] == []
    secrets = peer.issued() | await studio.tokens(channel_id)
    assert secrets
    for answer in studio.answers:
        for secret in secrets:
            assert secret not in answer.text, (answer.request.url, secret)


async def due_and_commented(studio: Studio, publication_id: str) -> dict[str, Any]:
    """The publication made due, once out with its first comment (or failed)."""
    await make_due(studio.runtime, publication_id)
    return await until(
        studio.runtime,
        lambda: studio.get(f"/publications/{publication_id}"),
        lambda p: delivered(p) and p["variants"][0]["first_comment_status"] is not None,
        within=30,
    )


def uploads_made(studio: Studio, network: str) -> int:
    """Instagram containers made, or YouTube uploads opened, so far."""
    ending = {"instagram": "/media", "youtube": "/upload/youtube/v3/videos"}[network]
    return len(
        [
            a
            for a in studio.runtime.answers
            if a.request.method == "POST" and a.request.url.path.endswith(ending)
        ]
    )


@pytest.mark.parametrize("peer", ["instagram", "youtube"], indirect=True)
async def test_media_staged_ahead_by_the_worker_leave_one_call_for_the_posts_time(
    studio: Studio, peer: Peer
) -> None:
    """The real connectors stage through the worker: the scheduler claims the post minutes
    ahead, the worker makes Instagram's container (or uploads YouTube's video, private);
    at its time only ``media_publish`` (or one ``videos.update`` of its status) is called."""
    studio.runtime.settings.publishing.staging_interval_seconds = 0
    publication_id, _ = await scheduled_post(studio, peer)
    attempts_path = f"/publications/{publication_id}/attempts"

    def staged(listing: dict[str, Any]) -> bool:
        return [(a["kind"], a["outcome"]) for a in listing["items"]] == [("stage_media", "staged")]

    await until(studio.runtime, lambda: studio.get(attempts_path), staged, within=30)
    assert uploads_made(studio, peer.network) == 1  # made ahead
    done = await due_and_commented(studio, publication_id)
    [published] = done["variants"]
    assert (done["status"], published["last_error"]) == ("published", None)
    assert uploads_made(studio, peer.network) == 1  # nothing made at its time
    listing = await studio.get(attempts_path)
    kinds = [(a["kind"], a["outcome"]) for a in listing["items"]]
    assert kinds[:2] == [("stage_media", "staged"), ("publish", "published")]
    await peer.received(studio, published, listing["items"][-1]["post_id"])
    if peer.network == "youtube":  # uploaded private, given the variant's privacy at its time
        [insert] = studio.runtime.sent("POST", "/upload/youtube/v3/videos")
        assert json.loads(insert.content)["status"]["privacyStatus"] == "private"
        [update] = studio.runtime.sent("PUT", "/youtube/v3/videos")
        wanted = peer.variant["options"]["privacy_status"]
        assert json.loads(update.content)["status"]["privacyStatus"] == wanted


@pytest.mark.parametrize("peer", ["linkedin"], indirect=True)
async def test_a_token_expired_at_the_network_is_refreshed_and_the_post_published(
    studio: Studio, peer: Peer
) -> None:
    """LinkedIn's access token dies (its refresh token lives on): the worker's publish call is
    answered 401, the token is renewed once at LinkedIn's token endpoint with the agency's
    app, the post goes out once with the new token, and the first comment too."""
    assert peer.oauth is not None and isinstance(peer.oauth.fake, FakeLinkedIn)
    fake = peer.oauth.fake
    brand_id = await create_brand(studio.client, studio.tenant)
    channel_id = await peer.connect(studio, brand_id)
    before = await studio.tokens(channel_id)
    refreshes = len(peer.oauth.token_requests())
    dead = fake.token
    assert dead in before
    fake.tokens.clear()  # every access token LinkedIn issued is expired now

    drafted = await studio.client.post(
        f"/brands/{brand_id}/publications",
        json={
            "title": "Hiver",
            "variants": [{"channel_id": channel_id, "text": TEXT, "first_comment": COMMENT}],
        },
        headers=studio.headers,
    )
    assert drafted.status_code == 201, drafted.text
    scheduled = await schedule(studio.client, studio.headers, drafted.json(), soon())
    assert scheduled.status_code == 200, scheduled.text
    publication_id = drafted.json()["id"]
    done = await due_and_commented(studio, publication_id)
    [published] = done["variants"]
    attempts = (await studio.get(f"/publications/{publication_id}/attempts"))["items"]
    assert (done["status"], published["last_error"]) == ("published", None), attempts
    assert [(a["kind"], a["outcome"]) for a in attempts] == [
        ("publish", "published"),
        ("first_comment", "published"),
    ]
    assert published_on(peer.oauth, published["post_id"]) == (TEXT, [COMMENT])
    assert len(fake.posts) == 1

    # One refresh at LinkedIn's token endpoint: the channel's refresh token, the agency's app.
    [refresh] = peer.oauth.token_requests()[refreshes:]
    assert refresh["grant_type"] == "refresh_token"
    assert refresh["refresh_token"] == fake.refresh_token
    assert refresh["client_id"] == peer.oauth.oauth.client_id
    # The post: refused with the dead token once, then sent with the new one.
    fresh = fake.token
    assert fresh != dead
    sent = studio.runtime.sent("POST", "/rest/posts")
    assert [r.headers["authorization"] for r in sent] == [f"Bearer {dead}", f"Bearer {fresh}"]
    # The channel keeps the new access token (sealed), healthy.
    assert await studio.tokens(channel_id) == {fresh, fake.refresh_token}
    channel = await studio.get(f"/channels/{channel_id}")
    assert (channel["health"], channel["last_error"]) == ("ok", None)
    assert channel["last_refreshed_at"] is not None
