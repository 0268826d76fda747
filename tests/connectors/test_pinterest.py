"""Pinterest connector: the shared contract against Prism serving Pinterest v5's description.

Prism serves the description without its ``/v5`` base path, so the connector's base URL is
Prism's root. The token endpoint is part of the description too, so refreshing runs against
Prism as well. A 429 with Retry-After, which Prism cannot add, comes from a fake shaped after
https://developers.pinterest.com/docs/reference/rate-limits/ (HTTP 429, code 29).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
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
from agency.connector.base import BytesSource
from agency.connector.oauth import OAuthClient, authorization_request
from agency_connectors.pinterest import PinterestConnector
from tests.connectors.contract import ConnectorContract
from tests.support.prism import SHORT_IDENTIFIER_EXAMPLE

BOARD = "549755885175"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 60 + b"\xff\xd9"


def image(alt_text: str | None = None) -> Media:
    return Media(
        "image", "image/jpeg", len(JPEG), 600, 900, alt_text=alt_text, source=BytesSource(JPEG)
    )


@pytest.fixture
def connector(prism_pinterest: str, peer_http: httpx.AsyncClient) -> PinterestConnector:
    credentials = Credentials(access_token="user-token", refresh_token="refresh-1")
    return PinterestConnector(ConnectorContext(peer_http, prism_pinterest, credentials))


@pytest.fixture
def publishable_post() -> Post:
    return Post(
        text="Ten minute tomato soup, step by step.",
        title="Tomato soup",
        link="https://example.com/soup",
        media=(image(alt_text="A bowl of tomato soup"),),
        options={"board_id": BOARD},
    )


@pytest.fixture
def failing_connector(
    prism_pinterest: str, failing_prism: Any
) -> Callable[[int], PinterestConnector]:
    return failing_prism(PinterestConnector, prism_pinterest)


class TestPinterestContract(ConnectorContract):
    connector_class = PinterestConnector


# -- validation ---------------------------------------------------------------------------


def test_a_pin_needs_a_board_and_an_image() -> None:
    problems = PinterestConnector.validate(Post(text="Soup"))
    assert {(p.field, p.code) for p in problems} == {
        ("options.board_id", "no_board"),
        ("media", "no_media"),
    }
    assert all(p.message for p in problems)


def test_pinterest_specific_problems_are_all_listed() -> None:
    post = Post(
        text="Soup",
        title="t" * 101,
        link="https://example.com/" + "a" * 2048,
        media=(Media("image", "image/jpeg", 10, alt_text="a" * 501),),
        options={"board_id": "my-board", "board_section_id": "x"},
    )
    codes = {p.code for p in PinterestConnector.validate(post)}
    assert codes == {
        "board_id",
        "board_section_id",
        "title_too_long",
        "link_too_long",
        "no_file",
        "alt_text_too_long",
    }


def test_video_is_not_offered() -> None:
    video = Media("video", "video/mp4", 1000, duration_seconds=10, source=BytesSource(b"v"))
    post = Post(text="Soup", media=(video,), options={"board_id": BOARD})
    assert [p.code for p in PinterestConnector.validate(post)] == ["media_kind"]


# -- requests, held against Pinterest's description by Prism -------------------------------


async def test_publish_sends_the_pin_with_the_image_inline(
    connector: PinterestConnector, publishable_post: Post, sent: list[httpx.Request]
) -> None:
    published = await connector.publish(publishable_post)
    [request] = sent
    assert (request.method, request.url.path) == ("POST", "/pins")
    assert request.headers["Authorization"] == "Bearer user-token"
    assert json.loads(request.content) == {
        "board_id": BOARD,
        "title": "Tomato soup",
        "description": "Ten minute tomato soup, step by step.",
        "link": "https://example.com/soup",
        "alt_text": "A bowl of tomato soup",
        "media_source": {
            "source_type": "image_base64",
            "content_type": "image/jpeg",
            "data": base64.b64encode(JPEG).decode(),
        },
    }
    assert published.post_id.isdigit()
    assert published.url == f"https://www.pinterest.com/pin/{published.post_id}/"


async def test_a_public_image_goes_by_url(
    connector: PinterestConnector, sent: list[httpx.Request]
) -> None:
    media = Media("image", "image/png", 1000, public_url="https://cdn.example.com/soup.png")
    post = Post(text="Soup", media=(media,), options={"board_id": BOARD, "board_section_id": "7"})
    await connector.publish(post)
    body = json.loads(sent[0].content)
    assert body["media_source"] == {
        "source_type": "image_url",
        "url": "https://cdn.example.com/soup.png",
    }
    assert body["board_section_id"] == "7"


async def test_a_post_without_board_is_refused_before_any_call(
    connector: PinterestConnector, sent: list[httpx.Request]
) -> None:
    with pytest.raises(InvalidContent) as caught:
        await connector.publish(Post(text="Soup", media=(image(),)))
    assert [p.code for p in caught.value.problems] == ["no_board"]
    assert sent == []


async def test_metrics_ask_for_the_last_90_days(
    connector: PinterestConnector, sent: list[httpx.Request]
) -> None:
    await connector.post_metrics(SHORT_IDENTIFIER_EXAMPLE)
    await connector.account_metrics()
    pin, me, account = sent
    assert pin.url.path == f"/pins/{SHORT_IDENTIFIER_EXAMPLE}/analytics"
    query = parse_qs(pin.url.query.decode())
    start, end = (datetime.fromisoformat(query[k][0]).date() for k in ("start_date", "end_date"))
    assert end == datetime.now(UTC).date()
    assert end - start == timedelta(days=89)
    assert "IMPRESSION" in query["metric_types"][0].split(",")
    assert (me.url.path, account.url.path) == ("/user_account", "/user_account/analytics")


async def test_find_published_reads_the_board(
    connector: PinterestConnector, publishable_post: Post, sent: list[httpx.Request]
) -> None:
    since = datetime.now(UTC) - timedelta(hours=1)
    # Prism's sample Pin has another description: nothing is found, and the board is asked.
    assert await connector.find_published(publishable_post, since) is None
    assert sent[0].url.path == f"/boards/{BOARD}/pins"


async def test_identify_names_the_account(connector: PinterestConnector) -> None:
    [account] = await connector.identify()
    assert account.account_id.isdigit()
    assert account.kind in {"user", "business"}


async def test_refresh_runs_against_the_token_endpoint(
    connector: PinterestConnector, sent: list[httpx.Request]
) -> None:
    fresh = await connector.refresh("app-id", "app-secret")
    [request] = sent
    assert request.url.path == "/oauth/token"
    expected = base64.b64encode(b"app-id:app-secret").decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    assert parse_qs(request.content.decode()) == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["refresh-1"],
    }
    assert fresh.access_token
    assert fresh.refresh_token


def test_authorization_uses_commas_between_scopes() -> None:
    meta = PinterestConnector.oauth_metadata(PinterestConnector.default_base_url)
    request = authorization_request(meta, OAuthClient("app", "secret", "https://app/callback"))
    url = urlsplit(request.url)
    query = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://www.pinterest.com/oauth/"
    assert query["scope"] == ["boards:read,pins:read,pins:write,user_accounts:read"]
    assert "code_challenge" not in query
    assert meta.token_url == "https://api.pinterest.com/v5/oauth/token"


async def test_rate_limit_retry_after_is_read(fake_network: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"code": 29, "message": "You have exceeded your rate limit. Try again later."}
        return httpx.Response(429, headers={"Retry-After": "30"}, json=body)

    with pytest.raises(RateLimited) as caught:
        await fake_network(PinterestConnector, Credentials("t"), handler).delete("1")
    assert caught.value.retry_after == 30
    assert "exceeded your rate limit" in caught.value.message
