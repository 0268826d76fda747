"""TikTok against a fake written from TikTok for Developers' reference pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from agency.connector import (
    AuthExpired,
    ConnectorContext,
    ConnectorError,
    Credentials,
    InvalidContent,
    Media,
    OutcomeUnknown,
    Post,
    RateLimited,
    Refused,
    Transient,
)
from agency.connector.base import BytesSource
from agency.connector.oauth import OAuthClient, authorization_request
from agency_connectors.tiktok import TikTokConnector
from agency_connectors.tiktok.errors import CODES
from agency_connectors.tiktok.upload import MB, ChunkPlan
from tests.connectors.contract import SECRET, ConnectorContract, FailingConnector
from tests.support.fakes.tiktok import FakeTikTok, TikTokError

BASE = "http://tiktok.test"
PHOTO_URL = "https://media.agency.test/photos/"


class Quick(TikTokConnector):
    """The real connector without pauses between status polls, and with 5 MB chunks."""

    poll_interval_seconds = 0.0
    upload_chunk_size = 5 * MB


class Impatient(Quick):
    max_polls = 3


def video(data: bytes = bytes(1000), seconds: float = 12) -> Media:
    return Media(
        "video", "video/mp4", len(data), duration_seconds=seconds, source=BytesSource(data)
    )


def photo(name: str) -> Media:
    return Media("image", "image/jpeg", 1000, public_url=f"{PHOTO_URL}{name}.jpg")


@pytest.fixture
def fake() -> FakeTikTok:
    return FakeTikTok(token=SECRET)


@pytest.fixture
async def http(fake: FakeTikTok) -> AsyncIterator[httpx.AsyncClient]:
    async with fake.client() as client:
        yield client


def build(http: httpx.AsyncClient, fake: FakeTikTok) -> Quick:
    credentials = Credentials(access_token=SECRET, refresh_token=fake.refresh_token)
    return Quick(ConnectorContext(http=http, base_url=BASE, credentials=credentials))


@pytest.fixture
def connector(http: httpx.AsyncClient, fake: FakeTikTok) -> Quick:
    return build(http, fake)


@pytest.fixture
def publishable_post() -> Post:
    return Post(text="Behind the scenes #bts", media=(video(),))


@pytest.fixture
def failing_connector(http: httpx.AsyncClient, fake: FakeTikTok) -> FailingConnector:
    def make(status: int) -> Quick:
        fake.fail_with = status
        return build(http, fake)

    return make


def calls(fake: FakeTikTok, path: str) -> list[dict[str, object]]:
    return [r.json() for r in fake.requests if r.path == path]


class TestTikTok(ConnectorContract):
    connector_class = TikTokConnector

    # -- the direct post flow ------------------------------------------------------------------

    async def test_creator_info_comes_first_then_init_upload_and_status(
        self, connector: Quick, fake: FakeTikTok, publishable_post: Post
    ) -> None:
        published = await connector.publish(publishable_post)
        paths = [r.path for r in fake.requests]
        assert paths == [
            "/v2/post/publish/creator_info/query/",
            "/v2/post/publish/video/init/",
            "/upload/video/",
            "/v2/post/publish/status/fetch/",
            "/v2/post/publish/status/fetch/",
        ]
        (init,) = calls(fake, "/v2/post/publish/video/init/")
        assert init["post_info"] == {
            "title": "Behind the scenes #bts",
            "privacy_level": "PUBLIC_TO_EVERYONE",
            "disable_comment": False,
            "disable_duet": True,  # the creator turned duets off in TikTok
            "disable_stitch": False,
        }
        assert init["source_info"] == {
            "source": "FILE_UPLOAD",
            "video_size": 1000,
            "chunk_size": 1000,
            "total_chunk_count": 1,
        }
        assert published.post_id == fake.videos[0]["id"]
        assert published.url == f"https://www.tiktok.com/@brand.official/video/{published.post_id}"

    async def test_a_large_video_goes_in_chunks_the_last_taking_the_rest(
        self, connector: Quick, fake: FakeTikTok
    ) -> None:
        data = bytes(range(256)) * (12 * MB // 256) + b"tail"
        await connector.publish(Post(text="big", media=(video(data),)))
        (init,) = calls(fake, "/v2/post/publish/video/init/")
        assert init["source_info"] == {
            "source": "FILE_UPLOAD",
            "video_size": len(data),
            "chunk_size": 5 * MB,
            "total_chunk_count": 2,
        }
        ranges = [r.headers["content-range"] for r in fake.requests if r.method == "PUT"]
        assert ranges == [
            f"bytes 0-{5 * MB - 1}/{len(data)}",
            f"bytes {5 * MB}-{len(data) - 1}/{len(data)}",
        ]
        (publish,) = fake.publishes.values()
        assert bytes(publish.received) == data

    @pytest.mark.parametrize(
        ("size", "preferred", "plan"),
        [
            (4 * MB, 10 * MB, (4 * MB, 1)),  # under 5 MB: whole
            (8 * MB, 10 * MB, (8 * MB, 1)),  # fits one chunk
            (25 * MB + 7, 10 * MB, (10 * MB, 2)),  # the last chunk takes 15 MB and 7 bytes
            (200 * MB, 100 * MB, (64 * MB, 3)),  # chunks stay within 64 MB
            (12 * MB, 1 * MB, (5 * MB, 2)),  # and at least 5 MB
        ],
    )
    def test_chunk_plans_follow_the_media_transfer_guide(
        self, size: int, preferred: int, plan: tuple[int, int]
    ) -> None:
        chosen = ChunkPlan.for_size(size, preferred)
        assert (chosen.chunk_size, chosen.total_chunk_count) == plan
        spans = chosen.spans()
        assert spans[0][0] == 0 and spans[-1][1] == size - 1
        assert all(b[0] == a[1] + 1 for a, b in pairwise(spans))
        assert spans[-1][1] - spans[-1][0] + 1 <= 128 * MB

    async def test_status_is_polled_until_published(
        self, connector: Quick, fake: FakeTikTok, publishable_post: Post
    ) -> None:
        fake.processing_polls = 3
        await connector.publish(publishable_post)
        assert len(calls(fake, "/v2/post/publish/status/fetch/")) == 4

    async def test_still_processing_after_the_last_poll_is_unknown(
        self, http: httpx.AsyncClient, fake: FakeTikTok, publishable_post: Post
    ) -> None:
        fake.processing_polls = 100
        credentials = Credentials(access_token=SECRET)
        connector = Impatient(ConnectorContext(http=http, base_url=BASE, credentials=credentials))
        with pytest.raises(OutcomeUnknown):
            await connector.publish(publishable_post)
        assert len(calls(fake, "/v2/post/publish/status/fetch/")) == 3

    @pytest.mark.parametrize(
        ("reason", "error", "words"),
        [
            ("duration_check_failed", InvalidContent, "too long or too short"),
            ("spam_risk_too_many_posts", Refused, "daily post limit"),
            ("auth_removed", AuthExpired, "reconnect"),
            ("internal", Transient, "tried again"),
            ("something_new", Refused, "something_new"),
        ],
    )
    async def test_failed_posts_say_why_in_words(
        self,
        connector: Quick,
        fake: FakeTikTok,
        publishable_post: Post,
        reason: str,
        error: type[ConnectorError],
        words: str,
    ) -> None:
        fake.fail_reason = reason
        with pytest.raises(error, match=words):
            await connector.publish(publishable_post)

    async def test_a_private_post_keeps_its_publish_id(
        self, connector: Quick, fake: FakeTikTok
    ) -> None:
        post = Post(text="just us", media=(video(),), options={"privacy_level": "SELF_ONLY"})
        published = await connector.publish(post)
        assert published.post_id in fake.publishes
        assert published.url is None

    async def test_a_privacy_level_the_creator_lacks_is_refused_before_posting(
        self, connector: Quick, fake: FakeTikTok
    ) -> None:
        post = Post(text="x", media=(video(),), options={"privacy_level": "FOLLOWER_OF_CREATOR"})
        with pytest.raises(InvalidContent, match="MUTUAL_FOLLOW_FRIENDS") as caught:
            await connector.publish(post)
        assert caught.value.problems[0].field == "options.privacy_level"
        assert not calls(fake, "/v2/post/publish/video/init/")

    async def test_a_video_longer_than_the_creator_may_post_is_refused(
        self, connector: Quick, fake: FakeTikTok
    ) -> None:
        with pytest.raises(InvalidContent, match="300 s"):
            await connector.publish(Post(text="x", media=(video(seconds=400),)))
        assert not calls(fake, "/v2/post/publish/video/init/")

    async def test_a_video_at_an_address_is_pulled(
        self, connector: Quick, fake: FakeTikTok
    ) -> None:
        media = Media(
            "video", "video/mp4", 5000, duration_seconds=10, public_url=f"{PHOTO_URL}v.mp4"
        )
        await connector.publish(Post(text="pulled", media=(media,)))
        (init,) = calls(fake, "/v2/post/publish/video/init/")
        assert init["source_info"] == {"source": "PULL_FROM_URL", "video_url": f"{PHOTO_URL}v.mp4"}
        assert not [r for r in fake.requests if r.method == "PUT"]

    async def test_photos_are_pulled_from_their_addresses(
        self, connector: Quick, fake: FakeTikTok
    ) -> None:
        post = Post(text="Our team", title="Team day", media=(photo("a"), photo("b")))
        await connector.publish(post)
        (init,) = calls(fake, "/v2/post/publish/content/init/")
        assert init["post_mode"] == "DIRECT_POST" and init["media_type"] == "PHOTO"
        assert init["source_info"]["photo_images"] == [f"{PHOTO_URL}a.jpg", f"{PHOTO_URL}b.jpg"]
        assert init["post_info"]["description"] == "Our team"
        assert init["post_info"]["title"] == "Team day"

    async def test_photos_from_an_unverified_domain_are_refused(self, connector: Quick) -> None:
        media = Media("image", "image/jpeg", 1000, public_url="https://elsewhere.test/a.jpg")
        with pytest.raises(Refused, match="verified domain"):
            await connector.publish(Post(text="x", media=(media,)))

    # -- content rules -------------------------------------------------------------------------

    def test_the_caption_is_counted_in_utf16_units(self) -> None:
        assert TikTokConnector.count_text("😀" * 1100) == 2200
        fits = Post(text="😀" * 1100, media=(video(),))
        assert TikTokConnector.validate(fits) == []
        over = Post(text="😀" * 1100 + "a", media=(video(),))
        assert [p.code for p in TikTokConnector.validate(over)] == ["text_too_long"]

    def test_media_rules(self) -> None:
        bare = Media("image", "image/jpeg", 1000)
        photo = Post(text="x", media=(bare,))
        assert TikTokConnector.validate(photo) == []  # as the API describes the media
        assert [p.code for p in TikTokConnector.delivery_problems(photo)] == ["media_needs_url"]
        two = Post(text="x", media=(video(), video()))
        assert "too_many_videos" in {p.code for p in TikTokConnector.validate(two)}
        assert "no_media" in {p.code for p in TikTokConnector.validate(Post(text="x"))}

    # -- errors --------------------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("status", "code", "error"),
        [
            (403, "spam_risk_too_many_posts", Refused),
            (403, "spam_risk_user_banned_from_posting", Refused),
            (403, "unaudited_client_can_only_post_to_private_accounts", Refused),
            (400, "privacy_level_option_mismatch", InvalidContent),
            (401, "access_token_invalid", AuthExpired),
            (429, "rate_limit_exceeded", RateLimited),
        ],
    )
    async def test_error_codes_are_typed(
        self,
        connector: Quick,
        fake: FakeTikTok,
        publishable_post: Post,
        status: int,
        code: str,
        error: type[ConnectorError],
    ) -> None:
        fake.init_error = TikTokError(status, code)
        with pytest.raises(error) as caught:
            await connector.publish(publishable_post)
        assert caught.value.message == CODES[code][1]

    async def test_the_seventh_post_in_a_minute_is_rate_limited(
        self, connector: Quick, publishable_post: Post
    ) -> None:
        for _ in range(6):
            await connector.publish(publishable_post)
        with pytest.raises(RateLimited) as caught:
            await connector.publish(publishable_post)
        assert caught.value.retry_after == 60

    async def test_an_error_envelope_on_a_200_is_an_error(
        self, connector: Quick, fake: FakeTikTok
    ) -> None:
        fake.token = "someone-else"  # every call is refused with access_token_invalid
        with pytest.raises(AuthExpired):
            await connector.identify()

    # -- after publishing ----------------------------------------------------------------------

    async def test_find_published_matches_the_caption(
        self, connector: Quick, publishable_post: Post
    ) -> None:
        since = datetime.now(UTC) - timedelta(minutes=5)
        published = await connector.publish(publishable_post)
        found = await connector.find_published(publishable_post, since)
        assert found is not None and found.post_id == published.post_id
        assert await connector.find_published(Post(text="other", media=(video(),)), since) is None
        later = datetime.now(UTC) + timedelta(minutes=5)
        assert await connector.find_published(publishable_post, later) is None

    async def test_metrics(self, connector: Quick, publishable_post: Post) -> None:
        published = await connector.publish(publishable_post)
        metrics = await connector.post_metrics(published.post_id)
        assert (metrics.likes, metrics.comments, metrics.shares, metrics.video_views) == (
            10,
            2,
            1,
            300,
        )
        account = await connector.account_metrics()
        assert (account.followers, account.following, account.posts) == (5400, 12, 1)
        with pytest.raises(Refused):
            await connector.post_metrics("123")

    # -- connecting ----------------------------------------------------------------------------

    async def test_identify(self, connector: Quick, fake: FakeTikTok) -> None:
        (account,) = await connector.identify()
        assert (account.account_id, account.handle, account.name) == (
            fake.open_id,
            "brand.official",
            "Brand",
        )

    def test_authorization_url_names_the_client_key(self) -> None:
        assert TikTokConnector.oauth is not None
        client = OAuthClient("awkey123", "secret", "https://agency.test/callback")
        query = parse_qs(urlsplit(authorization_request(TikTokConnector.oauth, client).url).query)
        assert query["client_key"] == ["awkey123"]
        assert "client_id" not in query
        assert query["scope"] == [
            "user.info.basic,user.info.profile,user.info.stats,video.list,video.publish"
        ]
        assert "code_challenge" not in query  # a web app's flow, without PKCE

    async def test_refresh_sends_the_client_key_and_keeps_the_new_refresh_token(
        self, connector: Quick, fake: FakeTikTok
    ) -> None:
        old_refresh = fake.refresh_token
        fresh = await connector.refresh("awkey123", "secret")
        assert fresh.access_token == fake.token
        assert fresh.refresh_token == fake.refresh_token != old_refresh  # TikTok rotates it
        assert fresh.extra["open_id"] == fake.open_id
        form = fake.requests[-1].form()
        assert form["client_key"] == "awkey123" and "client_id" not in form
