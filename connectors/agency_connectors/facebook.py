"""Facebook Pages: posts, photos, comments and insights through the Graph API.

A grant reaches the Pages its user manages; ``identify`` lists them, each with its own Page
token, and a channel is one Page. Meta publishes no machine-readable description of these
endpoints: the connector follows the reference pages in ``reference_docs``.
"""

from __future__ import annotations

import json
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
from agency.connector.errors import InvalidContent, Refused
from agency_connectors.answers import parse_time
from agency_connectors.meta_graph import META_CAPABILITIES, GraphConnector, matching_post

GRAPH_VERSION = "v21.0"
POST_INSIGHTS = "post_media_view,post_total_media_view_unique,post_clicks"
POST_COUNTS = "shares,reactions.summary(true).limit(0),comments.summary(true).limit(0)"
COMMENT_FIELDS = "id,message,from,created_time,is_hidden,parent"


def _total(body: dict[str, Any], edge: str) -> int | None:
    value = ((body.get(edge) or {}).get("summary") or {}).get("total_count")
    return value if isinstance(value, int) else None


class FacebookConnector(GraphConnector):
    network = "facebook"
    display_name = "Facebook"
    default_base_url = f"https://graph.facebook.com/{GRAPH_VERSION}"
    oauth = OAuthMetadata(
        authorize_url=f"https://www.facebook.com/{GRAPH_VERSION}/dialog/oauth",
        token_url=f"https://graph.facebook.com/{GRAPH_VERSION}/oauth/access_token",
        scopes=(
            "pages_show_list",
            "pages_read_engagement",
            "pages_manage_posts",
            "pages_read_user_content",
            "pages_manage_engagement",
            "read_insights",
        ),
        # Meta offers PKCE only in its OIDC flow ("still in testing"); the code flow of a web
        # app is protected by the app secret at the token endpoint.
        pkce=False,
        scope_separator=",",
        # No refresh token: ``refresh`` exchanges a user token for a long-lived one.
        refreshable=True,
    )
    limits = Limits(
        max_text_length=63_206,
        max_media=10,
        media={
            "image": MediaRule(
                mime_types=frozenset(
                    {"image/jpeg", "image/png", "image/gif", "image/bmp", "image/tiff"}
                ),
                max_bytes=10 * 1024 * 1024,
            ),
            # An animated GIF goes out as a photo, like any other image.
            "gif": MediaRule(mime_types=frozenset({"image/gif"}), max_bytes=10 * 1024 * 1024),
        },
        link_field=True,
        notes=(
            "Meta recommends photos under 4 MB and PNG files under 1 MB.",
            "Several photos go out as one post of unpublished photos; a link is then added to "
            "the text.",
            "Videos are not supported by this connector yet.",
        ),
    )
    capabilities = META_CAPABILITIES | {Capability.DELETE, Capability.DELETE_COMMENT}
    reference_docs = (
        "https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow",
        "https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived",
        "https://developers.facebook.com/docs/pages/getting-started",
        "https://developers.facebook.com/docs/pages-api/posts",
        "https://developers.facebook.com/docs/graph-api/reference/page/feed",
        "https://developers.facebook.com/docs/graph-api/reference/page/photos",
        "https://developers.facebook.com/docs/graph-api/photo-uploads",
        "https://developers.facebook.com/docs/graph-api/reference/page/published_posts",
        "https://developers.facebook.com/docs/graph-api/reference/object/comments",
        "https://developers.facebook.com/docs/graph-api/reference/comment",
        "https://developers.facebook.com/docs/graph-api/reference/insights",
        "https://developers.facebook.com/docs/platforminsights/page/deprecated-metrics",
        "https://developers.facebook.com/docs/graph-api/guides/error-handling",
        "https://developers.facebook.com/docs/graph-api/overview/rate-limiting",
    )

    @property
    def page_id(self) -> str:
        page = self.credentials.extra.get("page_id")
        if not page:
            raise Refused("Facebook: this channel is not a Page; reconnect it and pick a Page.")
        return page

    @staticmethod
    def message(post: Post) -> str:
        """The post's text; with photos the link has no field of its own and joins the text."""
        return f"{post.text}\n\n{post.link}" if post.link and post.media else post.text

    async def identify(self) -> list[Account]:
        accounts = []
        for page in await self.pages("id,name,username,access_token,picture,tasks"):
            token, tasks = page.get("access_token"), page.get("tasks")
            # Without CREATE_CONTENT the user cannot publish as the Page: not worth offering.
            if not token or (isinstance(tasks, list) and "CREATE_CONTENT" not in tasks):
                continue
            picture = ((page.get("picture") or {}).get("data") or {}).get("url")
            accounts.append(
                Account(
                    account_id=str(page["id"]),
                    name=str(page.get("name") or page["id"]),
                    handle=page.get("username"),
                    avatar_url=picture if isinstance(picture, str) else None,
                    kind="page",
                    credentials=self.page_credentials(token, {"page_id": str(page["id"])}),
                )
            )
        return accounts

    async def _photo(self, media: Media, *, published: bool, caption: str | None) -> str:
        """Upload one photo (from its public URL, else its bytes); the post id or photo id."""
        form = {"published": "true" if published else "false"}
        if caption is not None:
            form["caption"] = caption
        if media.alt_text:
            form["alt_text_custom"] = media.alt_text
        files = None
        if media.public_url:
            form["url"] = media.public_url
        elif media.source is not None:
            files = {"source": ("photo", await media.source.read(), media.mime_type)}
        else:
            problem = Problem("media", "A photo has neither a file nor a URL.", "media_missing")
            raise InvalidContent([problem])
        body = await self.graph(
            "POST", f"{self.page_id}/photos", data=form, files=files, publishing=published
        )
        return str(body.get("post_id") or body["id"])

    async def publish(self, post: Post) -> Published:
        text, page = self.message(post), self.page_id
        if len(post.media) == 1:
            post_id = await self._photo(post.media[0], published=True, caption=text)
        else:
            form = {"message": text}
            if post.link and not post.media:
                form["link"] = post.link
            # Several photos: upload them unpublished, then attach them to one feed post.
            for index, media in enumerate(post.media):
                photo_id = await self._photo(media, published=False, caption=None)
                form[f"attached_media[{index}]"] = json.dumps({"media_fbid": photo_id})
            body = await self.graph("POST", f"{page}/feed", data=form, publishing=True)
            post_id = str(body["id"])
        if post.first_comment:
            comment = {"message": post.first_comment}
            await self.quietly(
                self.graph("POST", f"{post_id}/comments", data=comment), "the first comment"
            )
        return Published(
            post_id=post_id,
            url=f"https://www.facebook.com/{post_id}",
            published_at=datetime.now(UTC),
        )

    async def find_published(self, post: Post, since: datetime) -> Published | None:
        params = {
            "fields": "id,message,created_time,permalink_url",
            "since": str(int(since.timestamp())),
            "limit": "25",
        }
        body = await self.graph("GET", f"{self.page_id}/published_posts", params=params)
        return matching_post(
            body.get("data"),
            self.message(post),
            text_field="message",
            url_field="permalink_url",
            time_field="created_time",
        )

    async def delete(self, post_id: str) -> None:
        await self.graph("DELETE", post_id)

    async def post_metrics(self, post_id: str) -> PostMetrics:
        values = await self.insights(post_id, POST_INSIGHTS)
        counts = await self.graph("GET", post_id, params={"fields": POST_COUNTS})
        shares = (counts.get("shares") or {}).get("count")
        return PostMetrics(
            impressions=values.get("post_media_view"),
            reach=values.get("post_total_media_view_unique"),
            clicks=values.get("post_clicks"),
            likes=_total(counts, "reactions"),
            comments=_total(counts, "comments"),
            shares=shares if isinstance(shares, int) else 0,
            raw=values,
        )

    async def account_metrics(self) -> AccountMetrics:
        body = await self.graph("GET", self.page_id, params={"fields": "followers_count,fan_count"})
        followers = body.get("followers_count", body.get("fan_count"))
        return AccountMetrics(
            followers=followers if isinstance(followers, int) else None,
            raw={k: v for k, v in body.items() if k != "id"},
        )

    @staticmethod
    def _comment(item: dict[str, Any], post_id: str) -> Comment:
        author = item.get("from") or {}
        parent = item.get("parent") or {}
        return Comment(
            comment_id=str(item["id"]),
            post_id=post_id,
            text=str(item.get("message") or ""),
            author_id=author.get("id"),
            author_name=author.get("name"),
            created_at=parse_time(item.get("created_time")),
            parent_id=parent.get("id"),
            hidden=bool(item.get("is_hidden")),
        )

    async def comments(self, post_id: str, since: datetime | None = None) -> list[Comment]:
        # filter=stream: replies too, each with its parent, in one chronological list.
        params = {"fields": COMMENT_FIELDS, "filter": "stream", "limit": "100"}
        body = await self.graph("GET", f"{post_id}/comments", params=params)
        found = [self._comment(item, post_id) for item in body.get("data") or []]
        return [c for c in found if since is None or (c.created_at and c.created_at >= since)]

    async def reply(self, comment: Comment, text: str) -> Comment:
        body = await self.graph("POST", f"{comment.comment_id}/comments", data={"message": text})
        return Comment(
            comment_id=str(body["id"]),
            post_id=comment.post_id,
            text=text,
            author_id=self.page_id,
            created_at=datetime.now(UTC),
            parent_id=comment.comment_id,
        )

    async def hide_comment(self, comment: Comment, hidden: bool = True) -> None:
        form = {"is_hidden": "true" if hidden else "false"}
        await self.graph("POST", comment.comment_id, data=form)

    async def delete_comment(self, comment: Comment) -> None:
        await self.graph("DELETE", comment.comment_id)
