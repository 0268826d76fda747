"""Instagram professional accounts through the Instagram API with Facebook Login.

The account is found through the Facebook Page it is linked to (the Page's
``instagram_business_account``) and is reached with that Page's token. Publishing is the
container flow: create a container from a public media URL (Instagram fetches the file
itself), wait until its ``status_code`` is ``FINISHED``, then ``media_publish`` it; carousels
are a container of item containers. The container can be made ahead (``stage_post``): at the
post's time only ``media_publish`` is called, and a staged container found expired (24 hours)
or failed is made again then. Instagram counts 50 API-published posts per account in a
rolling 24 hours, checked with ``content_publishing_limit`` before anything is created. The
API cannot delete media. Reference pages are in ``reference_docs``.

No ``REVOKE``: the access comes from the same Facebook Login as the Pages, and Meta only
ends it whole (``DELETE /{user-id}/permissions``), for every account of that person at once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from agency.connector.base import (
    Account,
    AccountMetrics,
    Capability,
    Comment,
    Limits,
    Media,
    MediaRule,
    OAuthMetadata,
    Post,
    PostMetrics,
    Problem,
    Published,
)
from agency.connector.errors import InvalidContent, RateLimited, Refused
from agency_connectors.answers import parse_time
from agency_connectors.meta_graph import (
    CONTAINER_LIFETIME,
    META_CAPABILITIES,
    ContainerConnector,
    matching_post,
    public_url_problems,
)

GRAPH_VERSION = "v21.0"
DAILY_POSTS = 50
# PostMetrics field -> Instagram media metric ("impressions" was retired for "views" in 2025).
MEDIA_INSIGHTS = {
    "impressions": "views",
    "reach": "reach",
    "likes": "likes",
    "comments": "comments",
    "shares": "shares",
    "saves": "saved",
}
COMMENT_FIELDS = "id,text,timestamp,username,from,hidden"
ACCOUNT_FIELDS = (
    "id,name,access_token,instagram_business_account{id,username,name,profile_picture_url}"
)


class InstagramConnector(ContainerConnector):
    network = "instagram"
    display_name = "Instagram"
    default_base_url = f"https://graph.facebook.com/{GRAPH_VERSION}"
    oauth = OAuthMetadata(
        authorize_url=f"https://www.facebook.com/{GRAPH_VERSION}/dialog/oauth",
        token_url=f"https://graph.facebook.com/{GRAPH_VERSION}/oauth/access_token",
        scopes=(
            "instagram_basic",
            "instagram_content_publish",
            "instagram_manage_comments",
            "instagram_manage_insights",
            "pages_show_list",
            "pages_read_engagement",
        ),
        pkce=False,  # as for Facebook: PKCE is only in Meta's OIDC flow, still in testing
        scope_separator=",",
        refreshable=True,  # a user token is exchanged for a long-lived one
    )
    limits = Limits(
        max_text_length=2_200,
        max_media=10,
        media={
            "image": MediaRule(mime_types=frozenset({"image/jpeg"}), max_bytes=8 * 1024 * 1024),
            "video": MediaRule(
                mime_types=frozenset({"video/mp4", "video/quicktime"}),
                max_bytes=300 * 1024 * 1024,
                max_duration_seconds=15 * 60,
                min_duration_seconds=3,
            ),
        },
        mixed_media=True,  # a carousel mixes photos and videos
        requires_media=True,
        max_hashtags=30,
        max_posts_per_day=DAILY_POSTS,
        notes=(
            "Instagram fetches every file from a public URL.",
            "A carousel counts as one of the 50 posts per 24 hours.",
            "A single video is published as a Reel.",
        ),
    )
    capabilities = META_CAPABILITIES | {Capability.DELETE_COMMENT, Capability.STAGE_MEDIA}
    staged_media_lifetime = CONTAINER_LIFETIME
    reference_docs = (
        "https://developers.facebook.com/docs/instagram-platform/content-publishing",
        "https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media",
        "https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media_publish",
        "https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-container",
        "https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/content_publishing_limit",
        "https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-media/comments",
        "https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-comment",
        "https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-comment/replies",
        "https://developers.facebook.com/docs/instagram-platform/reference/instagram-media/insights",
        "https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/error-codes",
        "https://developers.facebook.com/docs/pages/getting-started",
        "https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow",
        "https://developers.facebook.com/docs/graph-api/guides/error-handling",
        "https://developers.facebook.com/docs/graph-api/overview/rate-limiting",
    )

    @classmethod
    def delivery_problems(cls, post: Post) -> list[Problem]:
        return public_url_problems(cls.display_name, post)

    publish_edge = "media_publish"

    @property
    def owner_id(self) -> str:
        return self.account_id

    @property
    def account_id(self) -> str:
        account = self.credentials.extra.get("ig_user_id")
        if not account:
            raise Refused("Instagram: this channel has no Instagram account; reconnect it.")
        return account

    async def identify(self) -> list[Account]:
        accounts = []
        for page in await self.pages(ACCOUNT_FIELDS):
            ig, token = page.get("instagram_business_account"), page.get("access_token")
            if not isinstance(ig, dict) or not token:
                continue  # a Page without a professional Instagram account linked to it
            extra = {"page_id": str(page["id"]), "ig_user_id": str(ig["id"])}
            accounts.append(
                Account(
                    account_id=str(ig["id"]),
                    name=str(ig.get("name") or ig.get("username") or ig["id"]),
                    handle=ig.get("username"),
                    avatar_url=ig.get("profile_picture_url"),
                    kind="business",
                    credentials=self.page_credentials(token, extra),
                )
            )
        return accounts

    # -- publishing -------------------------------------------------------------------------------

    async def check_quota(self) -> None:
        """Refuse early when the 24-hour publishing quota is spent (nothing is created then)."""
        params = {"fields": "quota_usage,config"}
        body = await self.graph("GET", f"{self.account_id}/content_publishing_limit", params=params)
        usage = (body.get("data") or [{}])[0]
        used = usage.get("quota_usage")
        total = (usage.get("config") or {}).get("quota_total", DAILY_POSTS)
        if isinstance(used, int) and isinstance(total, int) and used >= total:
            raise RateLimited(
                f"Instagram allows {total} posts through the API in 24 hours and this account "
                f"has published {used}; it will publish again when the oldest is a day old.",
                status=None,
            )

    async def _container(self, media: Media, *, caption: str | None, in_carousel: bool) -> str:
        form: dict[str, str] = {}
        url = str(media.public_url)
        if media.kind == "video":
            # A single video is a Reel; VIDEO remains only for carousel items.
            form |= {"media_type": "VIDEO" if in_carousel else "REELS", "video_url": url}
        else:
            form["image_url"] = url
            if media.alt_text:
                form["alt_text"] = media.alt_text
        if in_carousel:
            form["is_carousel_item"] = "true"
        if caption is not None:
            form["caption"] = caption
        body = await self.graph("POST", f"{self.account_id}/media", data=form)
        return str(body["id"])

    async def prepare(self, post: Post) -> str:
        """The container to publish, processed and ready."""
        if len(post.media) == 1:
            container = await self._container(post.media[0], caption=post.text, in_carousel=False)
        else:
            children = [
                await self._container(media, caption=None, in_carousel=True) for media in post.media
            ]
            for child in children:  # videos must be processed before they join a carousel
                await self.wait_for_container(child)
            form = {"media_type": "CAROUSEL", "children": ",".join(children), "caption": post.text}
            body = await self.graph("POST", f"{self.account_id}/media", data=form)
            container = str(body["id"])
        await self.wait_for_container(container)
        return container

    def container_problems(self, post: Post) -> list[Problem]:
        problems = super().container_problems(post)
        if not post.media:
            problems.append(Problem("media", "Instagram needs a photo or a video.", "no_media"))
        return problems

    async def publish(self, post: Post) -> Published:
        problems = self.container_problems(post)
        if problems:
            raise InvalidContent(problems)
        if self.staged_container(post) is None:
            # Checked before anything is made; a staged post's one call is refused the same.
            await self.check_quota()
        media_id = await self.publish_container(post)
        if post.first_comment:
            comment = {"message": post.first_comment}
            await self.quietly(
                self.graph("POST", f"{media_id}/comments", data=comment), "the first comment"
            )
        details = await self.quietly(
            self.graph("GET", media_id, params={"fields": "permalink"}), "reading the permalink"
        )
        return Published(
            post_id=media_id,
            url=(details or {}).get("permalink"),
            published_at=datetime.now(UTC),
        )

    async def find_published(self, post: Post, since: datetime) -> Published | None:
        params = {"fields": "id,caption,timestamp,permalink", "limit": "25"}
        body = await self.graph("GET", f"{self.account_id}/media", params=params)
        return matching_post(
            body.get("data"),
            post.text,
            text_field="caption",
            url_field="permalink",
            time_field="timestamp",
            since=since,
        )

    # -- insights -----------------------------------------------------------------------------

    async def post_metrics(self, post_id: str) -> PostMetrics:
        return await self.post_insights(post_id, MEDIA_INSIGHTS)

    async def account_metrics(self) -> AccountMetrics:
        params = {"fields": "followers_count,follows_count,media_count"}
        body = await self.graph("GET", self.account_id, params=params)
        return AccountMetrics(
            followers=body.get("followers_count"),
            following=body.get("follows_count"),
            posts=body.get("media_count"),
            raw={k: v for k, v in body.items() if k != "id"},
        )

    # -- comments -------------------------------------------------------------------------------

    @staticmethod
    def _comment(item: dict[str, Any], post_id: str, parent_id: str | None) -> Comment:
        author = item.get("from") or {}
        return Comment(
            comment_id=str(item["id"]),
            post_id=post_id,
            text=str(item.get("text") or ""),
            author_id=author.get("id"),
            author_name=item.get("username") or author.get("username"),
            created_at=parse_time(item.get("timestamp")),
            parent_id=parent_id,
            hidden=bool(item.get("hidden")),
        )

    async def comments(self, post_id: str, since: datetime | None = None) -> list[Comment]:
        # The edge lists top-level comments; their replies come nested in the same answer.
        fields = f"{COMMENT_FIELDS},replies{{{COMMENT_FIELDS},parent_id}}"
        params = {"fields": fields, "limit": "100"}
        body = await self.graph("GET", f"{post_id}/comments", params=params)
        found = []
        for item in body.get("data") or []:
            found.append(self._comment(item, post_id, None))
            for reply in (item.get("replies") or {}).get("data") or []:
                found.append(self._comment(reply, post_id, str(item["id"])))
        return [c for c in found if since is None or (c.created_at and c.created_at >= since)]

    async def reply(self, comment: Comment, text: str) -> Comment:
        # The media itself takes a comment (/comments); a comment takes a reply (/replies).
        edge = "comments" if comment.comment_id == comment.post_id else "replies"
        body = await self.graph("POST", f"{comment.comment_id}/{edge}", data={"message": text})
        return Comment(
            comment_id=str(body["id"]),
            post_id=comment.post_id,
            text=text,
            author_id=self.account_id,
            created_at=datetime.now(UTC),
            # Instagram files a reply to a reply under the top-level comment.
            parent_id=(None if edge == "comments" else comment.parent_id or comment.comment_id),
        )

    async def hide_comment(self, comment: Comment, hidden: bool = True) -> None:
        form = {"hide": "true" if hidden else "false"}
        await self.graph("POST", comment.comment_id, data=form)

    async def delete_comment(self, comment: Comment) -> None:
        await self.graph("DELETE", comment.comment_id)
