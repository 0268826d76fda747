"""Instagram (with Facebook Login) against a fake Graph API held to Meta's reference pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from agency.connector import (
    ConnectorContext,
    Credentials,
    InvalidContent,
    Media,
    Post,
    RateLimited,
    Transient,
)
from agency_connectors.instagram import InstagramConnector
from tests.connectors.contract import SECRET, ConnectorContract, FailingConnector
from tests.support.fakes.asgi import Request
from tests.support.fakes.meta import GraphFake

BASE = "http://graph.test/v21.0"


class Instagram(InstagramConnector):
    """The real connector, polling containers without waiting between polls."""

    container_poll_seconds = 0.0


def image(name: str = "bread", alt: str | None = None) -> Media:
    url = f"https://cdn.test/{name}.jpg"
    return Media("image", "image/jpeg", 200_000, alt_text=alt, public_url=url)


def video(name: str = "oven") -> Media:
    url = f"https://cdn.test/{name}.mp4"
    return Media("video", "video/mp4", 5_000_000, duration_seconds=12, public_url=url)


@pytest.fixture
def fake() -> GraphFake:
    return GraphFake()


@pytest.fixture
def page(fake: GraphFake) -> dict[str, Any]:
    return fake.add_page("Acme Bakery", token=SECRET)


@pytest.fixture
def account(fake: GraphFake, page: dict[str, Any]) -> dict[str, Any]:
    return fake.objects[page["_ig"]]


@pytest.fixture
async def http(fake: GraphFake) -> AsyncIterator[httpx.AsyncClient]:
    async with fake.client() as client:
        yield client


def build(
    http: httpx.AsyncClient, page: dict[str, Any], cls: type[Instagram] = Instagram
) -> Instagram:
    credentials = Credentials(
        access_token=page["access_token"],
        refresh_token="EAA-user-token",
        extra={"page_id": page["id"], "ig_user_id": page["_ig"]},
    )
    return cls(ConnectorContext(http=http, base_url=BASE, credentials=credentials))


@pytest.fixture
def connector(http: httpx.AsyncClient, page: dict[str, Any]) -> Instagram:
    return build(http, page)


@pytest.fixture
def publishable_post() -> Post:
    return Post(text="Crumb shot. #sourdough", media=(image(),), first_comment="Recipe in bio")


@pytest.fixture
def failing_connector(
    http: httpx.AsyncClient, fake: GraphFake, page: dict[str, Any]
) -> FailingConnector:
    def make(status: int) -> Instagram:
        fake.fail(status)
        return build(http, page)

    return make


def sent(fake: GraphFake, path_end: str, method: str = "POST") -> list[dict[str, str]]:
    requests: list[Request] = fake.seen(method, path_end)
    return [r.form() if method == "POST" else dict(r.query) for r in requests]


class TestInstagram(ConnectorContract):
    connector_class = InstagramConnector

    # -- rules ------------------------------------------------------------------------------

    def test_the_rules_of_an_instagram_post(self) -> None:
        limits = InstagramConnector.limits
        assert limits.max_posts_per_day == 50
        assert (limits.max_text_length, limits.max_hashtags, limits.max_media) == (2200, 30, 10)
        too_many_tags = Post(text=" ".join(f"#t{i}" for i in range(31)), media=(image(),))
        codes = [p.code for p in InstagramConnector.validate(too_many_tags)]
        assert codes == ["too_many_hashtags"]
        assert [p.code for p in InstagramConnector.validate(Post(text="Hi"))] == ["no_media"]
        gif = Media("gif", "image/gif", 10, public_url="https://cdn.test/a.gif")
        assert "media_kind" in {p.code for p in InstagramConnector.validate(Post("x", (gif,)))}

    async def test_media_without_a_public_url_is_refused_before_any_call(
        self, connector: Instagram, fake: GraphFake
    ) -> None:
        local = Media("image", "image/jpeg", 10)
        post = Post(text="Hi", media=(image(), local))
        assert InstagramConnector.validate(post) == []  # as the API describes the media
        assert [(p.field, p.code) for p in InstagramConnector.delivery_problems(post)] == [
            ("media.1", "media_public_url")
        ]
        with pytest.raises(InvalidContent) as caught:
            await connector.publish(post)
        assert caught.value.problems[0].field == "media.1"
        assert fake.requests == []

    # -- connecting -------------------------------------------------------------------------

    async def test_identify_finds_the_instagram_account_of_each_page(
        self, http: httpx.AsyncClient, fake: GraphFake, page: dict[str, Any]
    ) -> None:
        fake.add_page("No Instagram", instagram=False)
        credentials = Credentials(access_token=fake.user_token)
        user = Instagram(ConnectorContext(http=http, base_url=BASE, credentials=credentials))
        [found] = await user.identify()
        assert (found.account_id, found.kind, found.handle) == (
            page["_ig"],
            "business",
            "acmebakery",
        )
        assert found.credentials is not None
        assert found.credentials.access_token == SECRET  # the Page's token reaches its account
        assert found.credentials.extra == {"page_id": page["id"], "ig_user_id": page["_ig"]}
        assert found.credentials.refresh_token == fake.user_token

    # -- publishing -------------------------------------------------------------------------

    async def test_a_photo_goes_through_a_container_that_is_polled_until_finished(
        self, connector: Instagram, fake: GraphFake, account: dict[str, Any]
    ) -> None:
        fake.processing_polls = 3
        post = Post(text="Crumb shot", media=(image(alt="A loaf"),), first_comment="Recipe soon")
        published = await connector.publish(post)
        paths = [(r.method, r.path.rsplit("/", 1)[-1]) for r in fake.requests]
        assert paths[0] == ("GET", "content_publishing_limit")  # the quota comes first
        assert paths[1] == ("POST", "media")
        container = fake.of_kind("ig_container")[0]["id"]
        polls = [r for r in fake.requests if r.path.endswith(f"/{container}")]
        assert len(polls) == 4 and all(r.param("fields") == "status_code,status" for r in polls)
        assert sent(fake, "/media") == [
            {
                "image_url": "https://cdn.test/bread.jpg",
                "alt_text": "A loaf",
                "caption": "Crumb shot",
            }
        ]
        assert sent(fake, "/media_publish") == [{"creation_id": container}]
        media = fake.objects[published.post_id]
        assert media["caption"] == "Crumb shot" and published.url == media["permalink"]
        [comment] = fake.comments_on(published.post_id, top_only=True)
        assert comment["text"] == "Recipe soon" and comment["username"] == account["username"]

    async def test_a_container_that_never_finishes_publishes_nothing(
        self, http: httpx.AsyncClient, page: dict[str, Any], fake: GraphFake
    ) -> None:
        class Impatient(Instagram):
            container_poll_attempts = 3

        fake.processing_polls = 10
        with pytest.raises(Transient, match="still processing"):
            await build(http, page, Impatient).publish(Post(text="Hi", media=(image(),)))
        assert not fake.seen("POST", "/media_publish")

    async def test_a_container_in_error_is_a_content_problem(
        self, connector: Instagram, fake: GraphFake
    ) -> None:
        fake.processing_outcome = "ERROR"
        with pytest.raises(InvalidContent, match="2207026"):
            await connector.publish(Post(text="Hi", media=(image(),)))
        assert not fake.seen("POST", "/media_publish")

    async def test_the_fake_refuses_to_publish_a_container_still_in_progress(
        self, http: httpx.AsyncClient, connector: Instagram, fake: GraphFake, page: dict[str, Any]
    ) -> None:
        container = await connector.graph(
            "POST", f"{page['_ig']}/media", data={"image_url": "https://cdn.test/a.jpg"}
        )
        with pytest.raises(Transient, match="not ready"):
            await connector.graph(
                "POST", f"{page['_ig']}/media_publish", data={"creation_id": container["id"]}
            )

    async def test_a_single_video_is_a_reel(self, connector: Instagram, fake: GraphFake) -> None:
        await connector.publish(Post(text="Oven", media=(video(),)))
        assert sent(fake, "/media") == [
            {"media_type": "REELS", "video_url": "https://cdn.test/oven.mp4", "caption": "Oven"}
        ]

    async def test_a_carousel_is_a_container_of_processed_item_containers(
        self, connector: Instagram, fake: GraphFake
    ) -> None:
        published = await connector.publish(Post(text="Bake day", media=(image(), video())))
        items, parent = sent(fake, "/media")[:2], sent(fake, "/media")[2]
        assert items == [
            {"image_url": "https://cdn.test/bread.jpg", "is_carousel_item": "true"},
            {
                "media_type": "VIDEO",
                "video_url": "https://cdn.test/oven.mp4",
                "is_carousel_item": "true",
            },
        ]
        children = [c["id"] for c in fake.of_kind("ig_container")[:2]]
        assert parent == {
            "media_type": "CAROUSEL",
            "children": ",".join(children),
            "caption": "Bake day",
        }
        # Each item is processed before the carousel is made of them.
        order = [r.path.rsplit("/", 1)[-1] for r in fake.requests]
        assert order.index(children[1]) < len(order) - order[::-1].index("media") - 1
        assert fake.objects[published.post_id]["media_type"] == "CAROUSEL_ALBUM"

    async def test_the_daily_quota_is_checked_before_anything_is_created(
        self, connector: Instagram, fake: GraphFake
    ) -> None:
        fake.quota_total = 2
        for _ in range(2):
            await connector.publish(Post(text="Hi", media=(image(),)))
        created = len(fake.seen("POST", "/media"))
        with pytest.raises(RateLimited) as caught:
            await connector.publish(Post(text="Third", media=(image(),)))
        assert "2 posts" in caught.value.message and "24 hours" in caught.value.message
        assert len(fake.seen("POST", "/media")) == created

    async def test_the_quota_reached_at_publishing_is_a_rate_limit(
        self, connector: Instagram, fake: GraphFake
    ) -> None:
        # Another tool published in between: media_publish itself refuses (code 9).
        fake.fail(400, 9, subcode=2207042, only="/media_publish", message="Limit reached")
        with pytest.raises(RateLimited, match="Limit reached"):
            await connector.publish(Post(text="Hi", media=(image(),)))

    async def test_find_published_matches_the_caption_of_recent_media(
        self, connector: Instagram, fake: GraphFake
    ) -> None:
        since = datetime.now(UTC) - timedelta(minutes=5)
        published = await connector.publish(Post(text="Crumb  shot\n#bread", media=(image(),)))
        await connector.publish(Post(text="Another", media=(image(),)))
        found = await connector.find_published(Post(text="Crumb shot #bread"), since)
        assert found is not None and found.post_id == published.post_id
        assert (
            await connector.find_published(
                Post(text="Crumb shot #bread"), datetime.now(UTC) + timedelta(minutes=1)
            )
            is None
        )

    # -- reading and moderating ---------------------------------------------------------------

    async def test_metrics(
        self, connector: Instagram, fake: GraphFake, account: dict[str, Any]
    ) -> None:
        published = await connector.publish(Post(text="Hi", media=(image(),)))
        fake.objects[published.post_id]["_insights"] = {
            "views": 500,
            "reach": 300,
            "saved": 9,
            "likes": 40,
        }
        metrics = await connector.post_metrics(published.post_id)
        assert (metrics.impressions, metrics.reach, metrics.saves, metrics.likes) == (
            500,
            300,
            9,
            40,
        )
        stats = await connector.account_metrics()
        assert (stats.followers, stats.following, stats.posts) == (5400, 80, 1)

    async def test_comments_with_their_replies_hiding_and_deleting(
        self, connector: Instagram, fake: GraphFake
    ) -> None:
        published = await connector.publish(Post(text="Hi", media=(image(),)))
        top = fake.add_comment(published.post_id, "Looks great", author="grace")
        nested = fake.add_comment(top, "It does", author="linus")
        comments = await connector.comments(published.post_id)
        assert [(c.text, c.author_name, c.parent_id) for c in comments] == [
            ("Looks great", "grace", None),
            ("It does", "linus", top),
        ]
        # Instagram files a reply to a reply under the top-level comment.
        reply = await connector.reply(comments[1], "Thanks!")
        assert reply.parent_id == top and fake.objects[reply.comment_id]["_parent"] == top
        assert sent(fake, f"/{nested}/replies") == [{"message": "Thanks!"}]
        await connector.hide_comment(comments[0])
        assert fake.objects[top]["hidden"] is True
        await connector.delete_comment(comments[1])
        assert nested not in fake.objects


# -- containers made ahead (docs/publishing.md, "Media staged ahead") -------------------------


def named(post: Post, staged: list[str]) -> Post:
    """``post`` at its time: its files name what was staged (their URLs stay, as the
    publisher loads them)."""
    media = tuple(replace(m, staged=ref) for m, ref in zip(post.media, staged, strict=True))
    return replace(post, media=media)


async def test_a_carousel_staged_ahead_is_one_media_publish_at_its_time(
    connector: Instagram, fake: GraphFake
) -> None:
    post = Post(text="Three loaves", media=(image("a"), video("b"), image("c")))
    staged = await connector.stage_post(post)
    assert len({s.reference for s in staged}) == 1  # every file names the carousel
    assert all(s.expires_at <= datetime.now(UTC) + timedelta(hours=24) for s in staged)
    [carousel] = [c for c in fake.of_kind("ig_container") if not c["_item"]]
    assert len(fake.of_kind("ig_container")) == 4
    fake.requests.clear()
    published = await connector.publish(named(post, [s.reference for s in staged]))
    first = fake.requests[0]
    assert (first.method, first.path.rsplit("/", 1)[-1]) == ("POST", "media_publish")
    assert sent(fake, "/media_publish") == [{"creation_id": carousel["id"]}]
    assert not fake.seen("POST", "/media") and not fake.seen("GET", "content_publishing_limit")
    assert fake.objects[published.post_id]["media_type"] == "CAROUSEL_ALBUM"


async def test_an_expired_staged_container_is_made_again_at_its_time(
    connector: Instagram, fake: GraphFake
) -> None:
    post = Post(text="Crumb shot", media=(image(),))
    [staged] = await connector.stage_post(post)
    [old] = fake.of_kind("ig_container")
    fake.expire_container(old["id"])
    published = await connector.publish(named(post, [staged.reference]))
    [_, fresh] = fake.of_kind("ig_container")
    tried = [form["creation_id"] for form in sent(fake, "/media_publish")]
    assert tried == [old["id"], fresh["id"]]  # refused, its status read, made again
    assert fake.objects[published.post_id]["caption"] == "Crumb shot"
    assert len(fake.of_kind("ig_media")) == 1


async def test_a_caption_changed_since_staging_gets_a_new_container(
    connector: Instagram, fake: GraphFake
) -> None:
    post = Post(text="Crumb shot", media=(image(),))
    [staged] = await connector.stage_post(post)
    edited = replace(post, text="Crumb shot, take two")
    published = await connector.publish(named(edited, [staged.reference]))
    assert fake.objects[published.post_id]["caption"] == "Crumb shot, take two"
    [_, fresh] = fake.of_kind("ig_container")
    assert sent(fake, "/media_publish") == [{"creation_id": fresh["id"]}]


async def test_staging_refuses_what_publishing_would_before_any_call(
    connector: Instagram, fake: GraphFake
) -> None:
    with pytest.raises(InvalidContent) as caught:
        await connector.stage_post(Post(text="Hi", media=(Media("image", "image/jpeg", 10),)))
    assert [p.code for p in caught.value.problems] == ["media_public_url"]
    assert fake.requests == []
