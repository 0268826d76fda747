"""X connector: the shared contract against Prism serving X's description, plus X's own rules.

Where a behaviour cannot be had from Prism (a given answer body, a 429 with X's rate-limit
headers, media still processing), a fake built from X's reference pages answers instead:
- https://docs.x.com/x-api/fundamentals/rate-limits (x-rate-limit-* headers, epoch reset)
- https://docs.x.com/x-api/media/quickstart/media-upload-chunked (processing_info states)
- https://docs.x.com/x-api/users/get-posts (t.co links, HTML-escaped text)
- https://docs.x.com/fundamentals/authentication/oauth-2-0/authorization-code (token calls)
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from agency.connector import (
    ConnectorContext,
    Credentials,
    InvalidContent,
    Media,
    Post,
    RateLimited,
)
from agency.connector.base import BytesSource, Comment
from agency.connector.oauth import OAuthClient, authorization_request
from agency_connectors.x import XConnector
from tests.connectors.contract import ConnectorContract
from tests.support.prism import IDENTIFIER_EXAMPLE, RequestViolation

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
ZWJ = "\u200d"


def image(alt_text: str | None = None) -> Media:
    return Media("image", "image/png", len(PNG), 1, 1, alt_text=alt_text, source=BytesSource(PNG))


@pytest.fixture
def connector(prism_x: str, peer_http: httpx.AsyncClient) -> XConnector:
    return XConnector(ConnectorContext(peer_http, prism_x, Credentials(access_token="user-token")))


@pytest.fixture
def publishable_post() -> Post:
    return Post(text="Spring menu is out! https://example.com/menu #food", media=(image(),))


@pytest.fixture
def failing_connector(prism_x: str, failing_prism: Any) -> Callable[[int], XConnector]:
    return failing_prism(XConnector, prism_x)


class TestXContract(ConnectorContract):
    connector_class = XConnector


# -- text as X counts it (twitter-text conformance suite, validate.yml,
#    WeightedTweetsWithDiscountedEmojiCounterTest) -------------------------------------------


@pytest.mark.parametrize(
    ("text", "weighted"),
    [
        ("Hi http://test.co", 26),
        ("http://test.co", 23),
        ("Test https://test.com test https://test.com test.com test", 86),
        (f"H\U0001f431\u263a\U0001f468{ZWJ}\U0001f469{ZWJ}\U0001f467{ZWJ}\U0001f466", 7),
        ("\U0001f637\U0001f47e\U0001f621\U0001f525\U0001f4a9", 10),
        (f"\U0001f64b\U0001f3fd\U0001f468{ZWJ}\U0001f3a4", 4),
        ("A\u0301B", 2),  # normalised to one character before counting
        ("the故人西辞黄鹤楼", 17),
        ("randomurlrandomurlrandomurlrandomurlrandomurlrandomurlrandomurls.com", 68),
    ],
)
def test_text_is_counted_as_x_counts_it(text: str, weighted: int) -> None:
    assert XConnector.count_text(text) == weighted


def test_emoji_and_cjk_count_double_against_the_limit() -> None:
    assert XConnector.validate(Post(text="故" * 140)) == []
    codes = [p.code for p in XConnector.validate(Post(text="a" * 279 + "😷"))]
    assert codes == ["text_too_long"]
    # A long link still counts 23: this passes although it has 300 code points.
    assert XConnector.validate(Post(text="x" * 250 + " https://example.com/" + "p" * 50)) == []


def test_x_specific_problems_are_all_listed() -> None:
    gif = Media("gif", "image/gif", 1000, source=BytesSource(b"GIF89a"))
    without_file = Media("image", "image/png", 10)
    post = Post(text="", media=(gif, without_file), options={"reply_settings": "everyone"})
    codes = {p.code for p in XConnector.validate(post)}
    assert {"media_not_alone", "reply_settings"} <= codes
    assert "no_file" not in codes  # the API validates descriptions; bytes come to publish
    assert [p.field for p in XConnector.delivery_problems(post)] == ["media.1"]


def test_a_link_outside_the_text_is_appended_and_counted() -> None:
    post = Post(text="a" * 270, link="https://example.com/x")
    assert XConnector.text_of(post).endswith("\nhttps://example.com/x")
    assert [p.code for p in XConnector.validate(post)] == ["text_too_long"]


# -- requests, held against X's description by Prism ------------------------------------------


async def test_publish_uploads_media_in_chunks_then_posts_with_its_id(
    connector: XConnector, sent: list[httpx.Request]
) -> None:
    post = Post(
        text="New shop opening",
        media=(image("A shop front"),),
        options={"reply_settings": "following"},
    )
    published = await connector.publish(post)

    assert [(r.method, r.url.path) for r in sent] == [
        ("POST", "/2/media/upload/initialize"),
        ("POST", f"/2/media/upload/{IDENTIFIER_EXAMPLE}/append"),
        ("POST", f"/2/media/upload/{IDENTIFIER_EXAMPLE}/finalize"),
        ("POST", "/2/media/metadata"),
        ("POST", "/2/tweets"),
    ]
    initialize, append, _, metadata, create = sent
    assert json.loads(initialize.content) == {
        "media_type": "image/png",
        "total_bytes": len(PNG),
        "media_category": "tweet_image",
    }
    assert b'name="segment_index"\r\n\r\n0' in append.content
    assert PNG in append.content
    assert json.loads(metadata.content)["metadata"] == {"alt_text": {"text": "A shop front"}}
    assert json.loads(create.content) == {
        "text": "New shop opening",
        "media": {"media_ids": [IDENTIFIER_EXAMPLE]},
        "reply_settings": "following",
    }
    assert all(r.headers["Authorization"] == "Bearer user-token" for r in sent)
    assert published.post_id == IDENTIFIER_EXAMPLE
    assert published.url == f"https://x.com/i/web/status/{IDENTIFIER_EXAMPLE}"


async def test_the_peer_refuses_a_request_the_description_forbids(
    prism_x: str, peer_http: httpx.AsyncClient
) -> None:
    """The guard every test relies on: a malformed media id fails the test."""
    with pytest.raises(RequestViolation, match="media_ids"):
        await peer_http.post(
            f"{prism_x}/2/tweets",
            json={"text": "hi", "media": {"media_ids": ["not-a-number"]}},
            headers={"Authorization": "Bearer t"},
        )


async def test_invalid_content_is_refused_before_any_call(
    connector: XConnector, sent: list[httpx.Request]
) -> None:
    with pytest.raises(InvalidContent) as caught:
        await connector.publish(Post(text="a" * 281))
    assert [p.code for p in caught.value.problems] == ["text_too_long"]
    assert sent == []


async def test_comments_come_from_the_conversation_search(
    connector: XConnector, sent: list[httpx.Request]
) -> None:
    since = datetime.now(UTC) - timedelta(days=30)
    comments = await connector.comments(IDENTIFIER_EXAMPLE, since)
    query = parse_qs(sent[0].url.query.decode())
    assert sent[0].url.path == "/2/tweets/search/recent"
    assert query["query"] == [f"conversation_id:{IDENTIFIER_EXAMPLE} is:reply"]
    # Recent search reaches back seven days: an older bound is narrowed, not refused.
    start = datetime.fromisoformat(query["start_time"][0].replace("Z", "+00:00"))
    assert start > datetime.now(UTC) - timedelta(days=7)
    assert comments and all(c.post_id == IDENTIFIER_EXAMPLE for c in comments)


async def test_mentions_come_from_the_mentions_timeline(
    connector: XConnector, sent: list[httpx.Request]
) -> None:
    since = datetime(2026, 11, 1, tzinfo=UTC)
    mentions = await connector.mentions(since)
    (call,) = [r for r in sent if r.url.path.endswith("/mentions")]
    assert call.url.path.startswith("/2/users/") and call.url.path != "/2/users/me/mentions"
    query = parse_qs(call.url.query.decode())
    assert query["start_time"] == ["2026-11-01T00:00:00Z"]
    assert query["expansions"] == ["author_id"]
    assert mentions and all(
        m.post_id == m.comment_id and m.parent_id is None and m.text for m in mentions
    )


async def test_reply_and_hide_target_the_comment(
    connector: XConnector, sent: list[httpx.Request]
) -> None:
    comment = Comment(comment_id="1700000000000000001", post_id=IDENTIFIER_EXAMPLE, text="Hi")
    answer = await connector.reply(comment, "Thanks!")
    await connector.hide_comment(comment)
    reply, hide = sent
    assert json.loads(reply.content) == {
        "text": "Thanks!",
        "reply": {"in_reply_to_tweet_id": "1700000000000000001"},
    }
    assert (hide.method, hide.url.path) == ("PUT", "/2/tweets/1700000000000000001/hidden")
    assert json.loads(hide.content) == {"hidden": True}
    assert answer.parent_id == "1700000000000000001"


async def test_identify_names_the_user(connector: XConnector) -> None:
    [account] = await connector.identify()
    assert account.account_id == IDENTIFIER_EXAMPLE
    assert account.kind == "user"


# -- answers only a fake can give (shaped after X's reference pages) --------------------------


@pytest.fixture
def fake_x(fake_network: Any) -> Callable[[Callable[[httpx.Request], httpx.Response]], XConnector]:
    credentials = Credentials(
        access_token="user-token", refresh_token="refresh-1", extra={"user_id": "42"}
    )
    return lambda handler: fake_network(XConnector, credentials, handler)


async def test_rate_limit_headers_become_retry_after(fake_x: Any) -> None:
    reset = int(time.time()) + 120

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {
            "x-rate-limit-limit": "100",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(reset),
        }
        problem = {"title": "Too Many Requests", "detail": "Too Many Requests", "status": 429}
        return httpx.Response(429, headers=headers, json=problem)

    with pytest.raises(RateLimited) as caught:
        await fake_x(handler).publish(Post(text="hello"))
    assert caught.value.retry_after is not None
    assert 115 <= caught.value.retry_after <= 121
    assert "Too Many Requests" in caught.value.message


async def test_find_published_matches_the_text_x_gives_back(fake_x: Any) -> None:
    asked: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        tweets = [
            {"id": "9", "text": "Something else", "created_at": "2026-01-01T10:00:00.000Z"},
            {
                "id": "10",
                "text": "Fish &amp; chips  today https://t.co/AbCdEf1234",
                "created_at": "2026-01-01T11:00:00.000Z",
            },
        ]
        return httpx.Response(200, json={"data": tweets, "meta": {"result_count": 2}})

    post = Post(text="Fish & chips today https://example.com/menu")
    found = await fake_x(handler).find_published(post, datetime(2026, 1, 1, tzinfo=UTC))
    assert found is not None and found.post_id == "10"
    assert found.published_at == datetime(2026, 1, 1, 11, tzinfo=UTC)
    assert asked[0].url.path == "/2/users/42/tweets"
    assert parse_qs(asked[0].url.query.decode())["start_time"] == ["2026-01-01T00:00:00Z"]
    missing = Post(text="Fish and chips today")
    assert await fake_x(handler).find_published(missing, datetime(2026, 1, 1, tzinfo=UTC)) is None


def _upload_handler(
    states: list[str], seen: list[str]
) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        path = request.url.path
        if path.endswith("/initialize"):
            return httpx.Response(200, json={"data": {"id": "77", "media_key": "7_77"}})
        if path.endswith("/append"):
            return httpx.Response(200, json={"data": {}})
        if path == "/2/tweets":
            return httpx.Response(201, json={"data": {"id": "500", "text": "clip"}})
        state = states.pop(0)
        info = {"state": state, "check_after_secs": 0}
        if state == "failed":
            info["error"] = {"message": "Unsupported codec"}
        return httpx.Response(200, json={"data": {"id": "77", "processing_info": info}})

    return handler


async def test_video_is_polled_until_processed(fake_x: Any) -> None:
    seen: list[str] = []
    video = Media(
        "video", "video/mp4", 3 * 1024, duration_seconds=4, source=BytesSource(b"v" * 3072)
    )
    handler = _upload_handler(["pending", "in_progress", "succeeded"], seen)
    published = await fake_x(handler).publish(Post(text="clip", media=(video,)))
    assert published.post_id == "500"
    assert seen == [
        "POST /2/media/upload/initialize",
        "POST /2/media/upload/77/append",
        "POST /2/media/upload/77/finalize",
        "GET /2/media/upload",
        "GET /2/media/upload",
        "POST /2/tweets",
    ]


async def test_failed_processing_is_invalid_content(fake_x: Any) -> None:
    video = Media("video", "video/mp4", 10, duration_seconds=4, source=BytesSource(b"v" * 10))
    handler = _upload_handler(["pending", "failed"], [])
    with pytest.raises(InvalidContent, match="Unsupported codec"):
        await fake_x(handler).publish(Post(text="clip", media=(video,)))


async def test_refresh_uses_basic_auth_at_the_token_endpoint(fake_x: Any) -> None:
    asked: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        token = {
            "token_type": "bearer",
            "access_token": "new-access",
            "refresh_token": "refresh-2",
            "expires_in": 7200,
            "scope": "tweet.read tweet.write users.read offline.access",
        }
        return httpx.Response(200, json=token)

    fresh = await fake_x(handler).refresh("client-id", "client-secret")
    [request] = asked
    assert str(request.url) == "https://x.network.test/2/oauth2/token"
    expected = base64.b64encode(b"client-id:client-secret").decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    assert parse_qs(request.content.decode()) == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["refresh-1"],
    }
    assert (fresh.access_token, fresh.refresh_token) == ("new-access", "refresh-2")
    assert fresh.extra["user_id"] == "42"


def test_authorization_asks_for_pkce_and_the_scopes() -> None:
    meta = XConnector.oauth_metadata(XConnector.default_base_url)
    request = authorization_request(meta, OAuthClient("cid", "secret", "https://app/callback"))
    url = urlsplit(request.url)
    query = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://x.com/i/oauth2/authorize"
    assert query["code_challenge_method"] == ["S256"]
    assert set(query["scope"][0].split()) >= {"tweet.write", "offline.access", "media.write"}
    assert meta.token_url == "https://api.x.com/2/oauth2/token"


@pytest.mark.parametrize(
    ("expires_after_secs", "kept"), [(600, 600), (172_800, 86_400), (None, 86_400)]
)
async def test_a_staged_upload_is_kept_as_long_as_finalize_says_at_most_a_day(
    fake_x: Any, expires_after_secs: int | None, kept: int
) -> None:
    """Finalize answers ``expires_after_secs`` (FinalizeMediaUploadResponseData); a video
    staged ahead is processed first, then named by the post alone."""
    seen: list[str] = []
    upload = _upload_handler(["in_progress", "succeeded"], seen)

    def handler(request: httpx.Request) -> httpx.Response:
        answer = upload(request)
        if request.url.path.endswith("/finalize") and expires_after_secs is not None:
            body = json.loads(answer.content)
            body["data"]["expires_after_secs"] = expires_after_secs
            return httpx.Response(200, json=body)
        return answer

    video = Media("video", "video/mp4", 3072, duration_seconds=4, source=BytesSource(b"v" * 3072))
    connector = fake_x(handler)
    before = datetime.now(UTC)
    staged = await connector.stage_media(video)
    assert staged.reference == "77"
    assert before + timedelta(seconds=kept - 5) <= staged.expires_at
    assert staged.expires_at <= datetime.now(UTC) + timedelta(seconds=kept)
    seen.clear()
    post = Post(text="clip", media=(replace(video, staged="77", source=None),))
    assert (await connector.publish(post)).post_id == "500"
    assert seen == ["POST /2/tweets"]
