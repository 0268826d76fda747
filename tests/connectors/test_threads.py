"""Threads against a fake Threads API held to Meta's reference pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from agency.connector import (
    AuthExpired,
    Comment,
    ConnectorContext,
    Credentials,
    InvalidContent,
    Media,
    Post,
    Refused,
)
from agency.connector.oauth import OAuthClient, authorization_request, exchange_code
from agency_connectors.threads import ThreadsConnector
from tests.connectors.contract import SECRET, ConnectorContract, FailingConnector
from tests.support.fakes.meta_threads import ThreadsFake

BASE = "http://threads.test/v1.0"


class Threads(ThreadsConnector):
    """The real connector, polling containers without waiting between polls."""

    container_poll_seconds = 0.0


def image(name: str = "bread") -> Media:
    return Media("image", "image/png", 90_000, public_url=f"https://cdn.test/{name}.png")


@pytest.fixture
def fake() -> ThreadsFake:
    return ThreadsFake(user_token=SECRET)


@pytest.fixture
async def http(fake: ThreadsFake) -> AsyncIterator[httpx.AsyncClient]:
    async with fake.client() as client:
        yield client


def build(http: httpx.AsyncClient, credentials: Credentials) -> Threads:
    return Threads(ConnectorContext(http=http, base_url=BASE, credentials=credentials))


@pytest.fixture
def connector(http: httpx.AsyncClient, fake: ThreadsFake) -> Threads:
    extra = {"user_id": fake.user["id"], "token": "long_lived"}
    return build(http, Credentials(access_token=SECRET, refresh_token=SECRET, extra=extra))


@pytest.fixture
def publishable_post() -> Post:
    return Post(text="Fresh loaves at 7 🍞", first_comment="Order ahead by phone!")


@pytest.fixture
def media_post() -> Post:
    return Post(text="Fresh loaves at 7", media=(image("a"), image("b")), first_comment="Call!")


@pytest.fixture
def failing_connector(
    http: httpx.AsyncClient, fake: ThreadsFake, connector: Threads
) -> FailingConnector:
    def make(status: int) -> Threads:
        fake.fail(status)
        return connector

    return make


def form(fake: ThreadsFake, path_end: str) -> list[dict[str, str]]:
    return [r.form() for r in fake.seen("POST", path_end)]


class TestThreads(ConnectorContract):
    connector_class = ThreadsConnector

    # -- text ---------------------------------------------------------------------------------

    def test_emojis_count_as_their_utf8_bytes(self) -> None:
        count = ThreadsConnector.count_text
        assert count("Hello") == 5
        assert count("é") == 1  # an accented letter is one character
        assert count("🍞") == 4
        assert count("❤️") == 6  # U+2764 (3 bytes) + variation selector U+FE0F (3 bytes)
        fits = Post(text="a" * 496 + "🍞")
        over = Post(text="a" * 497 + "🍞")
        assert ThreadsConnector.validate(fits) == []
        assert [p.code for p in ThreadsConnector.validate(over)] == ["text_too_long"]

    async def test_media_without_a_public_url_is_refused_before_any_call(
        self, connector: Threads, fake: ThreadsFake
    ) -> None:
        with pytest.raises(InvalidContent) as caught:
            await connector.publish(Post(text="Hi", media=(Media("image", "image/png", 9),)))
        assert caught.value.problems[0].code == "media_public_url"
        assert fake.requests == []

    # -- connecting and tokens ----------------------------------------------------------------

    def test_the_authorization_window_asks_for_comma_separated_scopes(self) -> None:
        meta = ThreadsConnector.oauth
        assert meta is not None
        request = authorization_request(meta, OAuthClient("app", "secret", "https://a.test/cb"))
        assert request.url.startswith("https://threads.net/oauth/authorize?")
        query = parse_qs(urlsplit(request.url).query)
        assert query["scope"] == [",".join(meta.scopes)] and "code_challenge" not in query

    async def test_login_then_exchange_then_refresh(
        self, http: httpx.AsyncClient, fake: ThreadsFake
    ) -> None:
        assert ThreadsConnector.oauth is not None
        meta = replace(ThreadsConnector.oauth, token_url="http://threads.test/oauth/access_token")
        code = fake.oauth.grant("https://a.test/cb")
        client = OAuthClient(fake.client_id, fake.client_secret, "https://a.test/cb")
        login = await exchange_code(http, meta, client, code, None)
        assert login.extra["user_id"] == fake.user["id"]

        [account] = await build(http, login).identify()
        kept = account.credentials
        assert account.account_id == fake.user["id"] and account.handle == "acme"
        # The login's token lasts an hour and renews itself: it is its own refresh token.
        assert kept is not None and kept.refresh_token == login.access_token
        assert kept.expires_at is not None
        assert kept.expires_at < datetime.now(UTC) + timedelta(hours=1, minutes=1)

        long_lived = await build(http, kept).refresh(fake.client_id, fake.client_secret)
        exchange = fake.seen("GET", "/access_token")[-1]
        assert exchange.path == "/access_token"  # above the versioned API path
        assert exchange.param("grant_type") == "th_exchange_token"
        assert fake.tokens[long_lived.access_token].long_lived
        assert long_lived.refresh_token == long_lived.access_token
        assert long_lived.expires_at is not None
        assert long_lived.expires_at > datetime.now(UTC) + timedelta(days=59)
        assert long_lived.extra["user_id"] == fake.user["id"]

        renewed = await build(http, long_lived).refresh(fake.client_id, None)
        [refresh] = fake.seen("GET", "/refresh_access_token")
        assert refresh.param("grant_type") == "th_refresh_token"
        assert refresh.param("client_secret") is None  # renewing needs no app secret
        assert renewed.access_token != long_lived.access_token

    async def test_a_short_lived_token_without_the_app_secret_cannot_be_renewed(
        self, http: httpx.AsyncClient, fake: ThreadsFake
    ) -> None:
        short = fake.issue("user", fake.user["id"])
        with pytest.raises(AuthExpired):
            await build(http, Credentials(access_token=short)).refresh(fake.client_id, None)

    async def test_a_refused_renewal_asks_for_a_reconnect(
        self, http: httpx.AsyncClient, fake: ThreadsFake
    ) -> None:
        short = fake.issue("user", fake.user["id"])
        with pytest.raises(AuthExpired):
            await build(http, Credentials(access_token=short)).refresh(fake.client_id, "wrong")
        fake.expire(SECRET)
        stale = Credentials(access_token=SECRET, extra={"token": "long_lived"})
        with pytest.raises(AuthExpired):
            await build(http, stale).refresh(fake.client_id, fake.client_secret)

    # -- publishing -----------------------------------------------------------------------------

    async def test_a_text_post_is_a_container_polled_then_published(
        self, connector: Threads, fake: ThreadsFake
    ) -> None:
        fake.processing_polls = 2
        post = Post(text="Menu is up", link="https://acme.test/menu")
        published = await connector.publish(post)
        assert form(fake, "/threads") == [
            {
                "media_type": "TEXT",
                "text": "Menu is up",
                "link_attachment": "https://acme.test/menu",
            }
        ]
        container = fake.of_kind("threads_container")[0]["id"]
        polls = [r for r in fake.requests if r.path.endswith(f"/{container}")]
        assert len(polls) == 3 and polls[0].param("fields") == "status,error_message"
        assert form(fake, "/threads_publish") == [{"creation_id": container}]
        assert fake.objects[published.post_id]["text"] == "Menu is up"
        assert published.url == fake.objects[published.post_id]["permalink"]

    async def test_the_first_comment_is_a_reply_to_the_new_thread(
        self, connector: Threads, fake: ThreadsFake, publishable_post: Post
    ) -> None:
        published = await connector.publish(publishable_post)
        reply = form(fake, "/threads")[1]
        assert reply == {
            "media_type": "TEXT",
            "text": "Order ahead by phone!",
            "reply_to_id": published.post_id,
        }
        assert len(fake.seen("POST", "/threads_publish")) == 2

    async def test_several_images_make_a_carousel(
        self, connector: Threads, fake: ThreadsFake
    ) -> None:
        published = await connector.publish(Post(text="Loaves", media=(image("a"), image("b"))))
        items, carousel = form(fake, "/threads")[:2], form(fake, "/threads")[2]
        assert items == [
            {
                "media_type": "IMAGE",
                "image_url": f"https://cdn.test/{n}.png",
                "is_carousel_item": "true",
            }
            for n in "ab"
        ]
        children = [c["id"] for c in fake.of_kind("threads_container")[:2]]
        assert carousel == {
            "media_type": "CAROUSEL",
            "children": ",".join(children),
            "text": "Loaves",
        }
        assert fake.objects[published.post_id]["media_type"] == "CAROUSEL_ALBUM"

    async def test_find_published_matches_the_text_since_a_moment(
        self, connector: Threads, fake: ThreadsFake
    ) -> None:
        since = datetime.now(UTC) - timedelta(minutes=2)
        published = await connector.publish(Post(text="Fresh  loaves\nat 7"))
        await connector.publish(Post(text="Other"))
        found = await connector.find_published(Post(text="Fresh loaves at 7"), since)
        assert found is not None and found.post_id == published.post_id
        [listing] = fake.seen("GET", f"/{fake.user['id']}/threads")
        assert listing.param("since") == str(int(since.timestamp()))
        assert await connector.find_published(Post(text="Never said"), since) is None

    async def test_delete(self, connector: Threads, fake: ThreadsFake) -> None:
        published = await connector.publish(Post(text="Oops"))
        await connector.delete(published.post_id)
        assert published.post_id not in fake.objects

    # -- replies and insights --------------------------------------------------------------------

    async def test_replies_with_their_parents_replying_and_hiding(
        self, connector: Threads, fake: ThreadsFake
    ) -> None:
        published = await connector.publish(Post(text="Hello"))
        top = fake.add_reply(published.post_id, "Nice", author="grace")
        nested = fake.add_reply(top, "Agreed", author="linus")
        replies = await connector.comments(published.post_id)
        assert [(r.text, r.author_name, r.parent_id) for r in replies] == [
            ("Nice", "grace", None),
            ("Agreed", "linus", top),
        ]
        answer = await connector.reply(replies[0], "Thank you")
        assert fake.objects[answer.comment_id]["_parent"] == top
        await connector.hide_comment(replies[0])
        assert fake.objects[top]["hide_status"] == "HIDDEN"
        hidden = {r.comment_id: r.hidden for r in await connector.comments(published.post_id)}
        assert hidden == {top: True, nested: False, answer.comment_id: False}
        await connector.hide_comment(replies[0], hidden=False)
        assert fake.objects[top]["hide_status"] == "UNHUSHED"
        calls = len(fake.requests)
        with pytest.raises(Refused, match="only replies made to the post"):
            await connector.hide_comment(Comment(nested, published.post_id, "x", parent_id=top))
        assert len(fake.requests) == calls

    async def test_metrics(self, connector: Threads, fake: ThreadsFake) -> None:
        published = await connector.publish(Post(text="Hello"))
        fake.add_reply(published.post_id, "Hi")
        metrics = await connector.post_metrics(published.post_id)
        assert (metrics.impressions, metrics.comments) == (42, 1)
        assert set(metrics.raw) == {"views", "likes", "replies", "reposts", "quotes", "shares"}
        assert (await connector.account_metrics()).followers == 321

    async def test_an_expired_token_asks_for_a_reconnect(
        self, connector: Threads, fake: ThreadsFake
    ) -> None:
        fake.expire(SECRET)
        with pytest.raises(AuthExpired) as caught:
            await connector.publish(Post(text="Hello"))
        assert SECRET not in str(caught.value)


async def test_an_expired_staged_container_is_made_again_at_its_time(
    connector: Threads, fake: ThreadsFake
) -> None:
    post = Post(text="Fresh loaves", media=(image(),))
    [staged] = await connector.stage_post(post)
    [old] = fake.of_kind("threads_container")
    fake.expire_container(old["id"])
    fake.requests.clear()
    named = replace(post, media=(replace(post.media[0], staged=staged.reference),))
    published = await connector.publish(named)
    [_, fresh] = fake.of_kind("threads_container")
    tried = [f["creation_id"] for f in form(fake, "/threads_publish")]
    assert tried == [old["id"], fresh["id"]]  # refused, its status read, made again
    assert fake.objects[published.post_id]["text"] == "Fresh loaves"
