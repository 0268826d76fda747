"""LinkedIn against a fake written from LinkedIn's reference pages."""

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
    ConnectorError,
    Credentials,
    InvalidContent,
    Media,
    NotSupported,
    Post,
    RateLimited,
    Refused,
    Transient,
)
from agency.connector.base import BytesSource
from agency.connector.oauth import OAuthClient, authorization_request
from agency_connectors.linkedin import LinkedInConnector
from agency_connectors.linkedin.connector import seconds_until_utc_midnight
from agency_connectors.linkedin.little import escape, plain
from tests.connectors.contract import SECRET, ConnectorContract, FailingConnector
from tests.support.fakes.linkedin import FakeLinkedIn

BASE = "http://linkedin.test"
ORGANIZATION = "urn:li:organization:2414183"
TRICKY = (
    "Launch (finally)! Save 20% on *everything* - see [details] <today> ~ ask @sales_team #launch"
)


def image(name: str = "a") -> Media:
    data = name.encode() * 100
    return Media(
        "image",
        "image/png",
        len(data),
        width=800,
        height=600,
        alt_text=f"Photo {name}",
        source=BytesSource(data),
    )


VIDEO_BYTES = bytes(range(256)) * 10  # 2,560 bytes: three parts of 1,000 in the fake


def video(data: bytes = VIDEO_BYTES, seconds: float = 12.0) -> Media:
    return Media(
        "video", "video/mp4", len(data), duration_seconds=seconds, source=BytesSource(data)
    )


@pytest.fixture
def fake() -> FakeLinkedIn:
    return FakeLinkedIn(token=SECRET)


@pytest.fixture
def small_parts(fake: FakeLinkedIn, monkeypatch: pytest.MonkeyPatch) -> FakeLinkedIn:
    """Parts of 1,000 bytes instead of 4 MB, and no pause while LinkedIn processes."""
    fake.part_bytes = 1000
    monkeypatch.setattr(LinkedInConnector, "video_poll_seconds", 0.0)
    return fake


@pytest.fixture
async def http(fake: FakeLinkedIn) -> AsyncIterator[httpx.AsyncClient]:
    async with fake.client() as client:
        yield client


def build(
    http: httpx.AsyncClient, fake: FakeLinkedIn, author: str | None = ORGANIZATION
) -> LinkedInConnector:
    extra = {"author": author} if author else {}
    credentials = Credentials(access_token=SECRET, refresh_token=fake.refresh_token, extra=extra)
    return LinkedInConnector(ConnectorContext(http=http, base_url=BASE, credentials=credentials))


@pytest.fixture
def connector(http: httpx.AsyncClient, fake: FakeLinkedIn) -> LinkedInConnector:
    return build(http, fake)


@pytest.fixture
def publishable_post() -> Post:
    return Post(text="We are hiring engineers. #jobs", media=(image(),))


@pytest.fixture
def failing_connector(http: httpx.AsyncClient, fake: FakeLinkedIn) -> FailingConnector:
    def make(status: int) -> LinkedInConnector:
        fake.fail_with = status
        return build(http, fake)

    return make


class TestLinkedIn(ConnectorContract):
    connector_class = LinkedInConnector

    # -- little text ---------------------------------------------------------------------------

    def test_reserved_characters_are_escaped_and_hashtags_kept(self) -> None:
        assert escape("a (b) #tag c#d @e_f") == "a \\(b\\) #tag c\\#d \\@e\\_f"
        assert escape("#start") == "#start"
        assert escape("back\\slash") == "back\\\\slash"
        assert (
            plain("{hashtag|\\#|tag} \\(x\\) @[Devtestco](urn:li:organization:1)")
            == "#tag (x) @Devtestco"
        )

    async def test_the_whole_text_survives_linkedin_cutting_at_reserved_characters(
        self, connector: LinkedInConnector, fake: FakeLinkedIn
    ) -> None:
        published = await connector.publish(Post(text=TRICKY))
        stored = fake.posts[published.post_id]["commentary"]
        assert plain(stored) == TRICKY
        assert "{hashtag|\\#|launch}" in stored

    async def test_unescaped_text_would_be_cut(
        self, http: httpx.AsyncClient, fake: FakeLinkedIn
    ) -> None:
        """The fake's cut is real: the same text sent raw loses everything after '('."""
        response = await http.post(
            f"{BASE}/rest/posts",
            json={
                "author": ORGANIZATION,
                "commentary": TRICKY,
                "visibility": "PUBLIC",
                "distribution": {"feedDistribution": "MAIN_FEED"},
                "lifecycleState": "PUBLISHED",
            },
            headers={
                "Authorization": f"Bearer {SECRET}",
                "LinkedIn-Version": "202610",
                "X-Restli-Protocol-Version": "2.0.0",
            },
        )
        assert response.status_code == 201
        assert fake.posts[response.headers["x-restli-id"]]["commentary"] == "Launch "

    # -- headers and versions ------------------------------------------------------------------

    async def test_every_rest_call_carries_the_version_headers(
        self, connector: LinkedInConnector, fake: FakeLinkedIn, publishable_post: Post
    ) -> None:
        published = await connector.publish(publishable_post)
        await connector.post_metrics(published.post_id)
        rest = [r for r in fake.requests if r.path.startswith("/rest/")]
        assert len(rest) == 3  # image upload start, post, social metadata
        assert {r.headers["linkedin-version"] for r in rest} == {LinkedInConnector.api_version}
        assert {r.headers["x-restli-protocol-version"] for r in rest} == {"2.0.0"}

    async def test_the_version_is_configurable(
        self, connector: LinkedInConnector, fake: FakeLinkedIn, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("AGENCY_LINKEDIN_VERSION", "202503")
        await connector.publish(Post(text="hello"))
        assert fake.requests[-1].headers["linkedin-version"] == "202503"
        monkeypatch.setenv("AGENCY_LINKEDIN_VERSION", "2025-3")
        with pytest.raises(ValueError, match="YYYYMM"):
            LinkedInConnector.version()

    async def test_a_retired_version_says_what_to_change(
        self, connector: LinkedInConnector, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("AGENCY_LINKEDIN_VERSION", "202301")
        with pytest.raises(Refused, match="AGENCY_LINKEDIN_VERSION") as caught:
            await connector.publish(Post(text="hello"))
        assert caught.value.status == 426

    # -- publishing ----------------------------------------------------------------------------

    async def test_post_urn_comes_from_the_restli_header(
        self, connector: LinkedInConnector, fake: FakeLinkedIn
    ) -> None:
        published = await connector.publish(Post(text="Plain words"))
        assert published.post_id.startswith("urn:li:share:")
        assert published.url == f"https://www.linkedin.com/feed/update/{published.post_id}/"
        post = fake.posts[published.post_id]
        assert post["author"] == ORGANIZATION
        assert (post["visibility"], post["lifecycleState"]) == ("PUBLIC", "PUBLISHED")
        assert "content" not in post

    async def test_one_image_is_uploaded_then_attached(
        self, connector: LinkedInConnector, fake: FakeLinkedIn
    ) -> None:
        published = await connector.publish(Post(text="One photo", media=(image(),)))
        content = fake.posts[published.post_id]["content"]
        assert content["media"]["altText"] == "Photo a"
        assert fake.images[content["media"]["id"]] == b"a" * 100

    async def test_several_images_make_a_multi_image_post(
        self, connector: LinkedInConnector, fake: FakeLinkedIn
    ) -> None:
        published = await connector.publish(Post(text="Album", media=(image("a"), image("b"))))
        images = fake.posts[published.post_id]["content"]["multiImage"]["images"]
        assert [fake.images[i["id"]] for i in images] == [b"a" * 100, b"b" * 100]

    async def test_a_link_alone_makes_an_article(
        self, connector: LinkedInConnector, fake: FakeLinkedIn
    ) -> None:
        post = Post(
            text="Read this", link="https://example.test/news", options={"link_title": "News"}
        )
        published = await connector.publish(post)
        article = fake.posts[published.post_id]["content"]["article"]
        assert article == {"source": "https://example.test/news", "title": "News"}

    def test_limits(self) -> None:
        huge = Media("image", "image/png", 1000, width=7000, height=6000)
        assert [p.code for p in LinkedInConnector.validate(Post(text="x", media=(huge,)))] == [
            "media_too_many_pixels"
        ]
        wide = Media("video", "video/mp4", 1000, width=7680, height=4320, duration_seconds=9)
        assert LinkedInConnector.validate(Post(text="x", media=(wide,))) == []

    def test_video_rules_are_listed_by_validate(self) -> None:
        cases = {
            "long": (video(seconds=31 * 60),),
            "short": (video(seconds=2),),
            "huge": (Media("video", "video/mp4", 600 * 1024**2, duration_seconds=60),),
            "mov": (Media("video", "video/quicktime", 1000, duration_seconds=60),),
            "with an image": (video(), image()),
            "two videos": (video(), video()),
        }
        codes = {
            name: [p.code for p in LinkedInConnector.validate(Post(text="x", media=media))]
            for name, media in cases.items()
        }
        assert codes == {
            "long": ["video_too_long"],
            "short": ["video_too_short"],
            "huge": ["media_too_large"],
            "mov": ["media_type"],
            "with an image": ["mixed_media"],
            "two videos": ["one_video_only"],
        }
        notes = LinkedInConnector.describe()["limits"]["notes"]
        assert not [n for n in notes if "no video" in n]

    # -- video ---------------------------------------------------------------------------------

    async def test_a_video_is_uploaded_in_parts_finalized_then_posted(
        self, connector: LinkedInConnector, small_parts: FakeLinkedIn
    ) -> None:
        fake = small_parts
        post = Post(text="Our new office", title="Office tour", media=(video(),))
        assert LinkedInConnector.validate(post) == []
        published = await connector.publish(post)
        media = fake.posts[published.post_id]["content"]["media"]
        assert media["title"] == "Office tour"
        held = fake.videos[media["id"]]
        assert held.owner == ORGANIZATION and held.bytes() == VIDEO_BYTES
        puts = [r for r in fake.requests if r.method == "PUT"]
        assert [len(r.body) for r in puts] == [1000, 1000, 560]
        [init, finalize] = [r for r in fake.requests if r.path == "/rest/videos"]
        assert init.param("action") == "initializeUpload"
        assert init.json()["initializeUploadRequest"]["fileSizeBytes"] == len(VIDEO_BYTES)
        sent = finalize.json()["finalizeUploadRequest"]
        assert sent["uploadedPartIds"] == [held.etags[i] for i in range(3)]
        assert sent["uploadToken"] == held.token != ""
        # The post waited for LinkedIn to process the video.
        statuses = [r for r in fake.requests if r.path.startswith("/rest/videos/")]
        assert len(statuses) == 2 and "urn%3Ali%3Avideo%3A" in statuses[0].raw_path

    async def test_a_video_staged_ahead_is_processed_then_named_by_the_post(
        self, connector: LinkedInConnector, small_parts: FakeLinkedIn
    ) -> None:
        fake = small_parts
        post = Post(text="Our new office", title="Office tour", media=(video(),))
        [staged] = await connector.stage_post(post)
        assert staged.reference in fake.videos  # uploaded, finalized, AVAILABLE
        assert fake.videos[staged.reference].bytes() == VIDEO_BYTES
        fake.requests.clear()
        named = replace(post, media=(replace(post.media[0], staged=staged.reference, source=None),))
        published = await connector.publish(named)
        assert [(r.method, r.path) for r in fake.requests] == [("POST", "/rest/posts")]
        media = fake.posts[published.post_id]["content"]["media"]
        assert media == {"id": staged.reference, "title": "Office tour"}

    async def test_a_video_without_a_title_has_none(
        self, connector: LinkedInConnector, small_parts: FakeLinkedIn
    ) -> None:
        published = await connector.publish(Post(text="Short clip", media=(video(b"v" * 700),)))
        media = small_parts.posts[published.post_id]["content"]["media"]
        assert set(media) == {"id"} and small_parts.videos[media["id"]].token == ""

    @pytest.mark.parametrize(
        ("status", "error"), [(503, Transient), (401, AuthExpired), (429, RateLimited)]
    )
    async def test_a_part_that_fails_midway_is_typed_and_nothing_is_posted(
        self,
        connector: LinkedInConnector,
        small_parts: FakeLinkedIn,
        status: int,
        error: type[ConnectorError],
    ) -> None:
        small_parts.part_failures = {1: status}
        with pytest.raises(error):
            await connector.publish(Post(text="Broken", media=(video(),)))
        assert small_parts.posts == {}
        assert not [r for r in small_parts.requests if r.param("action") == "finalizeUpload"]

    async def test_a_part_without_an_etag_is_sent_again_later(
        self, connector: LinkedInConnector, small_parts: FakeLinkedIn
    ) -> None:
        small_parts.send_etags = False
        with pytest.raises(Transient, match="confirm"):
            await connector.publish(Post(text="No tag", media=(video(),)))
        assert small_parts.posts == {}

    async def test_a_video_linkedin_cannot_process_is_invalid_content(
        self, connector: LinkedInConnector, small_parts: FakeLinkedIn
    ) -> None:
        small_parts.processing_outcome = "PROCESSING_FAILED"
        with pytest.raises(InvalidContent) as caught:
            await connector.publish(Post(text="Odd codec", media=(video(),)))
        assert caught.value.problems[0].code == "media_processing"
        assert small_parts.posts == {}

    async def test_the_fake_holds_video_uploads_to_the_videos_api(
        self, http: httpx.AsyncClient, small_parts: FakeLinkedIn
    ) -> None:
        fake = small_parts
        headers = {
            "Authorization": f"Bearer {SECRET}",
            "LinkedIn-Version": "202610",
            "X-Restli-Protocol-Version": "2.0.0",
        }
        start = {"initializeUploadRequest": {"owner": ORGANIZATION, "fileSizeBytes": 1500}}
        url = f"{BASE}/rest/videos"
        value = (
            await http.post(url, params={"action": "initializeUpload"}, json=start, headers=headers)
        ).json()["value"]
        first, second = value["uploadInstructions"]
        finalize = {"video": value["video"], "uploadToken": value["uploadToken"]}

        async def finish(part_ids: list[str]) -> int:
            body = {"finalizeUploadRequest": {**finalize, "uploadedPartIds": part_ids}}
            params = {"action": "finalizeUpload"}
            return (await http.post(url, params=params, json=body, headers=headers)).status_code

        wrong_size = await http.put(first["uploadUrl"], content=b"x" * 999, headers=headers)
        assert wrong_size.status_code == 400
        one = await http.put(first["uploadUrl"], content=b"x" * 1000, headers=headers)
        assert await finish([one.headers["etag"]]) == 400  # before every part is in
        two = await http.put(second["uploadUrl"], content=b"y" * 500, headers=headers)
        assert await finish([two.headers["etag"], one.headers["etag"]]) == 400  # out of order
        assert await finish([one.headers["etag"]]) == 400  # an ETag missing
        assert await finish([one.headers["etag"], two.headers["etag"]]) == 200
        assert fake.videos[value["video"]].bytes() == b"x" * 1000 + b"y" * 500
        unknown = await http.put(f"{BASE}/dms-uploads/video/nope/part/0", content=b"z")
        assert unknown.status_code == 401  # no token: refused before anything else

    async def test_a_refused_post_lists_linkedins_words(
        self, http: httpx.AsyncClient, fake: FakeLinkedIn
    ) -> None:
        connector = build(http, fake, author="urn:li:organization:999")  # not administered
        with pytest.raises(Refused, match="permissions") as caught:
            await connector.publish(Post(text="hello"))
        assert caught.value.status == 403

    async def test_rate_limits_wait_until_midnight_utc(
        self, failing_connector: FailingConnector
    ) -> None:
        with pytest.raises(RateLimited) as caught:
            await failing_connector(429).publish(Post(text="hello"))
        assert caught.value.retry_after is not None and 0 < caught.value.retry_after <= 86400
        noon = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
        assert seconds_until_utc_midnight(noon) == 12 * 3600

    # -- after publishing ----------------------------------------------------------------------

    async def test_find_published_reads_little_text_back(
        self, connector: LinkedInConnector, fake: FakeLinkedIn
    ) -> None:
        since = datetime.now(UTC) - timedelta(minutes=5)
        first = await connector.publish(Post(text=TRICKY))
        await connector.publish(Post(text="Another post"))
        found = await connector.find_published(Post(text=TRICKY), since)
        assert found is not None and found.post_id == first.post_id
        assert await connector.find_published(Post(text="Never sent"), since) is None
        later = datetime.now(UTC) + timedelta(minutes=5)
        assert await connector.find_published(Post(text=TRICKY), later) is None
        finder = fake.requests[-1]
        assert "author=urn%3Ali%3Aorganization%3A2414183" in finder.raw_query

    async def test_delete_encodes_the_urn(
        self, connector: LinkedInConnector, fake: FakeLinkedIn
    ) -> None:
        published = await connector.publish(Post(text="bye"))
        await connector.delete(published.post_id)
        assert published.post_id not in fake.posts
        assert "urn%3Ali%3Ashare%3A" in fake.requests[-1].raw_path
        with pytest.raises(Refused):
            await connector.delete(published.post_id)

    async def test_metrics(
        self, connector: LinkedInConnector, http: httpx.AsyncClient, fake: FakeLinkedIn
    ) -> None:
        published = await connector.publish(Post(text="numbers"))
        metrics = await connector.post_metrics(published.post_id)
        assert (metrics.likes, metrics.comments) == (5, 1)
        assert (await connector.account_metrics()).followers == 1200
        with pytest.raises(NotSupported):
            await build(http, fake, author=fake.person).account_metrics()

    async def test_comments_reply_and_delete(
        self, connector: LinkedInConnector, fake: FakeLinkedIn
    ) -> None:
        published = await connector.publish(Post(text="talk to us"))
        (comment,) = await connector.comments(published.post_id)
        assert (comment.text, comment.author_id) == ("Congratulations!", "urn:li:person:viewer1")
        answer = await connector.reply(comment, "Thank you!")
        assert (answer.parent_id, answer.text, answer.author_id) == (
            comment.comment_id,
            "Thank you!",
            ORGANIZATION,
        )
        assert [c["message"]["text"] for c in fake.comments[comment.comment_id]] == ["Thank you!"]
        await connector.delete_comment(comment)
        assert await connector.comments(published.post_id) == []

    async def test_a_first_comment_goes_on_the_post_itself(
        self, connector: LinkedInConnector, fake: FakeLinkedIn
    ) -> None:
        # The pipeline posts a first comment as a reply to the post: Comment(post, post).
        published = await connector.publish(Post(text="new collection"))
        post = Comment(comment_id=published.post_id, post_id=published.post_id, text="")
        answer = await connector.reply(post, "Every size is online.")
        assert (answer.parent_id, answer.post_id, answer.author_id) == (
            None,
            published.post_id,
            ORGANIZATION,
        )
        mine = [c for c in fake.comments[published.post_id] if c["actor"] == ORGANIZATION]
        assert [(c["message"]["text"], c["commentUrn"]) for c in mine] == [
            ("Every size is online.", answer.comment_id)
        ]
        assert "parentComment" not in mine[0]
        with pytest.raises(Refused):  # neither a comment nor this post
            await connector.reply(replace(post, comment_id="urn:li:share:1"), "?")

    # -- connecting ----------------------------------------------------------------------------

    async def test_identify_offers_the_member_and_the_pages_they_administer(
        self, http: httpx.AsyncClient, fake: FakeLinkedIn
    ) -> None:
        member, page = await build(http, fake, author=None).identify()
        assert (member.account_id, member.kind, member.name) == (
            fake.person,
            "user",
            "Ada Lovelace",
        )
        assert (page.account_id, page.kind, page.name, page.handle) == (
            ORGANIZATION,
            "organization",
            "Devtestco",
            "devtestco",
        )
        assert member.credentials is not None and member.credentials.extra["author"] == fake.person
        assert page.credentials is not None and page.credentials.extra["author"] == ORGANIZATION
        assert page.credentials.access_token == SECRET

    async def test_without_an_author_the_member_posts(
        self, http: httpx.AsyncClient, fake: FakeLinkedIn
    ) -> None:
        published = await build(http, fake, author=None).publish(Post(text="me"))
        assert fake.posts[published.post_id]["author"] == fake.person

    def test_authorization_url(self) -> None:
        assert LinkedInConnector.oauth is not None
        client = OAuthClient("client-1", "secret", "https://agency.test/callback")
        query = parse_qs(urlsplit(authorization_request(LinkedInConnector.oauth, client).url).query)
        assert query["scope"][0].split() == list(LinkedInConnector.oauth.scopes)
        assert "code_challenge" not in query

    async def test_refresh_when_linkedin_gave_a_refresh_token(
        self, connector: LinkedInConnector, fake: FakeLinkedIn
    ) -> None:
        fresh = await connector.refresh("client-1", "secret")
        assert fresh.access_token == fake.token != SECRET
        assert fresh.extra["author"] == ORGANIZATION
        assert fake.requests[-1].path == "/oauth/v2/accessToken"

    async def test_without_a_refresh_token_the_channel_is_reconnected(
        self, http: httpx.AsyncClient
    ) -> None:
        credentials = Credentials(access_token=SECRET)
        connector = LinkedInConnector(
            ConnectorContext(http=http, base_url=BASE, credentials=credentials)
        )
        with pytest.raises(AuthExpired, match="reconnect"):
            await connector.refresh("client-1", "secret")

    async def test_an_image_owner_linkedin_refuses_stops_the_post(
        self, connector: LinkedInConnector, fake: FakeLinkedIn
    ) -> None:
        fake.organizations.clear()  # the member no longer administers the page
        with pytest.raises(Refused):
            await connector.publish(Post(text="x", media=(image(),)))
        assert fake.posts == {}

    async def test_a_422_is_invalid_content(self, failing_connector: FailingConnector) -> None:
        with pytest.raises(InvalidContent) as caught:
            await failing_connector(422).publish(Post(text="hello"))
        assert caught.value.problems[0].message.startswith("LinkedIn: ")
