"""Facebook Pages against a fake Graph API held to Meta's reference pages."""

from __future__ import annotations

import json
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
    OutcomeUnknown,
    Post,
    RateLimited,
    Refused,
    Transient,
)
from agency.connector.base import BytesSource
from agency.connector.oauth import OAuthClient, authorization_request, exchange_code
from agency_connectors.facebook import FacebookConnector
from tests.connectors.contract import SECRET, ConnectorContract, FailingConnector
from tests.support.fakes.asgi import Request
from tests.support.fakes.meta import GraphFake

# Another Graph version than the connector's default: the base URL comes from the context.
VERSION = "v19.0"
BASE = f"http://graph.test/{VERSION}"


def photo(url: str = "https://cdn.test/bread.jpg", alt_text: str | None = None) -> Media:
    return Media("image", "image/jpeg", 120_000, alt_text=alt_text, public_url=url)


VIDEO_BYTES = bytes(range(256)) * 40  # 10 KB, read by the connector 1 MB at a time


def video(data: bytes = VIDEO_BYTES, seconds: float = 42.0) -> Media:
    return Media(
        "video",
        "video/mp4",
        len(data),
        duration_seconds=seconds,
        public_url="https://cdn.test/oven.mp4",
        source=BytesSource(data),
    )


@pytest.fixture
def fake() -> GraphFake:
    return GraphFake(version=VERSION)


@pytest.fixture
def page(fake: GraphFake) -> dict[str, object]:
    return fake.add_page("Acme Bakery", token=SECRET)


@pytest.fixture
async def http(fake: GraphFake) -> AsyncIterator[httpx.AsyncClient]:
    async with fake.client() as client:
        yield client


def page_connector(http: httpx.AsyncClient, page: dict[str, object]) -> FacebookConnector:
    credentials = Credentials(
        access_token=str(page["access_token"]),
        refresh_token="EAA-user-token",
        extra={"page_id": str(page["id"])},
    )
    context = ConnectorContext(http, BASE, credentials, client_id="app-id")
    return FacebookConnector(context)


def user_connector(
    http: httpx.AsyncClient, token: str, expires_at: datetime | None = None
) -> FacebookConnector:
    credentials = Credentials(access_token=token, expires_at=expires_at)
    return FacebookConnector(ConnectorContext(http=http, base_url=BASE, credentials=credentials))


@pytest.fixture
def connector(http: httpx.AsyncClient, page: dict[str, object]) -> FacebookConnector:
    return page_connector(http, page)


@pytest.fixture
def publishable_post() -> Post:
    return Post(text="Fresh sourdough at 7 tomorrow.", first_comment="Order ahead by phone!")


@pytest.fixture
def failing_connector(
    http: httpx.AsyncClient, fake: GraphFake, page: dict[str, object]
) -> FailingConnector:
    def make(status: int) -> FacebookConnector:
        fake.fail(status)
        return page_connector(http, page)

    return make


def form(request: Request) -> dict[str, str]:
    return request.form()


class TestFacebook(ConnectorContract):
    connector_class = FacebookConnector

    # -- connecting ---------------------------------------------------------------------------

    def test_login_is_the_facebook_dialog_without_pkce(self) -> None:
        meta = FacebookConnector.oauth
        assert meta is not None
        request = authorization_request(meta, OAuthClient("app-id", "secret", "https://a.test/cb"))
        query = parse_qs(urlsplit(request.url).query)
        assert request.url.startswith("https://www.facebook.com/v21.0/dialog/oauth?")
        assert query["scope"] == [",".join(meta.scopes)]
        assert "pages_manage_posts" in meta.scopes and "read_insights" in meta.scopes
        assert "code_challenge" not in query and request.code_verifier is None

    async def test_the_code_exchange_gives_a_short_lived_user_token(
        self, http: httpx.AsyncClient, fake: GraphFake
    ) -> None:
        assert FacebookConnector.oauth is not None
        meta = replace(FacebookConnector.oauth, token_url=f"{BASE}/oauth/access_token")
        code = fake.oauth.grant("https://a.test/cb")
        client = OAuthClient(fake.client_id, fake.client_secret, "https://a.test/cb")
        credentials = await exchange_code(http, meta, client, code, None)
        assert fake.tokens[credentials.access_token].subject == fake.user_id
        assert credentials.expires_at is not None
        assert credentials.expires_at < datetime.now(UTC) + timedelta(hours=2)

    async def test_identify_offers_each_page_with_its_own_token(
        self, http: httpx.AsyncClient, fake: GraphFake, page: dict[str, object]
    ) -> None:
        other = fake.add_page("Acme Cafe")
        fake.add_page("Read Only", tasks=("ANALYZE",))  # cannot publish: not offered
        soon = datetime.now(UTC) + timedelta(hours=1)
        accounts = await user_connector(http, fake.user_token, expires_at=soon).identify()
        assert [(a.name, a.kind) for a in accounts] == [
            ("Acme Bakery", "page"),
            ("Acme Cafe", "page"),
        ]
        first, second = accounts
        assert first.account_id == page["id"] and second.account_id == other["id"]
        assert first.credentials is not None and second.credentials is not None
        assert first.credentials.access_token == SECRET
        assert second.credentials.access_token == other["access_token"]
        assert first.credentials.extra == {"page_id": page["id"]}
        # The user token is how a Page token is renewed; a short-lived one bounds its life.
        assert first.credentials.refresh_token == fake.user_token
        assert first.credentials.expires_at == soon
        assert first.handle == "acmebakery" and first.avatar_url

    async def test_pages_of_a_long_lived_user_token_do_not_expire(
        self, http: httpx.AsyncClient, fake: GraphFake, page: dict[str, object]
    ) -> None:
        later = datetime.now(UTC) + timedelta(days=59)
        [account] = await user_connector(http, fake.user_token, expires_at=later).identify()
        assert account.credentials is not None and account.credentials.expires_at is None

    async def test_refresh_takes_a_lasting_page_token_with_a_long_lived_user_token(
        self, http: httpx.AsyncClient, fake: GraphFake, page: dict[str, object]
    ) -> None:
        short_user = fake.issue("user", fake.user_id)
        credentials = Credentials(
            access_token="EAA-old-page-token",
            refresh_token=short_user,
            expires_at=datetime.now(UTC) + timedelta(minutes=20),
            extra={"page_id": str(page["id"])},
        )
        context = ConnectorContext(http=http, base_url=BASE, credentials=credentials)
        fresh = await FacebookConnector(context).refresh(fake.client_id, fake.client_secret)
        exchange = fake.seen("POST", "/oauth/access_token")[0]
        assert form(exchange)["grant_type"] == "fb_exchange_token"
        assert form(exchange)["fb_exchange_token"] == short_user
        assert SECRET not in exchange.raw_path and short_user not in exchange.raw_path
        assert fresh.access_token == page["access_token"]
        assert fake.tokens[str(fresh.refresh_token)].long_lived
        assert fresh.expires_at is None and fresh.extra == {"page_id": page["id"]}

    async def test_refresh_without_a_user_token_or_secret_asks_for_a_reconnect(
        self, http: httpx.AsyncClient, fake: GraphFake, page: dict[str, object]
    ) -> None:
        bare = Credentials(access_token=SECRET, extra={"page_id": str(page["id"])})
        connector = FacebookConnector(ConnectorContext(http=http, base_url=BASE, credentials=bare))
        with pytest.raises(AuthExpired):
            await connector.refresh(fake.client_id, fake.client_secret)
        with pytest.raises(AuthExpired):
            await page_connector(http, page).refresh(fake.client_id, "wrong-secret")

    # -- publishing ---------------------------------------------------------------------------

    async def test_a_text_post_with_a_link_goes_to_the_feed(
        self, connector: FacebookConnector, fake: GraphFake, page: dict[str, object]
    ) -> None:
        published = await connector.publish(Post(text="Menu", link="https://acme.test/menu"))
        [feed] = fake.seen("POST", f"/{page['id']}/feed")
        assert form(feed) == {"message": "Menu", "link": "https://acme.test/menu"}
        assert feed.bearer == SECRET and "access_token" not in feed.raw_path
        assert published.post_id.startswith(f"{page['id']}_")
        assert fake.objects[published.post_id]["message"] == "Menu"
        assert published.url == f"https://www.facebook.com/{published.post_id}"

    async def test_the_first_comment_is_left_on_the_new_post(
        self, connector: FacebookConnector, fake: GraphFake, publishable_post: Post
    ) -> None:
        published = await connector.publish(publishable_post)
        [comment] = fake.comments_on(published.post_id, top_only=True)
        assert comment["message"] == "Order ahead by phone!"
        assert comment["from"]["name"] == "Acme Bakery"

    async def test_a_failed_first_comment_does_not_fail_the_publication(
        self, connector: FacebookConnector, fake: GraphFake, publishable_post: Post
    ) -> None:
        fake.fail(500, 2, only="/comments")
        published = await connector.publish(publishable_post)
        assert fake.objects[published.post_id]["message"] == publishable_post.text

    async def test_one_photo_is_posted_from_its_public_url(
        self, connector: FacebookConnector, fake: GraphFake, page: dict[str, object]
    ) -> None:
        published = await connector.publish(Post(text="Crumb", media=(photo(alt_text="Bread"),)))
        [upload] = fake.seen("POST", f"/{page['id']}/photos")
        assert form(upload) == {
            "published": "true",
            "caption": "Crumb",
            "alt_text_custom": "Bread",
            "url": "https://cdn.test/bread.jpg",
        }
        assert not fake.seen("POST", "/feed")
        assert fake.objects[published.post_id]["message"] == "Crumb"

    async def test_a_gif_is_posted_as_a_photo(
        self, connector: FacebookConnector, fake: GraphFake
    ) -> None:
        gif = Media("gif", "image/gif", 300_000, public_url="https://cdn.test/dance.gif")
        assert FacebookConnector.validate(Post(text="Party", media=(gif,))) == []
        await connector.publish(Post(text="Party", media=(gif,)))
        [upload] = fake.seen("POST", "/photos")
        assert form(upload)["url"] == "https://cdn.test/dance.gif"

    async def test_a_photo_without_url_is_uploaded_as_a_file(
        self, connector: FacebookConnector, fake: GraphFake
    ) -> None:
        source = Media("image", "image/png", 4, source=BytesSource(b"\x89PNG"))
        await connector.publish(Post(text="Upload", media=(source,)))
        [upload] = fake.seen("POST", "/photos")
        assert upload.headers["content-type"].startswith("multipart/form-data")
        assert b'name="source"' in upload.body and b"\x89PNG" in upload.body

    async def test_several_photos_are_uploaded_unpublished_then_attached_to_one_post(
        self, connector: FacebookConnector, fake: GraphFake, page: dict[str, object]
    ) -> None:
        media = (photo("https://cdn.test/1.jpg"), photo("https://cdn.test/2.jpg"))
        post = Post(text="Two loaves", media=media, link="https://acme.test")
        published = await connector.publish(post)
        uploads = fake.seen("POST", "/photos")
        assert [form(u)["published"] for u in uploads] == ["false", "false"]
        photo_ids = [p["id"] for p in fake.of_kind("photo")]
        [feed] = fake.seen("POST", "/feed")
        sent = form(feed)
        attached = [json.loads(sent[f"attached_media[{i}]"])["media_fbid"] for i in range(2)]
        assert attached == photo_ids
        # No link field beside attached photos: the link joins the text.
        assert sent["message"] == "Two loaves\n\nhttps://acme.test" and "link" not in sent
        assert all(p["_post"] == published.post_id for p in fake.of_kind("photo"))

    # -- video ------------------------------------------------------------------------------------

    async def test_a_video_is_uploaded_resumably_then_published_on_the_page(
        self, connector: FacebookConnector, fake: GraphFake, page: dict[str, object]
    ) -> None:
        post = Post(text="Inside the oven", title="Bake day", media=(video(),))
        assert FacebookConnector.validate(post) == []
        published = await connector.publish(post)
        [start] = fake.seen("POST", "/app-id/uploads")
        assert start.bearer == fake.user_token  # the guide's upload speaks for the user
        assert dict(start.query) == {
            "file_name": "video.mp4",
            "file_length": str(len(VIDEO_BYTES)),
            "file_type": "video/mp4",
        }
        [send] = [r for r in fake.requests if "/upload:" in r.path]
        assert send.headers["authorization"] == f"OAuth {fake.user_token}"
        assert send.headers["file_offset"] == "0"
        [publish] = fake.seen("POST", f"/{page['id']}/videos")
        sent = form(publish)
        assert publish.bearer == SECRET
        assert (sent["title"], sent["description"]) == ("Bake day", "Inside the oven")
        held = fake.objects[published.post_id]
        assert held["_node"] == "video" and held["_bytes"] == VIDEO_BYTES
        assert (held["title"], held["description"]) == ("Bake day", "Inside the oven")
        assert published.url == f"https://www.facebook.com/{published.post_id}"
        assert not fake.seen("POST", "/photos") and not fake.seen("POST", "/feed")

    async def test_a_video_keeps_its_link_in_the_description_and_gets_the_first_comment(
        self, connector: FacebookConnector, fake: GraphFake, page: dict[str, object]
    ) -> None:
        post = Post(text="Watch", link="https://acme.test", media=(video(),), first_comment="Hi")
        published = await connector.publish(post)
        held = fake.objects[published.post_id]
        assert held["description"] == "Watch\n\nhttps://acme.test" and held["title"] is None
        assert [c["message"] for c in fake.comments_on(published.post_id, top_only=True)] == ["Hi"]
        since = datetime.now(UTC) - timedelta(minutes=1)
        found = await connector.find_published(post, since)
        assert found is not None and fake.objects[found.post_id]["_video"] == published.post_id

    async def test_an_interrupted_upload_resumes_from_the_offset_meta_holds(
        self,
        connector: FacebookConnector,
        fake: GraphFake,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(FacebookConnector, "video_resume_seconds", 0.0)
        fake.interrupt_uploads(after_bytes=4000)
        published = await connector.publish(Post(text="Again", media=(video(),)))
        sends = [r for r in fake.requests if r.method == "POST" and "/upload:" in r.path]
        assert [r.headers["file_offset"] for r in sends] == ["0", "4000"]
        assert sends[1].body == VIDEO_BYTES[4000:]
        assert fake.objects[published.post_id]["_bytes"] == VIDEO_BYTES

    @pytest.mark.parametrize(
        ("code", "error"), [(2, Transient), (190, AuthExpired), (4, RateLimited)]
    )
    async def test_an_upload_that_keeps_failing_midway_is_typed_and_publishes_nothing(
        self,
        connector: FacebookConnector,
        fake: GraphFake,
        monkeypatch: pytest.MonkeyPatch,
        code: int,
        error: type[ConnectorError],
    ) -> None:
        monkeypatch.setattr(FacebookConnector, "video_resume_seconds", 0.0)
        fake.interrupt_uploads(after_bytes=1000, times=10, code=code)
        with pytest.raises(error):
            await connector.publish(Post(text="Never", media=(video(),)))
        assert fake.of_kind("video") == [] and fake.of_kind("post") == []
        assert not fake.seen("POST", "/videos")

    async def test_no_answer_to_the_video_post_is_an_unknown_outcome(
        self, fake: GraphFake, page: dict[str, object]
    ) -> None:
        class SilentOnVideos(httpx.ASGITransport):
            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                if request.url.path.endswith("/videos"):
                    raise httpx.ReadTimeout("no answer", request=request)
                return await super().handle_async_request(request)

        async with httpx.AsyncClient(transport=SilentOnVideos(app=fake)) as client:
            with pytest.raises(OutcomeUnknown):
                await page_connector(client, page).publish(Post(text="?", media=(video(),)))
        assert [s.handle is not None for s in fake.uploads.values()] == [True]

    def test_video_rules_are_listed_by_validate(self) -> None:
        long = Media("video", "video/mp4", 10_000, duration_seconds=5 * 3600)
        huge = Media("video", "video/mp4", 3 * 1024**3, duration_seconds=60)
        mov = Media("video", "video/quicktime", 10_000, duration_seconds=60)
        codes = {
            name: [p.code for p in FacebookConnector.validate(Post(text="x", media=media))]
            for name, media in {
                "long": (long,),
                "huge": (huge,),
                "mov": (mov,),
                "with a photo": (video(), photo()),
                "two videos": (video(), video()),
            }.items()
        }
        assert codes == {
            "long": ["video_too_long"],
            "huge": ["media_too_large"],
            "mov": ["media_type"],
            "with a photo": ["mixed_media"],
            "two videos": ["one_video_only"],
        }
        described = FacebookConnector.describe()["limits"]
        assert described["media"]["video"]["mime_types"] == ["video/mp4"]
        assert not [n for n in described["notes"] if "not supported" in n]

    async def test_the_fake_holds_uploads_to_the_resumable_upload_guide(
        self, http: httpx.AsyncClient, fake: GraphFake
    ) -> None:
        user = {"Authorization": f"Bearer {fake.user_token}"}
        start = f"{BASE}/app-id/uploads"
        query = {"file_name": "a.mp4", "file_length": "10", "file_type": "video/mp4"}
        page_token = {"Authorization": f"Bearer {SECRET}"}
        assert (await http.post(start, params=query, headers=page_token)).status_code == 400
        mov = {**query, "file_type": "video/quicktime"}
        assert (await http.post(start, params=mov, headers=user)).status_code == 400
        session = (await http.post(start, params=query, headers=user)).json()["id"]
        url, oauth = f"{BASE}/{session}", {"Authorization": f"OAuth {fake.user_token}"}
        no_offset = await http.post(url, content=b"0123456789", headers=oauth)
        assert no_offset.status_code == 400
        bearer = await http.post(url, content=b"01234", headers={**user, "file_offset": "0"})
        assert bearer.status_code == 400
        short = await http.post(url, content=b"01234", headers={**oauth, "file_offset": "0"})
        assert short.json()["error"]["error_subcode"] == 1363019
        assert (await http.get(url, headers=oauth)).json()["file_offset"] == 5
        wrong = await http.post(url, content=b"56789", headers={**oauth, "file_offset": "0"})
        assert wrong.status_code == 400
        done = await http.post(url, content=b"56789", headers={**oauth, "file_offset": "5"})
        assert done.json()["h"]
        unknown = await http.get(f"{BASE}/upload:999", headers=oauth)
        assert unknown.status_code == 400

    async def test_find_published_matches_the_message(
        self, connector: FacebookConnector, fake: GraphFake, page: dict[str, object]
    ) -> None:
        since = datetime.now(UTC) - timedelta(minutes=5)
        fake.new_post(page, "Something else")
        mine = fake.new_post(page, "Fresh  sourdough\nat 7")
        found = await connector.find_published(Post(text="Fresh sourdough at 7"), since)
        assert found is not None and found.post_id == mine["id"]
        assert found.url == mine["permalink_url"]
        [listing] = fake.seen("GET", "/published_posts")
        assert listing.param("since") == str(int(since.timestamp()))
        assert await connector.find_published(Post(text="Never posted"), since) is None

    # -- reading and moderating -----------------------------------------------------------------

    async def test_metrics_read_the_current_insights_and_counts(
        self, connector: FacebookConnector, fake: GraphFake, page: dict[str, object]
    ) -> None:
        post = fake.new_post(page, "Hello")
        post |= {"_reactions": 7, "_shares": 2}
        post["_insights"] = {"post_media_view": 900, "post_total_media_view_unique": 640}
        post["_insights"]["post_clicks"] = 33
        fake.add_comment(post["id"], "Yum")
        metrics = await connector.post_metrics(post["id"])
        assert (metrics.impressions, metrics.reach, metrics.clicks) == (900, 640, 33)
        assert (metrics.likes, metrics.comments, metrics.shares) == (7, 1, 2)
        account = await connector.account_metrics()
        assert account.followers == 1200 and account.raw["fan_count"] == 1100

    async def test_comments_replies_hiding_and_deleting(
        self, connector: FacebookConnector, fake: GraphFake, page: dict[str, object]
    ) -> None:
        post = fake.new_post(page, "Hello")
        top = fake.add_comment(post["id"], "Great bread", author="Grace")
        fake.add_comment(top, "Agreed", author="Linus")
        comments = await connector.comments(post["id"])
        assert [(c.text, c.author_name, c.parent_id) for c in comments] == [
            ("Great bread", "Grace", None),
            ("Agreed", "Linus", top),
        ]
        reply = await connector.reply(comments[0], "Thank you!")
        assert fake.objects[reply.comment_id]["_parent"] == top
        await connector.hide_comment(comments[1])
        assert fake.objects[comments[1].comment_id]["is_hidden"] is True
        await connector.hide_comment(comments[1], hidden=False)
        assert fake.objects[comments[1].comment_id]["is_hidden"] is False
        await connector.delete_comment(reply)
        assert reply.comment_id not in fake.objects
        later = datetime.now(UTC) + timedelta(minutes=1)
        assert await connector.comments(post["id"], since=later) == []

    # -- errors and usage -----------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("code", "error"),
        [
            (190, AuthExpired),
            (4, RateLimited),
            (17, RateLimited),
            (32, RateLimited),
            (613, RateLimited),
            (1, Transient),
            (2, Transient),
            (506, InvalidContent),
            (100, Refused),
        ],
    )
    async def test_graph_codes_decide_the_error_not_the_http_status(
        self,
        connector: FacebookConnector,
        fake: GraphFake,
        code: int,
        error: type[ConnectorError],
    ) -> None:
        fake.fail(400, code, message="Meta says no")  # Meta answers most errors with HTTP 400
        with pytest.raises(error) as caught:
            await connector.publish(Post(text="Hello"))
        assert "Meta says no" in caught.value.message
        assert SECRET not in str(caught.value) and SECRET not in repr(caught.value.__dict__)

    async def test_an_expired_page_token_asks_for_a_reconnect(
        self, connector: FacebookConnector, fake: GraphFake
    ) -> None:
        fake.expire(SECRET)
        with pytest.raises(AuthExpired, match="expired"):
            await connector.publish(Post(text="Hello"))

    async def test_throttling_says_when_access_returns(
        self, connector: FacebookConnector, fake: GraphFake
    ) -> None:
        fake.fail(400, 32, regain_minutes=7)
        with pytest.raises(RateLimited) as caught:
            await connector.publish(Post(text="Hello"))
        assert caught.value.retry_after == 7 * 60

    async def test_usage_headers_are_read_on_every_answer(
        self, http: httpx.AsyncClient, connector: FacebookConnector, fake: GraphFake
    ) -> None:
        fake.usage_percent = 87
        await connector.account_metrics()  # a Page token: X-Business-Use-Case-Usage
        assert connector.rate_limit is not None and connector.rate_limit.usage_percent == 87
        user = user_connector(http, fake.user_token)
        fake.usage_percent = 41
        await user.identify()  # a user token: X-App-Usage
        assert user.rate_limit is not None and user.rate_limit.usage_percent == 41

    async def test_the_fake_refuses_what_the_reference_does_not_document(
        self, http: httpx.AsyncClient, page: dict[str, object]
    ) -> None:
        headers = {"Authorization": f"Bearer {SECRET}"}
        url = f"{BASE}/{page['id']}/feed"
        answer = await http.post(url, data={"message": "x", "colour": "red"}, headers=headers)
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == 100
        old = await http.get(f"http://graph.test/v2.0/{page['id']}", headers=headers)
        assert old.status_code == 400

    async def test_a_comment_of_another_page_is_refused(
        self, connector: FacebookConnector, fake: GraphFake
    ) -> None:
        other = fake.add_page("Competitor")
        post = fake.new_post(other, "Theirs")
        comment = Comment(fake.add_comment(post["id"], "Hi"), post["id"], "Hi")
        with pytest.raises(Refused):
            await connector.hide_comment(comment)
