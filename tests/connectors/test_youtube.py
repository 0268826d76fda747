"""YouTube against a fake held to Google's discovery document and resumable upload protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from agency.connector import (
    AuthExpired,
    ConnectorContext,
    Credentials,
    InvalidContent,
    Media,
    Post,
    RateLimited,
    Refused,
    Transient,
)
from agency.connector.base import BytesSource, Comment
from agency.connector.oauth import OAuthClient, authorization_request
from agency_connectors.youtube import YouTubeConnector
from agency_connectors.youtube.google import seconds_until_quota_reset
from tests.connectors.contract import SECRET, ConnectorContract, FailingConnector
from tests.support.fakes.youtube import FakeYouTube

BASE = "http://youtube.test"
VIDEO = bytes(range(256)) * 2700  # 691,200 bytes: three 256 KiB chunks, the last one short


class SmallChunks(YouTubeConnector):
    """The real connector with 256 KiB chunks, so that a small file takes several requests."""

    upload_chunk_size = 256 * 1024
    resume_backoff_seconds = 0.0


def video_post(data: bytes = VIDEO, *, title: str | None = "Launch day", text: str = "") -> Post:
    media = Media("video", "video/mp4", len(data), duration_seconds=30, source=BytesSource(data))
    text = text or "Our new product, in thirty seconds. #launch"
    return Post(text=text, media=(media,), title=title, options={"privacy_status": "unlisted"})


@pytest.fixture
def fake() -> FakeYouTube:
    assert YouTubeConnector.oauth is not None
    return FakeYouTube(token=SECRET, scopes=YouTubeConnector.oauth.scopes)


@pytest.fixture
async def http(fake: FakeYouTube) -> AsyncIterator[httpx.AsyncClient]:
    async with fake.client() as client:
        yield client


def build(
    http: httpx.AsyncClient, fake: FakeYouTube, cls: type[YouTubeConnector] = YouTubeConnector
) -> YouTubeConnector:
    credentials = Credentials(access_token=SECRET, refresh_token=fake.refresh_token)
    return cls(ConnectorContext(http=http, base_url=BASE, credentials=credentials))


@pytest.fixture
def connector(http: httpx.AsyncClient, fake: FakeYouTube) -> YouTubeConnector:
    return build(http, fake)


@pytest.fixture
def small_chunks(http: httpx.AsyncClient, fake: FakeYouTube) -> YouTubeConnector:
    return build(http, fake, SmallChunks)


@pytest.fixture
def publishable_post() -> Post:
    return video_post(bytes(1000))


@pytest.fixture
def failing_connector(http: httpx.AsyncClient, fake: FakeYouTube) -> FailingConnector:
    def make(status: int) -> YouTubeConnector:
        fake.fail_with = status
        return build(http, fake)

    return make


def puts(fake: FakeYouTube) -> list[str]:
    return [r.headers.get("content-range", "") for r in fake.requests if r.method == "PUT"]


class TestYouTube(ConnectorContract):
    connector_class = YouTubeConnector

    # -- the resumable upload ------------------------------------------------------------------

    async def test_upload_opens_a_session_with_the_metadata(
        self, connector: YouTubeConnector, fake: FakeYouTube
    ) -> None:
        published = await connector.publish(video_post(bytes(5000)))
        start = fake.requests[0]
        assert (start.method, start.path) == ("POST", "/upload/youtube/v3/videos")
        assert start.param("uploadType") == "resumable"
        assert start.headers["x-upload-content-length"] == "5000"
        assert start.headers["x-upload-content-type"] == "video/mp4"
        video = fake.videos[published.post_id]
        assert video["snippet"]["title"] == "Launch day"
        assert video["snippet"]["description"] == "Our new product, in thirty seconds. #launch"
        assert video["status"]["privacyStatus"] == "unlisted"
        assert published.url == f"https://www.youtube.com/watch?v={published.post_id}"

    async def test_chunks_are_256_kib_multiples_and_carry_their_range(
        self, small_chunks: YouTubeConnector, fake: FakeYouTube
    ) -> None:
        await small_chunks.publish(video_post())
        assert puts(fake) == [
            "bytes 0-262143/691200",
            "bytes 262144-524287/691200",
            "bytes 524288-691199/691200",
        ]
        (session,) = fake.sessions.values()
        assert bytes(session.received) == VIDEO

    async def test_a_308_keeping_fewer_bytes_resumes_from_its_range(
        self, small_chunks: YouTubeConnector, fake: FakeYouTube
    ) -> None:
        fake.keep_at_most_once = 100_000  # YouTube kept only part of the first chunk
        await small_chunks.publish(video_post())
        assert puts(fake)[:2] == ["bytes 0-262143/691200", "bytes 100000-362143/691200"]
        (session,) = fake.sessions.values()
        assert bytes(session.received) == VIDEO

    async def test_a_failed_chunk_asks_where_the_upload_stands(
        self, small_chunks: YouTubeConnector, fake: FakeYouTube
    ) -> None:
        fake.interrupt_at = 262144  # the second chunk gets a 503
        published = await small_chunks.publish(video_post())
        assert puts(fake) == [
            "bytes 0-262143/691200",
            "bytes 262144-524287/691200",
            "bytes */691200",
            "bytes 262144-524287/691200",
            "bytes 524288-691199/691200",
        ]
        (session,) = fake.sessions.values()
        assert bytes(session.received) == VIDEO
        assert published.post_id in fake.videos

    async def test_an_expired_session_is_transient(
        self, small_chunks: YouTubeConnector, fake: FakeYouTube
    ) -> None:
        fake.expire_sessions = True
        with pytest.raises(Transient, match="expired"):
            await small_chunks.publish(video_post())

    async def test_a_file_shorter_than_announced_is_refused(
        self, connector: YouTubeConnector, fake: FakeYouTube
    ) -> None:
        media = Media("video", "video/mp4", 5000, source=BytesSource(bytes(4000)))
        post = Post(text="x", media=(media,), title="Short")
        with pytest.raises(InvalidContent) as caught:
            await connector.publish(post)
        assert caught.value.problems[0].code == "media_size_mismatch"
        assert not fake.videos

    # -- content rules -------------------------------------------------------------------------

    async def test_a_video_needs_a_title_and_nothing_is_sent_without_one(
        self, connector: YouTubeConnector, fake: FakeYouTube
    ) -> None:
        post = video_post(title=None)
        assert [p.code for p in YouTubeConnector.validate(post)] == ["no_title"]
        with pytest.raises(InvalidContent):
            await connector.publish(post)
        assert fake.requests == []

    def test_title_and_description_rules(self) -> None:
        long_title = video_post(title="t" * 101)
        assert [p.code for p in YouTubeConnector.validate(long_title)] == ["title_too_long"]
        angled = video_post(text="1 < 2")
        assert [p.code for p in YouTubeConnector.validate(angled)] == ["forbidden_character"]
        # 2,600 characters of two bytes each: within 5,000 characters, over 5,000 bytes.
        wide = video_post(text="é" * 2600)
        assert [p.code for p in YouTubeConnector.validate(wide)] == ["text_too_long"]
        private = Post(
            text="x", media=video_post().media, title="t", options={"privacy_status": "x"}
        )
        assert [p.code for p in YouTubeConnector.validate(private)] == ["bad_privacy"]

    def test_only_one_video(self) -> None:
        image = Media("image", "image/jpeg", 1000)
        codes = {
            p.code for p in YouTubeConnector.validate(Post(text="x", title="t", media=(image,)))
        }
        assert codes == {"media_kind"}
        assert "no_media" in {p.code for p in YouTubeConnector.validate(Post(text="x", title="t"))}

    # -- errors --------------------------------------------------------------------------------

    async def test_quota_exhausted_waits_until_midnight_pacific(
        self, connector: YouTubeConnector, fake: FakeYouTube
    ) -> None:
        fake.quota_exhausted = True
        with pytest.raises(RateLimited) as caught:
            await connector.publish(video_post(bytes(10)))
        assert caught.value.retry_after is not None
        assert 0 < caught.value.retry_after <= 25 * 3600
        assert "quota" in caught.value.message
        assert "<" not in caught.value.message

    def test_quota_reset_is_midnight_in_los_angeles(self) -> None:
        noon_utc = datetime(2026, 1, 15, 20, 0, tzinfo=UTC)  # 12:00 in Los Angeles (PST)
        assert seconds_until_quota_reset(noon_utc) == 12 * 3600

    async def test_deleting_a_missing_video_is_refused(self, connector: YouTubeConnector) -> None:
        with pytest.raises(Refused) as caught:
            await connector.delete("nope")
        assert caught.value.status == 404

    # -- connecting ----------------------------------------------------------------------------

    async def test_identify_returns_the_channel(
        self, connector: YouTubeConnector, fake: FakeYouTube
    ) -> None:
        (account,) = await connector.identify()
        assert account.account_id == fake.channel["id"]
        assert (account.kind, account.handle, account.name) == (
            "channel",
            "@brandchannel",
            "Brand Channel",
        )

    def test_authorization_url_asks_for_offline_access(self) -> None:
        assert YouTubeConnector.oauth is not None
        client = OAuthClient("client-1", "secret", "https://agency.test/callback")
        request = authorization_request(YouTubeConnector.oauth, client)
        query = parse_qs(urlsplit(request.url).query)
        assert request.url.startswith("https://accounts.google.com/o/oauth2/v2/auth?")
        assert query["access_type"] == ["offline"]
        assert query["prompt"] == ["consent"]
        assert query["code_challenge_method"] == ["S256"]
        assert query["scope"][0].split() == [
            "https://www.googleapis.com/auth/youtube.upload",
            "https://www.googleapis.com/auth/youtube.readonly",
            "https://www.googleapis.com/auth/youtube.force-ssl",
        ]

    async def test_refresh_goes_to_google_and_keeps_the_refresh_token(
        self, connector: YouTubeConnector, fake: FakeYouTube
    ) -> None:
        fresh = await connector.refresh("client-1", "client-secret")
        assert fresh.access_token == fake.token != SECRET
        assert fresh.refresh_token == fake.refresh_token
        token_call = fake.requests[-1]
        assert (token_call.host, token_call.path) == ("oauth2.googleapis.com", "/token")
        assert token_call.form()["client_secret"] == "client-secret"

    async def test_a_revoked_refresh_token_means_reconnect(
        self, http: httpx.AsyncClient, fake: FakeYouTube
    ) -> None:
        credentials = Credentials(access_token=SECRET, refresh_token="revoked")
        connector = YouTubeConnector(ConnectorContext(http, BASE, credentials))
        with pytest.raises(AuthExpired):
            await connector.refresh("client-1", "client-secret")

    # -- after publishing ----------------------------------------------------------------------

    async def test_find_published_matches_title_and_description(
        self, connector: YouTubeConnector
    ) -> None:
        since = datetime.now(UTC) - timedelta(minutes=5)
        first = await connector.publish(video_post(bytes(10), text="First video"))
        await connector.publish(video_post(bytes(10), text="Second video"))
        found = await connector.find_published(video_post(bytes(10), text="First video"), since)
        assert found is not None and found.post_id == first.post_id
        assert await connector.find_published(video_post(text="Never sent"), since) is None
        other_title = video_post(bytes(10), text="First video", title="Another title")
        assert await connector.find_published(other_title, since) is None
        later = datetime.now(UTC) + timedelta(minutes=5)
        assert await connector.find_published(video_post(text="First video"), later) is None

    async def test_statistics(self, connector: YouTubeConnector) -> None:
        published = await connector.publish(video_post(bytes(10)))
        metrics = await connector.post_metrics(published.post_id)
        assert (metrics.video_views, metrics.likes, metrics.comments) == (7, 3, 1)
        account = await connector.account_metrics()
        assert (account.followers, account.posts) == (250, 1)

    async def test_comments_reply_hide_and_delete(
        self, connector: YouTubeConnector, fake: FakeYouTube
    ) -> None:
        published = await connector.publish(video_post(bytes(10)))
        (comment,) = await connector.comments(published.post_id)
        assert (comment.text, comment.author_name, comment.hidden) == (
            "Great video!",
            "A viewer",
            False,
        )
        answer = await connector.reply(comment, "Thanks!")
        assert (answer.parent_id, answer.text) == (comment.comment_id, "Thanks!")
        thread = fake.threads[comment.comment_id]
        assert [c["snippet"]["textOriginal"] for c in thread["replies"]["comments"]] == ["Thanks!"]
        await connector.hide_comment(comment)
        top = thread["snippet"]["topLevelComment"]["snippet"]
        assert top["moderationStatus"] == "heldForReview"
        await connector.delete_comment(answer)
        assert thread["replies"]["comments"] == []

    async def test_a_reply_to_the_video_itself_is_a_new_thread(
        self, connector: YouTubeConnector, fake: FakeYouTube
    ) -> None:
        """The pipeline's first comment: a Comment naming the video (commentThreads.insert),
        which comments.insert would refuse as a parent that does not exist."""
        video_id = (await connector.publish(video_post(bytes(10)))).post_id
        on_video = Comment(comment_id=video_id, post_id=video_id, text="")
        answer = await connector.reply(on_video, "Tell us what you think!")
        assert (answer.post_id, answer.parent_id) == (video_id, None)
        thread = fake.threads[answer.comment_id]
        assert thread["snippet"]["videoId"] == video_id
        top = thread["snippet"]["topLevelComment"]["snippet"]
        assert (top["textOriginal"], top["authorDisplayName"]) == (
            "Tell us what you think!",
            "Brand Channel",
        )


class TestTheFakeHoldsToTheDiscoveryDocument:
    """The fake is only worth something if it refuses what the document does not allow."""

    @pytest.mark.parametrize(
        ("method", "url", "body", "reason"),
        [
            ("GET", "/youtube/v3/videos?part=snippet&colour=red", None, "unexpectedParameter"),
            ("GET", "/youtube/v3/videos?id=1", None, "missingRequiredParameter"),
            ("GET", "/youtube/v3/playlistItems?part=id&maxResults=51", None, "invalidParameter"),
            ("GET", "/youtube/v3/channels?part=id&mine=yes", None, "invalidParameter"),
            (
                "POST",
                "/youtube/v3/comments?part=snippet",
                {"snippet": {"txt": "a"}},
                "invalidRequestBody",
            ),
            (
                "POST",
                "/youtube/v3/comments?part=id",
                {"snippet": {"textOriginal": "a"}},
                "badRequest",
            ),
            ("GET", "/youtube/v3/nothing?part=id", None, "notFound"),
        ],
    )
    async def test_refuses_what_the_document_does_not_allow(
        self, http: httpx.AsyncClient, method: str, url: str, body: object, reason: str
    ) -> None:
        response = await http.request(
            method, BASE + url, json=body, headers={"Authorization": f"Bearer {SECRET}"}
        )
        assert response.status_code >= 400
        assert response.json()["error"]["errors"][0]["reason"] == reason

    async def test_refuses_a_token_without_the_method_scope(self) -> None:
        fake = FakeYouTube(
            token=SECRET, scopes=("https://www.googleapis.com/auth/youtube.readonly",)
        )
        async with fake.client() as http:
            connector = YouTubeConnector(ConnectorContext(http, BASE, Credentials(SECRET)))
            with pytest.raises(Refused) as caught:
                await connector.delete("any")
        assert caught.value.status == 403


# -- the video uploaded ahead, private until its time (docs/publishing.md) --------------------


def named(post: Post, reference: str) -> Post:
    """``post`` at its time, as the publisher builds it: the file at hand, naming the staged
    video."""
    return replace(post, media=(replace(post.media[0], staged=reference),))


async def test_a_staged_video_is_private_until_one_status_update_at_its_time(
    connector: YouTubeConnector, fake: FakeYouTube
) -> None:
    post = video_post(bytes(1000))
    since = datetime.now(UTC) - timedelta(minutes=1)
    [staged] = await connector.stage_post(post)
    [video_id] = fake.videos
    assert fake.videos[video_id]["status"]["privacyStatus"] == "private"
    # Listed in the uploads while private: reconciliation does not take it for the post.
    assert await connector.find_published(post, since) is None
    fake.requests.clear()
    published = await connector.publish(named(post, staged.reference))
    assert published.post_id == video_id
    [update] = fake.requests
    assert (update.method, update.path, update.param("part")) == (
        "PUT",
        "/youtube/v3/videos",
        "status",
    )
    assert fake.videos[video_id]["status"] == {
        "uploadStatus": "uploaded",
        "privacyStatus": "unlisted",  # as the post asks
        "selfDeclaredMadeForKids": False,
    }
    found = await connector.find_published(post, since)
    assert found is not None and found.post_id == video_id


async def test_a_post_changed_since_staging_uploads_again_and_deletes_the_stale_video(
    connector: YouTubeConnector, fake: FakeYouTube
) -> None:
    [staged] = await connector.stage_post(video_post(bytes(1000)))
    [stale] = fake.videos
    retitled = video_post(bytes(1000), title="Launch day, take two")
    published = await connector.publish(named(retitled, staged.reference))
    assert published.post_id != stale
    assert list(fake.videos) == [published.post_id]
    assert fake.videos[published.post_id]["snippet"]["title"] == "Launch day, take two"


async def test_a_staged_video_deleted_on_youtube_is_uploaded_again(
    connector: YouTubeConnector, fake: FakeYouTube
) -> None:
    post = video_post(bytes(1000))
    [staged] = await connector.stage_post(post)
    fake.videos.clear()
    fake.uploads.clear()
    published = await connector.publish(named(post, staged.reference))
    assert list(fake.videos) == [published.post_id]
    assert fake.videos[published.post_id]["status"]["privacyStatus"] == "unlisted"


async def test_discarding_a_staged_video_deletes_it(
    connector: YouTubeConnector, fake: FakeYouTube
) -> None:
    [staged] = await connector.stage_post(video_post(bytes(1000)))
    assert await connector.discard_staged([staged.reference]) is True
    assert fake.videos == {}
    assert await connector.discard_staged([staged.reference]) is True  # already gone: done
