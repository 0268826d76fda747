"""Pinterest connector: the shared contract against Prism serving Pinterest v5's description.

Prism serves the description without its ``/v5`` base path, so the connector's base URL is
Prism's root. The token endpoint is part of the description too, so refreshing runs against
Prism as well. A 429 with Retry-After, which Prism cannot add, comes from a fake shaped after
https://developers.pinterest.com/docs/reference/rate-limits/ (HTTP 429, code 29).

A video Pin's file goes to the S3 address ``POST /media`` answers (the description's sample,
``https://pinterest-media-upload.s3-accelerate.amazonaws.com/``): the test's client sends
that one host to moto's S3 server (tests/support/s3.py), everything else to Prism. The media
status Prism answers is repaired in conftest.py (``PINTEREST_MEDIA_STATUSES``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import HTTP
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
    Refused,
    Transient,
)
from agency.connector.base import BytesSource
from agency.connector.oauth import OAuthClient, authorization_request
from agency_connectors.pinterest import PinterestConnector
from tests.connectors.contract import ConnectorContract
from tests.support.prism import SHORT_IDENTIFIER_EXAMPLE, prism_client, spec_path
from tests.support.s3 import Rerouted, moto_s3, s3_client

BOARD = "549755885175"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 60 + b"\xff\xd9"


MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4
COVER = "https://cdn.example.com/soup-cover.jpg"
# The description's sample answer to POST /media (MediaUpload, MediaUploadParameters).
UPLOAD_HOST = "pinterest-media-upload.s3-accelerate.amazonaws.com"
UPLOAD_BUCKET = "pinterest-media-upload"
MEDIA_ID = "12345"


def image(alt_text: str | None = None) -> Media:
    return Media(
        "image", "image/jpeg", len(JPEG), 600, 900, alt_text=alt_text, source=BytesSource(JPEG)
    )


def video(**changes: Any) -> Media:
    described: dict[str, Any] = {
        "kind": "video",
        "mime_type": "video/mp4",
        "size": len(MP4),
        "width": 1080,
        "height": 1920,
        "duration_seconds": 12,
        "source": BytesSource(MP4),
    }
    return Media(**(described | changes))


def video_post(**options: Any) -> Post:
    return Post(
        text="Tomato soup in one minute.",
        title="Tomato soup",
        media=(video(),),
        options={"board_id": BOARD, "cover_image_url": COVER} | options,
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
        "alt_text_too_long",
    }


def test_a_video_pin_with_a_cover_is_valid() -> None:
    assert PinterestConnector.validate(video_post()) == []
    by_frame = video_post(cover_image_url=None, cover_image_key_frame_time=0)
    assert PinterestConnector.validate(by_frame) == []
    described = PinterestConnector.describe()["limits"]["media"]["video"]
    assert described["min_duration_seconds"] == 4
    assert described["max_duration_seconds"] == 15 * 60


def test_every_video_problem_is_listed() -> None:
    wrong = video(
        mime_type="video/webm",
        size=3 * 1024**3,
        duration_seconds=16 * 60,
        width=2000,
        height=1000,
        source=None,
        public_url="https://cdn.example.com/soup.webm",
    )
    post = Post(text="Soup", media=(wrong, image()), options={"board_id": BOARD})
    codes = {(p.field, p.code) for p in PinterestConnector.validate(post)}
    assert codes == {
        ("media", "too_many_media"),
        ("media", "mixed_media"),
        ("media.0", "media_type"),
        ("media.0", "media_too_large"),
        ("media.0", "video_too_long"),
        ("media.0", "video_aspect_ratio"),
        ("options.cover_image_url", "no_cover"),
    }


@pytest.mark.parametrize(
    ("options", "codes"),
    [
        ({"cover_image_key_frame_time": 3}, ["two_covers"]),
        ({"cover_image_url": "cover.jpg"}, ["cover_image_url"]),
        (
            {"cover_image_url": None, "cover_image_key_frame_time": -1},
            ["cover_image_key_frame_time"],
        ),
        (
            {"cover_image_url": None, "cover_image_key_frame_time": "3"},
            ["cover_image_key_frame_time"],
        ),
    ],
)
def test_a_video_cover_is_one_url_or_one_second(options: dict[str, Any], codes: list[str]) -> None:
    assert [p.code for p in PinterestConnector.validate(video_post(**options))] == codes


def test_a_short_or_too_tall_video_is_refused() -> None:
    short = video(duration_seconds=3, width=500, height=1100)
    post = Post(text="Soup", media=(short,), options={"board_id": BOARD, "cover_image_url": COVER})
    assert [p.code for p in PinterestConnector.validate(post)] == [
        "video_too_short",
        "video_aspect_ratio",
    ]


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


# -- a video Pin: Prism for Pinterest, moto for the S3 form it hands out --------------------


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_s3() as endpoint:
        yield endpoint


@pytest.fixture
def upload_bucket(s3_endpoint: str) -> Iterator[Any]:
    """The sample upload bucket, created empty in moto; an S3 client on it."""
    s3 = s3_client(s3_endpoint)
    s3.create_bucket(Bucket=UPLOAD_BUCKET)
    yield s3
    for stored in s3.list_objects_v2(Bucket=UPLOAD_BUCKET).get("Contents", []):
        s3.delete_object(Bucket=UPLOAD_BUCKET, Key=stored["Key"])
    s3.delete_bucket(Bucket=UPLOAD_BUCKET)


VideoConnector = Callable[..., PinterestConnector]


@pytest.fixture
async def video_connector(
    prism_pinterest: str,
    s3_endpoint: str,
    sent: list[httpx.Request],
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[VideoConnector]:
    """``(media status, upload transport) -> connector``: Prism answers Pinterest's API with
    that media status (conftest.py), the S3 upload host goes to ``upload`` (moto's server by
    default); every request is recorded in ``sent``."""
    monkeypatch.setattr(PinterestConnector, "media_poll_seconds", 0.0)
    monkeypatch.setattr(PinterestConnector, "media_poll_attempts", 3)
    clients: list[httpx.AsyncClient] = []

    def make(
        status: str = "succeeded", upload: httpx.AsyncBaseTransport | None = None
    ) -> PinterestConnector:
        mounts = {f"https://{UPLOAD_HOST}": upload or Rerouted(s3_endpoint)}
        client = prism_client(record=sent, mounts=mounts)

        async def prefer(request: httpx.Request) -> None:
            if request.method == "GET" and request.url.path.startswith("/media/"):
                request.headers["Prefer"] = f"example={status}"

        client.event_hooks["request"].append(prefer)
        clients.append(client)
        credentials = Credentials(access_token="user-token")
        return PinterestConnector(ConnectorContext(client, prism_pinterest, credentials))

    yield make
    for client in clients:
        await client.aclose()


def upload_parameters() -> dict[str, str]:
    """What Pinterest's description answers as ``upload_parameters``: its examples."""
    described = json.loads(spec_path("pinterest-v5.json").read_text(encoding="utf-8"))
    schema = described["components"]["schemas"]["MediaUploadParameters"]
    return {name: prop["example"] for name, prop in schema["properties"].items()}


def form_fields(request: httpx.Request) -> list[tuple[str, bytes]]:
    """The fields of a multipart/form-data request, in order, as a server parses them."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = message_from_bytes(head + request.content, policy=HTTP)
    return [
        (str(part.get_param("name", header="content-disposition")), part.get_payload(decode=True))
        for part in message.iter_parts()
    ]


def pinterest_calls(sent: list[httpx.Request]) -> list[tuple[str, str]]:
    return [(r.method, r.url.path) for r in sent if r.url.host != UPLOAD_HOST]


@pytest.mark.parametrize(
    "cover",
    [{"cover_image_url": COVER}, {"cover_image_url": None, "cover_image_key_frame_time": 2}],
)
async def test_a_video_pin_uploads_the_file_to_pinterests_form_then_pins_it(
    video_connector: VideoConnector,
    upload_bucket: Any,
    sent: list[httpx.Request],
    cover: dict[str, Any],
) -> None:
    published = await video_connector().publish(video_post(**cover))
    register, upload, status, pin = sent
    assert (register.method, register.url.path) == ("POST", "/media")
    assert json.loads(register.content) == {"media_type": "video"}

    # The form Pinterest gave, field by field, then the file; no Pinterest token goes to S3.
    assert (upload.method, str(upload.url)) == ("POST", f"https://{UPLOAD_HOST}/")
    assert "authorization" not in upload.headers
    assert int(upload.headers["content-length"]) == len(upload.content)
    fields, expected = form_fields(upload), upload_parameters()
    assert dict(fields[:-1]) == {name: value.encode() for name, value in expected.items()}
    assert fields[-1] == ("file", MP4)
    stored = upload_bucket.get_object(Bucket=UPLOAD_BUCKET, Key=expected["key"])
    assert stored["Body"].read() == MP4
    assert stored["ContentType"] == expected["Content-Type"]

    assert (status.method, status.url.path) == ("GET", f"/media/{MEDIA_ID}")
    body = json.loads(pin.content)
    given = {key: value for key, value in cover.items() if value is not None}
    assert body["media_source"] == {"source_type": "video_id", "media_id": MEDIA_ID} | given
    assert (body["board_id"], body["title"]) == (BOARD, "Tomato soup")
    assert published.url == f"https://www.pinterest.com/pin/{published.post_id}/"


async def test_a_video_pinterest_could_not_process_is_invalid_content(
    video_connector: VideoConnector, upload_bucket: Any, sent: list[httpx.Request]
) -> None:
    with pytest.raises(InvalidContent) as caught:
        await video_connector("failed").publish(video_post())
    assert [p.code for p in caught.value.problems] == ["media_processing_failed"]
    assert "failed" in caught.value.message
    assert pinterest_calls(sent) == [("POST", "/media"), ("GET", f"/media/{MEDIA_ID}")]


async def test_a_video_still_processing_is_tried_again_later(
    video_connector: VideoConnector, upload_bucket: Any, sent: list[httpx.Request]
) -> None:
    with pytest.raises(Transient) as caught:
        await video_connector("processing").publish(video_post())
    assert "still processing" in caught.value.message
    polls = [("GET", f"/media/{MEDIA_ID}")] * PinterestConnector.media_poll_attempts
    assert pinterest_calls(sent) == [("POST", "/media"), *polls]


async def test_an_upload_s3_refuses_is_refused_in_its_words(
    video_connector: VideoConnector, sent: list[httpx.Request]
) -> None:
    # No bucket in moto: S3 answers 404 NoSuchBucket.
    with pytest.raises(Refused) as caught:
        await video_connector().publish(video_post())
    assert caught.value.status == 404
    assert "bucket does not exist" in caught.value.message
    assert pinterest_calls(sent) == [("POST", "/media")]


async def test_an_upload_s3_cannot_take_now_is_transient(
    video_connector: VideoConnector, sent: list[httpx.Request]
) -> None:
    # moto cannot be made to fail: S3's 503 SlowDown as
    # https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html shows it.
    def slow_down(request: httpx.Request) -> httpx.Response:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
            "<Message>Please reduce your request rate.</Message></Error>"
        )
        return httpx.Response(503, text=body, headers={"Content-Type": "application/xml"})

    with pytest.raises(Transient) as caught:
        await video_connector(upload=httpx.MockTransport(slow_down)).publish(video_post())
    assert caught.value.status == 503
    assert "reduce your request rate" in caught.value.message
    assert pinterest_calls(sent) == [("POST", "/media")]


async def test_a_video_shorter_than_announced_is_not_uploaded(
    video_connector: VideoConnector, upload_bucket: Any, sent: list[httpx.Request]
) -> None:
    post = replace(video_post(), media=(video(size=len(MP4) + 100),))
    with pytest.raises(InvalidContent) as caught:
        await video_connector().publish(post)
    assert [p.code for p in caught.value.problems] == ["media_size_mismatch"]
    assert upload_bucket.list_objects_v2(Bucket=UPLOAD_BUCKET).get("Contents") is None
    assert pinterest_calls(sent) == [("POST", "/media")]


async def test_media_without_a_file_to_send_are_refused_before_any_call(
    connector: PinterestConnector, sent: list[httpx.Request]
) -> None:
    # The API validates described media; the bytes (or a URL, for an image) come to publish.
    by_url = video(source=None, public_url="https://cdn.example.com/soup.mp4")
    for media in (by_url, Media("image", "image/jpeg", 10)):
        post = replace(video_post(), media=(media,))
        assert PinterestConnector.validate(post) == []
        with pytest.raises(InvalidContent) as caught:
            await connector.publish(post)
        assert [(p.field, p.code) for p in caught.value.problems] == [("media.0", "no_file")]
    assert sent == []


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
