"""Mastodon connector: the shared contract against Prism serving Mastodon 4.7's description.

Prism stands in for one instance: its URL is the instance's base URL, from which the
connector derives the OAuth endpoints. Where Prism cannot give a particular answer (media
still processing, a 429 with Mastodon's rate-limit headers, statuses with given content),
a fake shaped after Mastodon's reference pages answers instead:
- https://docs.joinmastodon.org/methods/media/#v2 (202, then 206 until processed)
- https://docs.joinmastodon.org/api/rate-limits/ (X-RateLimit-Reset as an ISO 8601 time)
- https://docs.joinmastodon.org/entities/Status/#content (HTML content)
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from agency.connector import (
    AuthExpired,
    Capability,
    ConnectorContext,
    Credentials,
    InvalidContent,
    Media,
    Post,
    RateLimited,
    Refused,
)
from agency.connector.base import BytesSource, Comment
from agency.connector.oauth import OAuthClient, authorization_request, exchange_code
from agency_connectors.mastodon import MastodonConnector
from tests.connectors.contract import ConnectorContract
from tests.support.prism import RequestViolation

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
ZWJ = "\u200d"


def image(alt_text: str | None = None) -> Media:
    return Media("image", "image/png", len(PNG), alt_text=alt_text, source=BytesSource(PNG))


@pytest.fixture
def connector(prism_mastodon: str, peer_http: httpx.AsyncClient) -> MastodonConnector:
    credentials = Credentials(access_token="user-token")
    return MastodonConnector(ConnectorContext(peer_http, prism_mastodon, credentials))


@pytest.fixture
def publishable_post() -> Post:
    return Post(
        text="Doors open at 9 tomorrow, see you there! @friend@example.social",
        media=(image("The shop door"),),
        options={"visibility": "public"},
        idempotency_key="3f6c1d6e-publication-42",
    )


@pytest.fixture
def failing_connector(
    prism_mastodon: str, failing_prism: Any
) -> Callable[[int], MastodonConnector]:
    return failing_prism(MastodonConnector, prism_mastodon)


class TestMastodonContract(ConnectorContract):
    connector_class = MastodonConnector


# -- text as Mastodon counts it (StatusLengthValidator) ---------------------------------------


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("Hello", 5),
        ("https://example.com/" + "a" * 100, 23),  # every link counts 23
        ("see example.com", 15),  # without a scheme it is plain text
        ("@alice@mastodon.social hi", 9),  # a remote mention counts as @alice
        ("email me at bob@example.com", 27),  # an address is no mention
        (f"\U0001f468{ZWJ}\U0001f469{ZWJ}\U0001f467 e\u0301", 3),  # grapheme clusters
        ("🇫🇷🇩🇪", 2),
    ],
)
def test_text_is_counted_as_mastodon_counts_it(text: str, length: int) -> None:
    assert MastodonConnector.count_text(text) == length


def test_the_content_warning_counts_towards_the_limit() -> None:
    post = Post(text="a" * 450, options={"spoiler_text": "b" * 60})
    assert [p.code for p in MastodonConnector.validate(post)] == ["text_too_long"]
    long_links = " ".join(["https://example.com/" + "p" * 80] * 20)  # 20 x 23 + 19 spaces
    assert MastodonConnector.validate(Post(text=long_links)) == []


def test_mastodon_specific_problems_are_all_listed() -> None:
    post = Post(
        text="",
        media=(Media("image", "image/png", 10),),
        options={"visibility": "everyone"},
    )
    codes = {p.code for p in MastodonConnector.validate(post)}
    assert codes == {"visibility"}  # the API validates descriptions; bytes come to publish
    assert [p.code for p in MastodonConnector.delivery_problems(post)] == ["no_file"]
    assert {p.code for p in MastodonConnector.validate(Post(text=" "))} == {"empty"}


# -- requests, held against Mastodon's description by Prism ---------------------------------


async def test_publish_sends_the_idempotency_key_and_the_media(
    connector: MastodonConnector, publishable_post: Post, sent: list[httpx.Request]
) -> None:
    published = await connector.publish(publishable_post)
    upload, create = sent
    assert (upload.method, upload.url.path) == ("POST", "/api/v2/media")
    assert b'name="description"\r\n\r\nThe shop door' in upload.content
    assert b'filename="upload.png"' in upload.content and PNG in upload.content
    assert (create.method, create.url.path) == ("POST", "/api/v1/statuses")
    assert create.headers["Idempotency-Key"] == "3f6c1d6e-publication-42"
    assert create.headers["Authorization"] == "Bearer user-token"
    body = json.loads(create.content)
    assert body == {
        "status": publishable_post.text,
        "media_ids": [body["media_ids"][0]],
        "visibility": "public",
    }
    assert published.post_id


async def test_media_staged_ahead_are_named_by_the_status_alone(
    connector: MastodonConnector, publishable_post: Post, sent: list[httpx.Request]
) -> None:
    staged = await connector.stage_media(publishable_post.media[0])
    [upload] = sent
    assert (upload.method, upload.url.path) == ("POST", "/api/v2/media")
    assert b'name="description"\r\n\r\nThe shop door' in upload.content
    assert staged.expires_at <= datetime.now(UTC) + timedelta(hours=23)
    named = dataclasses.replace(publishable_post.media[0], source=None, staged=staged.reference)
    published = await connector.publish(dataclasses.replace(publishable_post, media=(named,)))
    [create] = sent[1:]  # at the post's time: the status, nothing uploaded
    assert (create.method, create.url.path) == ("POST", "/api/v1/statuses")
    assert json.loads(create.content)["media_ids"] == [staged.reference]
    assert published.post_id


async def test_an_attachment_no_status_will_take_is_deleted(
    connector: MastodonConnector, publishable_post: Post, sent: list[httpx.Request]
) -> None:
    staged = await connector.stage_media(publishable_post.media[0])
    assert await connector.discard_staged([staged.reference]) is True
    [delete] = sent[1:]
    assert (delete.method, delete.url.path) == ("DELETE", f"/api/v1/media/{staged.reference}")


async def test_an_attachment_already_gone_or_taken_is_left_as_it_is(
    prism_mastodon: str, failing_prism: Any
) -> None:
    for status, deleted in ((404, True), (422, False)):
        connector = failing_prism(MastodonConnector, prism_mastodon)(status)
        assert await connector.discard_staged(["108"]) is deleted


async def test_no_idempotency_key_is_invented(
    connector: MastodonConnector, sent: list[httpx.Request]
) -> None:
    await connector.publish(Post(text="Hello", link="https://example.com/a"))
    [create] = sent
    assert "Idempotency-Key" not in create.headers
    assert json.loads(create.content) == {"status": "Hello\nhttps://example.com/a"}


async def test_register_app_on_the_instance(
    connector: MastodonConnector, sent: list[httpx.Request]
) -> None:
    client_id, secret = await connector.register_app(
        "Agency", "https://agency.example/callback", "https://agency.example"
    )
    [request] = sent
    assert request.url.path == "/api/v1/apps"
    assert "Authorization" not in request.headers
    assert json.loads(request.content) == {
        "client_name": "Agency",
        "redirect_uris": ["https://agency.example/callback"],
        "scopes": "read write",
        "website": "https://agency.example",
    }
    assert client_id and secret


async def test_the_code_is_exchanged_as_a_form_the_description_allows(
    peer_http: httpx.AsyncClient, prism_mastodon: str, sent: list[httpx.Request]
) -> None:
    # RFC 6749 section 4.1.3 sends the token request as a form, which Mastodon reads and its
    # description now lists; Prism fails the test on any body it does not allow.
    meta = MastodonConnector.oauth_metadata(prism_mastodon)
    client = OAuthClient("client-id", "client-secret", "https://agency.example/callback")
    credentials = await exchange_code(peer_http, meta, client, "granted", "verifier")
    [request] = sent
    assert request.url.path == "/oauth/token"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.content.decode()) == {
        "grant_type": ["authorization_code"],
        "code": ["granted"],
        "redirect_uri": ["https://agency.example/callback"],
        "code_verifier": ["verifier"],
        "client_id": ["client-id"],
        "client_secret": ["client-secret"],
    }
    assert credentials.access_token


def test_oauth_endpoints_come_from_the_instance() -> None:
    meta = MastodonConnector.oauth_metadata("https://social.example.org/")
    assert meta.authorize_url == "https://social.example.org/oauth/authorize"
    assert meta.token_url == "https://social.example.org/oauth/token"
    request = authorization_request(meta, OAuthClient("cid", "secret", "https://app/cb"))
    query = parse_qs(urlsplit(request.url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["scope"] == ["read write"]


async def test_tokens_are_not_refreshed(connector: MastodonConnector) -> None:
    with pytest.raises(AuthExpired):
        await connector.refresh("cid", "secret")


async def test_comments_are_the_descendants(
    connector: MastodonConnector, sent: list[httpx.Request]
) -> None:
    comments = await connector.comments("109")
    assert sent[0].url.path == "/api/v1/statuses/109/context"
    assert comments and all(c.post_id == "109" and c.author_id for c in comments)


async def test_mentions_are_read_from_the_notifications(
    connector: MastodonConnector, sent: list[httpx.Request]
) -> None:
    mentions = await connector.mentions(datetime(2000, 1, 1, tzinfo=UTC))
    assert sent[0].url.path == "/api/v1/notifications"
    assert parse_qs(sent[0].url.query.decode()) == {"types[]": ["mention"], "limit": ["80"]}
    assert mentions, "the spec's example notification is a mention with its status"
    for mention in mentions:
        assert mention.post_id == mention.comment_id and mention.parent_id is None
        assert mention.author_id and mention.author_name and mention.created_at
    # Newer than every sample: nothing.
    assert await connector.mentions(datetime(2999, 1, 1, tzinfo=UTC)) == []


async def test_reply_mentions_the_author(
    connector: MastodonConnector, sent: list[httpx.Request]
) -> None:
    comment = Comment("110", "109", "Open on Sunday?", author_id="7", author_name="ann@example.org")
    await connector.reply(comment, "Yes, from 10!")
    assert json.loads(sent[0].content) == {
        "status": "@ann@example.org Yes, from 10!",
        "in_reply_to_id": "110",
    }


async def test_private_messages_are_the_conversations_last_statuses(
    connector: MastodonConnector, sent: list[httpx.Request]
) -> None:
    written = await connector.private_messages(datetime(2000, 1, 1, tzinfo=UTC))
    assert (sent[0].url.path, parse_qs(sent[0].url.query.decode())) == (
        "/api/v1/conversations",
        {"limit": ["40"]},
    )
    assert written, "the description's conversation has a last status"
    for message in written:
        assert message.post_id and message.comment_id and message.author_id
    # The last status answers another: what it answers is read too (the description's
    # ancestors say no visibility, so none is taken for a direct message).
    last = written[0]
    assert last.parent_id
    assert sent[1].url.path == f"/api/v1/statuses/{last.comment_id}/context"
    assert await connector.private_messages(datetime(2999, 1, 1, tzinfo=UTC)) == []


async def test_a_private_answer_is_a_direct_status_to_its_author(
    connector: MastodonConnector, sent: list[httpx.Request]
) -> None:
    message = Comment("112", "418450", "Where is my parcel?", author_id="8", author_name="bo")
    await connector.reply_privately(message, "We are looking.", "agency-answer-1")
    assert json.loads(sent[0].content) == {
        "status": "@bo We are looking.",
        "in_reply_to_id": "112",
        "visibility": "direct",
    }
    assert sent[0].headers["Idempotency-Key"] == "agency-answer-1"


async def test_only_our_own_replies_are_deleted(
    connector: MastodonConnector, sent: list[httpx.Request]
) -> None:
    [me] = await connector.identify()
    someone_else = Comment("110", "109", "Spam", author_id=me.account_id + "-other")
    with pytest.raises(Refused, match="only your own"):
        await connector.delete_comment(someone_else)
    assert [r.method for r in sent] == ["GET", "GET"]
    await connector.delete_comment(Comment("111", "109", "Oops", author_id=me.account_id))
    assert (sent[-1].method, sent[-1].url.path) == ("DELETE", "/api/v1/statuses/111")


# -- answers only a fake can give (shaped after Mastodon's reference pages) ------------------


@pytest.fixture
def fake_instance(fake_network: Any) -> Callable[[Any], MastodonConnector]:
    credentials = Credentials(access_token="user-token", extra={"account_id": "7"})
    return lambda handler: fake_network(MastodonConnector, credentials, handler)


async def test_media_is_polled_until_processed(
    fake_instance: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("agency_connectors.mastodon.MEDIA_CHECK_SECONDS", 0)
    seen: list[str] = []
    answers = iter([202, 206, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.url.path == "/api/v1/statuses":
            return httpx.Response(
                200, json={"id": "900", "url": "https://mastodon.network.test/@me/900"}
            )
        status = next(answers)
        url = None if status != 200 else "https://files.social.test/1.png"
        return httpx.Response(status, json={"id": "55", "type": "image", "url": url})

    published = await fake_instance(handler).publish(Post(text="pic", media=(image(),)))
    assert seen == [
        "POST /api/v2/media",
        "GET /api/v1/media/55",
        "GET /api/v1/media/55",
        "POST /api/v1/statuses",
    ]
    assert published.url == "https://mastodon.network.test/@me/900"


async def test_find_published_matches_the_html_content(fake_instance: Any) -> None:
    asked: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        link = (
            '<a href="https://example.com/menu/spring" rel="nofollow noopener" target="_blank">'
            '<span class="invisible">https://</span><span class="ellipsis">example.com/menu/</span>'
            '<span class="invisible">spring</span></a>'
        )
        mention = '<span class="h-card"><a href="https://example.social/@friend">@<span>friend</span></a></span>'
        statuses = [
            {"id": "1", "created_at": "2026-01-01T09:00:00.000Z", "content": "<p>Old news</p>"},
            {
                "id": "2",
                "created_at": "2026-01-01T11:00:00.000Z",
                "url": "https://mastodon.network.test/@me/2",
                "content": f"<p>Fish &amp; chips<br />today {link} {mention}</p>",
            },
        ]
        return httpx.Response(200, json=statuses)

    post = Post(text="Fish & chips\ntoday https://example.com/menu/spring @friend@example.social")
    found = await fake_instance(handler).find_published(post, datetime(2026, 1, 1, 10, tzinfo=UTC))
    assert found is not None and found.post_id == "2"
    assert asked[0].url.path == "/api/v1/accounts/7/statuses"
    older = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert await fake_instance(handler).find_published(post, older) is None


async def test_rate_limit_reset_becomes_retry_after(fake_instance: Any) -> None:
    reset = datetime.now(UTC) + timedelta(minutes=5)

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset.isoformat().replace("+00:00", "Z"),
        }
        return httpx.Response(429, headers=headers, json={"error": "Too many requests"})

    with pytest.raises(RateLimited) as caught:
        await fake_instance(handler).publish(Post(text="hello"))
    assert caught.value.retry_after is not None
    assert 290 <= caught.value.retry_after <= 300
    assert caught.value.message == "Mastodon answered: Too many requests"


async def test_a_status_the_instance_refuses_is_invalid_content(fake_instance: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        error = {"error": "Validation failed: Text character limit of 300 exceeded"}
        return httpx.Response(422, json=error)

    with pytest.raises(InvalidContent, match="character limit of 300"):
        await fake_instance(handler).publish(Post(text="a" * 400))


async def test_revoke_sends_what_mastodon_describes(
    connector: MastodonConnector, prism_mastodon: str
) -> None:
    # Prism answers 422 to a body its description does not allow (client_id, client_secret
    # and token, in JSON): a request it accepts is one Mastodon documents.
    assert Capability.REVOKE in MastodonConnector.capabilities
    meta = MastodonConnector.oauth_metadata(prism_mastodon)
    assert meta.revocation_url == f"{prism_mastodon}/oauth/revoke"
    await connector.revoke("client-id", "client-secret")
    with pytest.raises(RequestViolation, match="client_secret"):  # the check can fail
        await connector.revoke("client-id", None)


async def test_two_private_messages_between_pulls_are_both_read(fake_instance: Any) -> None:
    """A conversation shows only its last status; the direct statuses it answers are read
    from its context, not the public post the conversation began under, nor older ones."""
    ann = {"id": "21", "acct": "ann@example.org"}

    def status(sid: str, at: str, visibility: str, parent: str | None) -> dict[str, Any]:
        return {
            "id": sid,
            "created_at": f"2026-12-04T{at}:00.000Z",
            "content": f"<p>message {sid}</p>",
            "visibility": visibility,
            "in_reply_to_id": parent,
            "account": ann,
        }

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/conversations":
            last = status("4", "09:10", "direct", "3")
            return httpx.Response(200, json=[{"id": "c1", "accounts": [ann], "last_status": last}])
        assert request.url.path == "/api/v1/statuses/4/context"
        ancestors = [
            status("1", "08:00", "public", None),
            status("2", "08:30", "direct", "1"),
            status("3", "09:05", "direct", "2"),
        ]
        return httpx.Response(200, json={"ancestors": ancestors, "descendants": []})

    since = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    read = await fake_instance(handler).private_messages(since)
    assert [(m.comment_id, m.post_id, m.text) for m in read] == [
        ("4", "c1", "message 4"),
        ("3", "c1", "message 3"),
    ]
