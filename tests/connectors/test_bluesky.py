"""The Bluesky connector against a real PDS (@atproto/pds on loopback, see tests/support/pds.py).

Every call goes to the reference PDS itself, which validates records against the Bluesky
lexicons, checks tokens and applies its own rate limits. Only two answers cannot be had from a
lone PDS on the publishing call, and ``failing_connector`` serves them from an httpx transport
placed in front of the PDS (everything else passes through to it):

* 429: replayed from a real 429 of this PDS. Its publishing limits (5000 points an hour) are
  too large to exhaust in a test, so the session opens by exhausting the one limit that is
  small, com.atproto.server.createSession (30 per 5 minutes per handle), and keeps the PDS's
  answer as it was: status, ``RateLimit-*`` headers and body;
* 503: the PDS only answers it when it is overloaded; the answer follows the XRPC spec
  (https://atproto.com/specs/xrpc: JSON ``{"error", "message"}``, error name
  ``NotEnoughResources`` as @atproto/xrpc names status 503).

For 401 the contract's secret token goes to the real PDS, which answers a token it cannot
verify with 400 ``InvalidToken``: the connector must read that as an expired session.

Comments and metrics are AppView views: the PDS is configured with a fake AppView
(tests/support/fakes/bsky_appview.py) under Bluesky's own AppView DID, and forwards the
connector's app.bsky.* queries to it with service auth. The fake answers from the PDS's
repositories, so replies, likes, reposts and follows are real records other accounts write.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from agency.connector import (
    AccountMetrics,
    AuthExpired,
    Capability,
    Comment,
    ConnectorContext,
    Credentials,
    InvalidContent,
    Media,
    Post,
    RateLimited,
    Refused,
)
from agency.connector.base import BytesSource
from agency_connectors.bluesky import BlueskyConnector
from agency_connectors.bluesky.connector import BLUESKY_APPVIEW
from agency_connectors.bluesky.threadgate import MAX_HIDDEN, with_reply
from agency_connectors.bluesky.xrpc import rate_limit
from tests.conftest import LiveServer
from tests.connectors.contract import SECRET, ConnectorContract, FailingConnector
from tests.support.fakes.bsky_appview import FakeAppView
from tests.support.pds import (
    Answer,
    CannedAnswer,
    PdsAccount,
    PdsServer,
    faceted,
    png,
    record_of,
    signed_like,
)

POST = "app.bsky.feed.post"
AVATAR = png(4, 4)


@pytest.fixture(scope="session")
def appview() -> Iterator[FakeAppView]:
    fake = FakeAppView(did=BLUESKY_APPVIEW.split("#")[0])
    with LiveServer(fake) as server:
        fake.url = server.url
        yield fake
    # An answer the fake held back made its test fail already; say why once more at the end.
    assert not fake.problems, fake.problems


@pytest.fixture(scope="session")
def pds(appview: FakeAppView) -> Iterator[PdsServer]:
    # The PDS reaches the fake under Bluesky's AppView DID: the connector's default header
    # is the one tested, and the PDS takes the URL from its configuration, resolving nothing.
    with PdsServer(appview=(appview.url, appview.did)) as server:
        appview.serve(server.url, server.plc_url, server.lexicons_url)
        yield server


@pytest.fixture(scope="session")
def alice(pds: PdsServer) -> PdsAccount:
    account = pds.create_account("alice")
    avatar = pds.upload_blob(account, AVATAR, "image/png")
    pds.put_record(
        account,
        "app.bsky.actor.profile",
        "self",
        {"$type": "app.bsky.actor.profile", "displayName": "Alice at the Agency", "avatar": avatar},
    )
    return account


@pytest.fixture(scope="session")
def bob(pds: PdsServer) -> PdsAccount:
    return pds.create_account("bob")


@pytest.fixture(scope="session")
def carol(pds: PdsServer) -> PdsAccount:
    account = pds.create_account("carol")
    pds.put_record(
        account,
        "app.bsky.actor.profile",
        "self",
        {"$type": "app.bsky.actor.profile", "displayName": "Carol"},
    )
    return account


@pytest.fixture(scope="session")
async def real_429(pds: PdsServer) -> Answer:
    """A 429 of this PDS, from exhausting createSession's limit on a handle of no account."""
    identifier = f"flood-{uuid.uuid4().hex[:8]}.test"
    async with httpx.AsyncClient(base_url=pds.url, timeout=60) as http:
        # Sent at once: each sign-in costs the PDS a slow password hash, a 429 costs nothing.
        answers = await asyncio.gather(
            *(
                http.post(
                    "/xrpc/com.atproto.server.createSession",
                    json={"identifier": identifier, "password": "wrong"},
                )
                for _ in range(35)
            )
        )
    for answer in answers:
        if answer.status_code == 429:
            return Answer(429, list(answer.headers.multi_items()), answer.content)
    raise AssertionError("the PDS never rate-limited createSession")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


def connector_for(
    http: httpx.AsyncClient, pds: PdsServer, credentials: Credentials | None = None
) -> BlueskyConnector:
    return BlueskyConnector(ConnectorContext(http=http, base_url=pds.url, credentials=credentials))


@pytest.fixture(scope="session")
async def alice_session(pds: PdsServer, alice: PdsAccount) -> Credentials:
    # One sign-in for the whole run: the PDS allows 30 per 5 minutes per handle.
    async with httpx.AsyncClient() as client:
        return await connector_for(client, pds).login(alice.handle, alice.app_password)


@pytest.fixture
def connector(
    http: httpx.AsyncClient, pds: PdsServer, alice_session: Credentials
) -> BlueskyConnector:
    return connector_for(http, pds, alice_session)


@pytest.fixture
def publishable_post(bob: PdsAccount) -> Post:
    return Post(
        text=f"Hello from the agency tests to @{bob.handle} #agency {uuid.uuid4().hex[:6]}",
        options={"langs": ["en"]},
    )


@pytest.fixture
async def failing_connector(
    pds: PdsServer, alice: PdsAccount, real_429: Answer
) -> AsyncIterator[FailingConnector]:
    clients: list[httpx.AsyncClient] = []
    unavailable = Answer(
        503,
        [("content-type", "application/json; charset=utf-8")],
        json.dumps({"error": "NotEnoughResources", "message": "Service Unavailable"}).encode(),
    )

    def make(status: int) -> BlueskyConnector:
        transport: httpx.AsyncBaseTransport = {
            401: httpx.AsyncHTTPTransport(),  # the real PDS, given a token it never issued
            429: CannedAnswer("com.atproto.repo.createRecord", real_429),
            503: CannedAnswer("com.atproto.repo.createRecord", unavailable),
        }[status]
        client = httpx.AsyncClient(transport=transport, timeout=30)
        clients.append(client)
        credentials = Credentials(
            access_token=SECRET,
            refresh_token=SECRET,
            extra={"did": alice.did, "handle": alice.handle},
        )
        return connector_for(client, pds, credentials)

    yield make
    for client in clients:
        await client.aclose()


class TestBlueskyContract(ConnectorContract):
    connector_class = BlueskyConnector


# -- helpers -----------------------------------------------------------------------------------


def image(data: bytes, alt: str, width: int, height: int) -> Media:
    return Media(
        kind="image",
        mime_type="image/png",
        size=len(data),
        width=width,
        height=height,
        alt_text=alt,
        source=BytesSource(data),
    )


# -- publishing --------------------------------------------------------------------------------


async def test_facets_point_at_utf8_bytes_of_text_with_emoji_and_accents(
    connector: BlueskyConnector, http: httpx.AsyncClient, pds: PdsServer, bob: PdsAccount
) -> None:
    text = (
        "Café crème ☕ 👩🏽‍💻 à Noël avec @bob.test : https://example.com/menu?lang=fr "
        "#Crème #été2025 🎉 @nobody.test"
    )
    published = await connector.publish(Post(text=text, options={"langs": ["fr", "en"]}))

    record = await record_of(http, pds, published.post_id)
    assert record is not None
    assert record["text"] == text
    assert record["langs"] == ["fr", "en"]
    pointed = [(faceted(text, f), f["features"][0]) for f in record["facets"]]
    assert pointed == [
        ("@bob.test", {"$type": "app.bsky.richtext.facet#mention", "did": bob.did}),
        (
            "https://example.com/menu?lang=fr",
            {"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/menu?lang=fr"},
        ),
        ("#Crème", {"$type": "app.bsky.richtext.facet#tag", "tag": "Crème"}),
        ("#été2025", {"$type": "app.bsky.richtext.facet#tag", "tag": "été2025"}),
    ]  # @nobody.test has no account: it stays plain text
    # Character offsets would be wrong: "é", "☕" and the emoji take several bytes each.
    assert record["facets"][0]["index"]["byteStart"] != text.index("@bob.test")


async def test_a_hash_inside_a_link_is_not_a_second_facet(
    connector: BlueskyConnector, http: httpx.AsyncClient, pds: PdsServer
) -> None:
    text = "Docs at https://example.com/guide#install, then #ship."
    published = await connector.publish(Post(text=text))
    record = await record_of(http, pds, published.post_id)
    assert record is not None
    assert [faceted(text, f) for f in record["facets"]] == [
        "https://example.com/guide#install",
        "#ship",
    ]


async def test_images_are_uploaded_as_blobs_and_embedded_with_alt_text(
    connector: BlueskyConnector, http: httpx.AsyncClient, pds: PdsServer, alice: PdsAccount
) -> None:
    first, second = png(3, 2), png(5, 5)
    post = Post(
        text="Two pictures",
        media=(image(first, "A red band", 3, 2), image(second, "", 5, 5)),
        link="https://example.com/ignored-when-there-are-images",
    )
    published = await connector.publish(post)

    record = await record_of(http, pds, published.post_id)
    assert record is not None
    embed = record["embed"]
    assert embed["$type"] == "app.bsky.embed.images"
    assert [i["alt"] for i in embed["images"]] == ["A red band", ""]
    assert embed["images"][0]["aspectRatio"] == {"width": 3, "height": 2}
    for sent, item in zip((first, second), embed["images"], strict=True):
        blob = item["image"]
        assert (blob["mimeType"], blob["size"]) == ("image/png", len(sent))
        stored = await http.get(
            f"{pds.url}/xrpc/com.atproto.sync.getBlob",
            params={"did": alice.did, "cid": blob["ref"]["$link"]},
        )
        assert stored.status_code == 200
        assert stored.content == sent


async def test_a_link_without_images_becomes_a_link_card(
    connector: BlueskyConnector, http: httpx.AsyncClient, pds: PdsServer
) -> None:
    post = Post(text="Our spring menu", link="https://example.com/spring", title="Spring menu")
    published = await connector.publish(post)
    record = await record_of(http, pds, published.post_id)
    assert record is not None
    assert record["embed"] == {
        "$type": "app.bsky.embed.external",
        "external": {
            "uri": "https://example.com/spring",
            "title": "Spring menu",
            "description": "",
        },
    }


async def test_published_url_is_the_post_page_on_bsky_app(
    connector: BlueskyConnector, alice: PdsAccount, publishable_post: Post
) -> None:
    published = await connector.publish(publishable_post)
    rkey = published.post_id.rsplit("/", 1)[1]
    assert published.post_id == f"at://{alice.did}/{POST}/{rkey}"
    assert published.url == f"https://bsky.app/profile/{alice.handle}/post/{rkey}"
    assert published.published_at is not None
    assert abs(published.published_at - datetime.now(UTC)) < timedelta(minutes=1)


# -- text rules: ours and the PDS's agree -----------------------------------------------------


def test_text_is_counted_in_graphemes_and_bytes() -> None:
    assert BlueskyConnector.count_text("👩🏽‍💻") == 1  # five code points, one character
    assert BlueskyConnector.count_text("e\u0301") == 1  # "é" written as e + combining accent
    assert BlueskyConnector.validate(Post(text="👩🏽‍💻" * 200)) == []  # 15 bytes each: 3000
    heavy = Post(text="👩🏽‍💻" * 201)  # 201 characters, 3015 bytes
    assert [p.code for p in BlueskyConnector.validate(heavy)] == ["text_too_many_bytes"]
    assert BlueskyConnector.validate(Post(text="x", options={"langs": ["a", "b", "c", "d"]}))


@pytest.mark.parametrize(
    ("at_limit", "over", "pds_says"),
    [
        ("👍🏽" * 300, "👍🏽" * 300 + "!", "grapheme too big (maximum 300, got 301)"),
        ("👩🏽‍💻" * 200, "👩🏽‍💻" * 201, "too big (maximum 3000, got 3015)"),
    ],
    ids=["graphemes", "bytes"],
)
async def test_the_limits_we_enforce_are_the_ones_the_pds_enforces(
    connector: BlueskyConnector,
    http: httpx.AsyncClient,
    pds: PdsServer,
    alice_session: Credentials,
    at_limit: str,
    over: str,
    pds_says: str,
) -> None:
    assert BlueskyConnector.validate(Post(text=at_limit)) == []
    assert await connector.publish(Post(text=at_limit))

    with pytest.raises(InvalidContent):
        await connector.publish(Post(text=over))
    answer = await http.post(  # what the PDS says when sent the same text anyway
        f"{pds.url}/xrpc/com.atproto.repo.createRecord",
        headers={"Authorization": f"Bearer {alice_session.access_token}"},
        json={
            "repo": alice_session.extra["did"],
            "collection": POST,
            "record": {"$type": POST, "text": over, "createdAt": "2025-01-01T00:00:00.000Z"},
        },
    )
    assert answer.status_code == 400
    assert pds_says in answer.json()["message"]


# -- sessions ----------------------------------------------------------------------------------


async def test_login_with_an_app_password_opens_a_session(
    http: httpx.AsyncClient, pds: PdsServer, alice: PdsAccount, alice_session: Credentials
) -> None:
    assert alice_session.extra["did"] == alice.did
    assert alice_session.extra["handle"] == alice.handle
    assert alice_session.extra["pds_url"].endswith(f":{pds.url.rsplit(':', 1)[1]}")
    assert alice_session.scopes == ("com.atproto.appPass",)
    assert alice_session.refresh_token
    assert alice_session.expires_at is not None
    assert datetime.now(UTC) < alice_session.expires_at < datetime.now(UTC) + timedelta(days=1)
    assert SECRET not in repr(alice_session)
    assert alice_session.access_token not in repr(alice_session)


async def test_login_with_a_wrong_password_is_refused_in_plain_words(
    http: httpx.AsyncClient, pds: PdsServer, alice: PdsAccount
) -> None:
    with pytest.raises(Refused) as caught:
        await connector_for(http, pds).login(alice.handle, "not-the-app-password")
    assert caught.value.status == 401
    assert "did not accept this handle and app password" in caught.value.message
    assert "not-the-app-password" not in caught.value.message


async def test_login_with_the_account_password_is_refused_and_the_session_ended(
    http: httpx.AsyncClient, pds: PdsServer, bob: PdsAccount
) -> None:
    sessions: list[str] = []

    async def spy(request: httpx.Request) -> None:
        if request.url.path.endswith("deleteSession"):
            sessions.append(request.headers["authorization"].removeprefix("Bearer "))

    async with httpx.AsyncClient(event_hooks={"request": [spy]}) as watched:
        with pytest.raises(Refused) as caught:
            await connector_for(watched, pds).login(bob.handle, bob.password)
    assert "app password" in caught.value.message
    assert len(sessions) == 1  # the refresh token of the session we would not keep
    left_over = await http.post(
        f"{pds.url}/xrpc/com.atproto.server.refreshSession",
        headers={"Authorization": f"Bearer {sessions[0]}"},
    )
    assert left_over.status_code in {400, 401}  # the PDS no longer knows that session


async def test_refresh_gives_a_working_session(
    http: httpx.AsyncClient, pds: PdsServer, alice: PdsAccount
) -> None:
    first = await connector_for(http, pds).login(alice.handle, alice.app_password)
    renewed = await connector_for(http, pds, first).refresh(None, None)
    assert renewed.refresh_token != first.refresh_token  # a new session id (jti)
    assert renewed.extra["did"] == alice.did
    assert renewed.expires_at is not None
    accounts = await connector_for(http, pds, renewed).identify()
    assert accounts[0].account_id == alice.did


async def test_revoke_ends_the_session_at_the_pds(http: httpx.AsyncClient, pds: PdsServer) -> None:
    # An account of its own: alice's handle has sign-ins to spare for the other tests.
    carol = pds.create_account(f"carol{uuid.uuid4().hex[:6]}")
    session = await connector_for(http, pds).login(carol.handle, carol.app_password)
    assert Capability.REVOKE in BlueskyConnector.capabilities
    await connector_for(http, pds, session).revoke(None, None)
    with pytest.raises(AuthExpired):  # the PDS refuses the old refresh JWT
        await connector_for(http, pds, session).refresh(None, None)
    await connector_for(http, pds, session).revoke(None, None)  # twice is no error


async def test_refresh_with_a_token_the_pds_never_issued_is_auth_expired(
    http: httpx.AsyncClient, pds: PdsServer, alice_session: Credentials
) -> None:
    bogus = Credentials(access_token=SECRET, refresh_token=SECRET, extra=alice_session.extra)
    with pytest.raises(AuthExpired) as caught:
        await connector_for(http, pds, bogus).refresh(None, None)
    assert SECRET not in caught.value.message
    assert "reconnect the channel" in caught.value.message


async def test_an_expired_access_token_is_auth_expired(
    http: httpx.AsyncClient, pds: PdsServer, alice_session: Credentials, publishable_post: Post
) -> None:
    # Signed with the PDS's own key, so only the expiry makes it refuse (400 ExpiredToken).
    past = int(time.time()) - 60
    expired = signed_like(alice_session.access_token, pds.jwt_secret, iat=past - 60, exp=past)
    stale = Credentials(access_token=expired, extra=alice_session.extra)
    with pytest.raises(AuthExpired) as caught:
        await connector_for(http, pds, stale).publish(publishable_post)
    assert "expired" in caught.value.message.lower()
    assert expired not in caught.value.message


async def test_identify_reads_the_session_and_the_profile_record(
    connector: BlueskyConnector, http: httpx.AsyncClient, alice: PdsAccount
) -> None:
    (account,) = await connector.identify()
    assert account.account_id == alice.did
    assert account.handle == alice.handle
    assert account.name == "Alice at the Agency"
    assert account.kind == "user"
    assert account.avatar_url is not None
    avatar = await http.get(account.avatar_url)  # served by the PDS itself
    assert (avatar.status_code, avatar.content) == (200, AVATAR)


async def test_identify_without_a_profile_record_names_the_account_by_its_handle(
    http: httpx.AsyncClient, pds: PdsServer, bob: PdsAccount
) -> None:
    session = await connector_for(http, pds).login(bob.handle, bob.app_password)
    (account,) = await connector_for(http, pds, session).identify()
    assert (account.name, account.handle, account.avatar_url) == (bob.handle, bob.handle, None)


# -- reconciling and deleting ------------------------------------------------------------------


async def test_find_published_matches_on_the_text(
    connector: BlueskyConnector, publishable_post: Post
) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    assert await connector.find_published(publishable_post, since) is None
    published = await connector.publish(publishable_post)
    await connector.publish(Post(text="Another post written after it"))

    found = await connector.find_published(publishable_post, since)
    assert found is not None
    assert (found.post_id, found.url) == (published.post_id, published.url)
    other = Post(text=publishable_post.text + " (edited)")
    assert await connector.find_published(other, since) is None
    assert await connector.find_published(publishable_post, datetime.now(UTC)) is None


async def test_delete_removes_the_record_from_the_pds(
    connector: BlueskyConnector, http: httpx.AsyncClient, pds: PdsServer, publishable_post: Post
) -> None:
    published = await connector.publish(publishable_post)
    assert await record_of(http, pds, published.post_id) is not None
    await connector.delete(published.post_id)
    assert await record_of(http, pds, published.post_id) is None
    since = datetime.now(UTC) - timedelta(minutes=1)
    assert await connector.find_published(publishable_post, since) is None


async def test_delete_refuses_a_post_of_another_account(
    connector: BlueskyConnector, bob: PdsAccount
) -> None:
    with pytest.raises(Refused):
        await connector.delete(f"at://{bob.did}/{POST}/3jzfcijpj2z2a")
    with pytest.raises(Refused):
        await connector.delete("https://bsky.app/profile/bob.test/post/3jzfcijpj2z2a")


# -- replies -------------------------------------------------------------------------------------


async def _strong_ref(http: httpx.AsyncClient, pds: PdsServer, uri: str) -> dict[str, str]:
    """The post's URI and CID as the PDS holds them, read without our code."""
    repo, collection, rkey = uri.removeprefix("at://").split("/")
    answer = await http.get(
        f"{pds.url}/xrpc/com.atproto.repo.getRecord",
        params={"repo": repo, "collection": collection, "rkey": rkey},
    )
    answer.raise_for_status()
    return {"uri": answer.json()["uri"], "cid": answer.json()["cid"]}


def _on(uri: str) -> Comment:
    return Comment(comment_id=uri, post_id=uri, text="")


async def test_a_reply_goes_under_the_post_and_a_reply_to_it_stays_in_the_thread(
    connector: BlueskyConnector, http: httpx.AsyncClient, pds: PdsServer, publishable_post: Post
) -> None:
    published = await connector.publish(publishable_post)
    first = await connector.reply(_on(published.post_id), "More in the thread #agency")
    post_ref = await _strong_ref(http, pds, published.post_id)
    stored = await record_of(http, pds, first.comment_id)
    assert stored is not None  # the PDS validated it against app.bsky.feed.post
    assert stored["reply"] == {"root": post_ref, "parent": post_ref}
    assert [faceted(stored["text"], f) for f in stored["facets"]] == ["#agency"]
    assert (first.parent_id, first.post_id) == (published.post_id, published.post_id)
    assert first.author_id == connector.credentials.extra["did"]

    second = await connector.reply(first, "And the last word")
    stored = await record_of(http, pds, second.comment_id)
    assert stored is not None
    assert stored["reply"]["root"] == post_ref
    assert stored["reply"]["parent"] == await _strong_ref(http, pds, first.comment_id)


async def test_a_reply_to_another_accounts_post_starts_its_thread_there(
    connector: BlueskyConnector, http: httpx.AsyncClient, pds: PdsServer, bob: PdsAccount
) -> None:
    rkey = "3jzfcijpj2z2b"  # a TID, as the lexicon asks of post keys
    record = {
        "$type": POST,
        "text": "Does the shop open on Sunday?",
        "createdAt": "2026-11-23T09:00:00.000Z",
    }
    pds.put_record(bob, POST, rkey, record)
    question = f"at://{bob.did}/{POST}/{rkey}"
    answer = await connector.reply(_on(question), "Yes, from 10 to 13.")
    stored = await record_of(http, pds, answer.comment_id)
    assert stored is not None
    ref = await _strong_ref(http, pds, question)
    assert stored["reply"] == {"root": ref, "parent": ref}
    with pytest.raises(Refused):  # bob's post is bob's to delete
        await connector.delete_comment(_on(question))
    await connector.delete_comment(answer)
    assert await record_of(http, pds, answer.comment_id) is None


def test_a_first_comment_is_counted_as_a_reply_before_anything_is_sent() -> None:
    thread = "🧵" * 300  # 300 graphemes: a full reply
    assert BlueskyConnector.validate(Post(text="Hello", first_comment=thread)) == []
    [problem] = BlueskyConnector.validate(Post(text="Hello", first_comment=thread + "!"))
    assert (problem.field, problem.code) == ("first_comment", "first_comment_too_long")
    assert "301" in problem.message


async def test_replies_that_cannot_be_made_are_refused_in_words(
    connector: BlueskyConnector, publishable_post: Post
) -> None:
    published = await connector.publish(publishable_post)
    with pytest.raises(InvalidContent) as too_long:
        await connector.reply(_on(published.post_id), "word " * 70)
    assert [p.field for p in too_long.value.problems] == ["text"]
    await connector.delete(published.post_id)
    with pytest.raises(Refused, match="no longer exists"):
        await connector.reply(_on(published.post_id), "Too late")
    did = connector.credentials.extra["did"]
    with pytest.raises(Refused, match="only posts"):
        await connector.reply(_on(f"at://{did}/app.bsky.actor.profile/self"), "Hi")


# -- rate limits -------------------------------------------------------------------------------


async def test_rate_limit_headers_of_the_pds_are_read(
    http: httpx.AsyncClient, pds: PdsServer, alice_session: Credentials
) -> None:
    async def write() -> httpx.Response:
        return await http.post(
            f"{pds.url}/xrpc/com.atproto.repo.createRecord",
            headers={"Authorization": f"Bearer {alice_session.access_token}"},
            json={
                "repo": alice_session.extra["did"],
                "collection": POST,
                "record": {"$type": POST, "text": "quota", "createdAt": "2025-01-01T00:00:00Z"},
            },
        )

    before, after = rate_limit(await write()), rate_limit(await write())
    assert before.limit and before.window_seconds and before.reset_at
    assert before.reset_at > time.time()
    assert after.remaining is not None and before.remaining is not None
    assert after.remaining < before.remaining  # each post spends points of the hourly budget


async def test_a_real_429_gives_the_wait_from_the_reset_header(
    failing_connector: FailingConnector, publishable_post: Post, real_429: Answer
) -> None:
    reset = int(dict(real_429.headers)["ratelimit-reset"])
    with pytest.raises(RateLimited) as caught:
        await failing_connector(429).publish(publishable_post)
    assert caught.value.retry_after is not None
    assert abs(caught.value.retry_after - (reset - time.time())) < 5
    assert "30 calls per 5 min" in caught.value.message


# -- comments, metrics and hidden replies: AppView views through the PDS -------------------------


def _stamp(minutes_ago: float = 0) -> str:
    moment = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _reply(
    pds: PdsServer,
    author: PdsAccount,
    text: str,
    root: dict[str, str],
    parent: dict[str, str],
    minutes_ago: float = 0,
) -> dict[str, str]:
    """A reply written by another account, straight to the PDS: its strong reference."""
    record = {
        "$type": POST,
        "text": text,
        "createdAt": _stamp(minutes_ago),
        "reply": {"root": root, "parent": parent},
    }
    return pds.create_record(author, POST, record)


@pytest.fixture
async def conversation(
    connector: BlueskyConnector,
    http: httpx.AsyncClient,
    pds: PdsServer,
    bob: PdsAccount,
    carol: PdsAccount,
) -> dict[str, dict[str, str]]:
    """Alice's post; bob answers it (two hours ago), carol answers bob, alice answers carol."""
    published = await connector.publish(Post(text=f"What should we bake? {uuid.uuid4().hex[:6]}"))
    post = await _strong_ref(http, pds, published.post_id)
    bob_asks = _reply(pds, bob, "Croissants!", post, post, minutes_ago=120)
    carol_agrees = _reply(pds, carol, "Yes, with almonds", post, bob_asks)
    ours = await connector.reply(
        Comment(comment_id=carol_agrees["uri"], post_id=post["uri"], text=""), "Noted!"
    )
    return {"post": post, "bob": bob_asks, "carol": carol_agrees, "alice": {"uri": ours.comment_id}}


async def test_comments_are_the_replies_of_the_thread_nested_ones_too(
    connector: BlueskyConnector,
    conversation: dict[str, dict[str, str]],
    bob: PdsAccount,
    carol: PdsAccount,
    alice: PdsAccount,
) -> None:
    post = conversation["post"]["uri"]
    comments = await connector.comments(post)

    assert [(c.comment_id, c.parent_id) for c in comments] == [
        (conversation["bob"]["uri"], post),
        (conversation["carol"]["uri"], conversation["bob"]["uri"]),
        (conversation["alice"]["uri"], conversation["carol"]["uri"]),
    ]
    assert [(c.author_id, c.author_name, c.text) for c in comments] == [
        (bob.did, bob.handle, "Croissants!"),  # no profile record: the handle
        (carol.did, "Carol", "Yes, with almonds"),
        (alice.did, "Alice at the Agency", "Noted!"),
    ]
    assert all(c.post_id == post and not c.hidden for c in comments)
    created = comments[0].created_at
    assert created is not None
    assert abs(created - (datetime.now(UTC) - timedelta(hours=2))) < timedelta(minutes=1)


async def test_comments_since_leave_out_older_replies(
    connector: BlueskyConnector, conversation: dict[str, dict[str, str]]
) -> None:
    since = datetime.now(UTC) - timedelta(hours=1)
    recent = await connector.comments(conversation["post"]["uri"], since=since)
    assert [c.comment_id for c in recent] == [
        conversation["carol"]["uri"],
        conversation["alice"]["uri"],
    ]


async def test_the_pds_forwards_the_query_to_the_appview_with_service_auth(
    connector: BlueskyConnector,
    conversation: dict[str, dict[str, str]],
    appview: FakeAppView,
    alice: PdsAccount,
) -> None:
    await connector.comments(conversation["post"]["uri"])

    seen = appview.seen[-1]  # the fake verified the signature with alice's key from the PLC
    assert seen.nsid == "app.bsky.feed.getPostThread"
    assert seen.params["uri"] == [conversation["post"]["uri"]]
    assert seen.claims["iss"] == alice.did
    assert (seen.claims["aud"], seen.claims["lxm"]) == (appview.did, seen.nsid)
    assert seen.token != connector.credentials.access_token  # the PDS's token, not ours


async def test_another_appview_is_named_in_the_proxy_header(
    connector: BlueskyConnector, conversation: dict[str, dict[str, str]], appview: FakeAppView
) -> None:
    forwarded = len(appview.seen)
    connector.appview = "did:plc:nobodyhereatall2345abcd#bsky_appview"  # not in the directory
    with pytest.raises(Refused, match="resolve proxy did"):
        await connector.comments(conversation["post"]["uri"])
    assert len(appview.seen) == forwarded


async def test_comments_of_a_deleted_post_are_refused(
    connector: BlueskyConnector, publishable_post: Post
) -> None:
    published = await connector.publish(publishable_post)
    await connector.delete(published.post_id)
    with pytest.raises(Refused, match="not show this post"):
        await connector.comments(published.post_id)
    with pytest.raises(Refused, match="not show this post"):
        await connector.post_metrics(published.post_id)


async def test_post_metrics_count_likes_reposts_replies_and_quotes_of_other_accounts(
    connector: BlueskyConnector,
    conversation: dict[str, dict[str, str]],
    pds: PdsServer,
    bob: PdsAccount,
    carol: PdsAccount,
) -> None:
    post = conversation["post"]
    for account in (bob, carol):
        like = {"$type": "app.bsky.feed.like", "subject": post, "createdAt": _stamp()}
        pds.create_record(account, "app.bsky.feed.like", like)
    repost = {"$type": "app.bsky.feed.repost", "subject": post, "createdAt": _stamp()}
    pds.create_record(bob, "app.bsky.feed.repost", repost)
    quote = {
        "$type": POST,
        "text": "Look at this",
        "createdAt": _stamp(),
        "embed": {"$type": "app.bsky.embed.record", "record": post},
    }
    pds.create_record(carol, POST, quote)

    metrics = await connector.post_metrics(post["uri"])
    assert (metrics.likes, metrics.shares, metrics.comments) == (2, 1, 1)  # bob's direct reply
    assert metrics.raw["quoteCount"] == 1
    assert (metrics.impressions, metrics.reach, metrics.clicks) == (None, None, None)


async def test_account_metrics_count_followers_follows_and_posts(
    connector: BlueskyConnector,
    pds: PdsServer,
    alice: PdsAccount,
    bob: PdsAccount,
    carol: PdsAccount,
) -> None:
    for account in (bob, carol):
        follow = {"$type": "app.bsky.graph.follow", "subject": alice.did, "createdAt": _stamp()}
        pds.create_record(account, "app.bsky.graph.follow", follow)
    follow = {"$type": "app.bsky.graph.follow", "subject": bob.did, "createdAt": _stamp()}
    pds.create_record(alice, "app.bsky.graph.follow", follow)
    before = await connector.account_metrics()
    await connector.publish(Post(text="One more for the count"))

    metrics = await connector.account_metrics()
    assert before.posts  # every post the tests published so far
    posts = before.posts + 1
    assert metrics == AccountMetrics(
        followers=2,
        following=1,
        posts=posts,
        raw={"followersCount": 2, "followsCount": 1, "postsCount": posts},
    )


async def _gate(http: httpx.AsyncClient, pds: PdsServer, post_uri: str) -> dict[str, Any] | None:
    """The thread gate of a post as the PDS holds it (``uri``, ``cid``, ``value``)."""
    repo, _, rkey = post_uri.removeprefix("at://").split("/")
    answer = await http.get(
        f"{pds.url}/xrpc/com.atproto.repo.getRecord",
        params={"repo": repo, "collection": "app.bsky.feed.threadgate", "rkey": rkey},
    )
    if answer.status_code == 400:
        return None
    answer.raise_for_status()
    found: dict[str, Any] = answer.json()
    return found


async def test_hiding_a_reply_writes_the_thread_gate_and_comments_show_it_hidden(
    connector: BlueskyConnector,
    http: httpx.AsyncClient,
    pds: PdsServer,
    conversation: dict[str, dict[str, str]],
) -> None:
    post = conversation["post"]["uri"]
    bob_says = Comment(comment_id=conversation["bob"]["uri"], post_id=post, text="")
    await connector.hide_comment(bob_says)

    gate = await _gate(http, pds, post)
    assert gate is not None  # the PDS validated it against app.bsky.feed.threadgate
    assert gate["value"]["post"] == post
    assert gate["value"]["hiddenReplies"] == [bob_says.comment_id]
    assert "allow" not in gate["value"]  # no rule: everyone may still reply
    comments = {c.comment_id: c.hidden for c in await connector.comments(post)}
    assert comments == {
        conversation["bob"]["uri"]: True,
        conversation["carol"]["uri"]: False,
        conversation["alice"]["uri"]: False,
    }

    await connector.hide_comment(bob_says)  # twice: nothing written
    again = await _gate(http, pds, post)
    assert again is not None and again["cid"] == gate["cid"]

    await connector.hide_comment(bob_says, hidden=False)
    shown = await _gate(http, pds, post)
    assert shown is not None and shown["value"]["hiddenReplies"] == []
    assert not any(c.hidden for c in await connector.comments(post))


async def test_hiding_keeps_the_reply_rules_and_replies_hidden_meanwhile(
    connector: BlueskyConnector,
    http: httpx.AsyncClient,
    pds: PdsServer,
    alice: PdsAccount,
    conversation: dict[str, dict[str, str]],
) -> None:
    post = conversation["post"]["uri"]
    rkey = post.rsplit("/", 1)[1]
    mentioned = {"$type": "app.bsky.feed.threadgate#mentionRule"}
    gate = {"$type": "app.bsky.feed.threadgate", "post": post, "createdAt": _stamp()}
    pds.put_record(alice, "app.bsky.feed.threadgate", rkey, {**gate, "allow": [mentioned]})
    sneaked = False

    async def meanwhile(request: httpx.Request) -> None:
        # Between our read of the gate and our write, someone hides carol's reply.
        nonlocal sneaked
        if request.url.path.endswith("putRecord") and not sneaked:
            sneaked = True
            hidden = {"allow": [mentioned], "hiddenReplies": [conversation["carol"]["uri"]]}
            pds.put_record(alice, "app.bsky.feed.threadgate", rkey, {**gate, **hidden})

    async with httpx.AsyncClient(event_hooks={"request": [meanwhile]}) as watched:
        racing = connector_for(watched, pds, connector.credentials)
        await racing.hide_comment(Comment(conversation["bob"]["uri"], post, ""))

    stored = await _gate(http, pds, post)
    assert sneaked and stored is not None
    assert stored["value"]["allow"] == [mentioned]
    assert stored["value"]["hiddenReplies"] == [
        conversation["carol"]["uri"],
        conversation["bob"]["uri"],
    ]


async def test_only_replies_in_our_own_threads_can_be_hidden(
    connector: BlueskyConnector,
    http: httpx.AsyncClient,
    pds: PdsServer,
    bob: PdsAccount,
    carol: PdsAccount,
    conversation: dict[str, dict[str, str]],
) -> None:
    theirs = pds.create_record(bob, POST, {"$type": POST, "text": "Bob's", "createdAt": _stamp()})
    under_theirs = _reply(pds, carol, "Carol answers Bob", theirs, theirs)
    with pytest.raises(Refused, match="another account"):
        await connector.hide_comment(Comment(under_theirs["uri"], theirs["uri"], ""))
    assert await _gate(http, pds, theirs["uri"]) is None

    post = conversation["post"]["uri"]
    with pytest.raises(Refused, match="not a reply"):
        await connector.hide_comment(Comment(post, post, ""))


def test_a_thread_gate_hides_at_most_300_replies() -> None:
    full = {"hiddenReplies": [f"at://did:plc:x/{POST}/{n}" for n in range(MAX_HIDDEN)]}
    with pytest.raises(Refused, match="at most 300"):
        with_reply(full, "at://post", "at://one-more", True, _stamp())
    assert with_reply(full, "at://post", full["hiddenReplies"][0], True, _stamp()) is None


def test_comments_and_metrics_are_declared() -> None:
    assert {
        Capability.COMMENTS,
        Capability.POST_METRICS,
        Capability.ACCOUNT_METRICS,
        Capability.HIDE_COMMENT,
    } <= BlueskyConnector.capabilities
