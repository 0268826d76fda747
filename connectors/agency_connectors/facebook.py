"""Facebook Pages: posts, photos, comments and insights through the Graph API.

A grant reaches the Pages its user manages; ``identify`` lists them, each with its own Page
token, and a channel is one Page. Meta publishes no machine-readable description of these
endpoints: the connector follows the reference pages in ``reference_docs``.

A video goes the way Meta's publishing guide describes for Pages today: the file through the
Resumable Upload API (a session on the app, the bytes from an offset, resumed from the offset
Meta reports after an interruption), then ``POST /{page-id}/videos`` with the file's handle.
The upload speaks for the user behind the Page (the guide asks for a user token there), whose
token a Page channel keeps as its refresh token.

No ``REVOKE``: Meta's only way to give access back is ``DELETE /{user-id}/permissions``,
which ends the person's whole Facebook Login with the app, so every Page of that person
(some may serve other brands) at once. Disconnecting forgets the tokens; the person removes
the app in Facebook's settings (Business integrations) to end it there.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from agency.connector.base import (
    Account,
    AccountMetrics,
    Capability,
    Comment,
    Limits,
    Media,
    MediaRule,
    MediaSource,
    OAuthMetadata,
    Post,
    PostMetrics,
    Problem,
    Published,
)
from agency.connector.errors import AuthExpired, InvalidContent, Refused, Transient
from agency.connector.http import call, json_body
from agency_connectors.answers import parse_time
from agency_connectors.meta_graph import (
    META_CAPABILITIES,
    GraphConnector,
    graph_error,
    matching_post,
)

GRAPH_VERSION = "v21.0"
POST_INSIGHTS = "post_media_view,post_total_media_view_unique,post_clicks"
POST_COUNTS = "shares,reactions.summary(true).limit(0),comments.summary(true).limit(0)"
COMMENT_FIELDS = "id,message,from,created_time,is_hidden,parent"
# Meta's video error codes: "The maximum size for a video is 2 GB" (subcode 1363023).
VIDEO_MAX_BYTES = 2 * 1024**3


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
            # The Resumable Upload API takes video/mp4 and no other video type. No Meta page
            # we could read states a length limit; 240 minutes is the commonly cited one.
            "video": MediaRule(
                mime_types=frozenset({"video/mp4"}),
                max_bytes=VIDEO_MAX_BYTES,
                max_duration_seconds=240 * 60,
            ),
        },
        link_field=True,
        notes=(
            "Meta recommends photos under 4 MB and PNG files under 1 MB.",
            "Several photos go out as one post of unpublished photos; a link is then added to "
            "the text.",
            "A video goes out alone (one MP4, no photos beside it); its link joins the text and "
            "the variant's title becomes the video's title.",
        ),
    )
    capabilities = META_CAPABILITIES | {Capability.DELETE, Capability.DELETE_COMMENT}
    # How often an interrupted video upload is resumed, and the pause before each resume.
    video_resumes: ClassVar[int] = 3
    video_resume_seconds: ClassVar[float] = 2.0
    reference_docs = (
        "https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow",
        "https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived",
        "https://developers.facebook.com/docs/pages/getting-started",
        "https://developers.facebook.com/docs/pages-api/posts",
        "https://developers.facebook.com/docs/graph-api/reference/page/feed",
        "https://developers.facebook.com/docs/graph-api/reference/page/photos",
        "https://developers.facebook.com/docs/graph-api/photo-uploads",
        "https://developers.facebook.com/docs/video-api/guides/publishing",
        "https://developers.facebook.com/docs/graph-api/reference/page/videos",
        "https://developers.facebook.com/docs/graph-api/guides/upload",
        "https://developers.facebook.com/documentation/video-api/reference/error-codes",
        "https://developers.facebook.com/docs/graph-api/reference/page/published_posts",
        "https://developers.facebook.com/docs/graph-api/reference/object/comments",
        "https://developers.facebook.com/docs/graph-api/reference/comment",
        "https://developers.facebook.com/docs/graph-api/reference/insights",
        "https://developers.facebook.com/docs/platforminsights/page/deprecated-metrics",
        "https://developers.facebook.com/docs/graph-api/guides/error-handling",
        "https://developers.facebook.com/docs/graph-api/overview/rate-limiting",
    )

    @classmethod
    def network_problems(cls, post: Post) -> list[Problem]:
        videos = sum(1 for media in post.media if media.kind == "video")
        if videos > 1:
            words = f"Facebook takes one video per post, not {videos}."
            return [Problem("media", words, "one_video_only")]
        return []

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

    @property
    def video_base(self) -> str:
        """The publishing guide sends videos to the graph-video host."""
        return self.base_url.replace("//graph.facebook.com/", "//graph-video.facebook.com/")

    async def _upload_request(
        self, method: str, session: str, token: str, **kwargs: Any
    ) -> dict[str, Any]:
        """A call to an upload session: the guide authenticates it with ``OAuth <token>``."""
        headers = {"Authorization": f"OAuth {token}", **kwargs.pop("headers", {})}

        async def send() -> httpx.Response:
            response = await self.http.request(
                method, f"{self.base_url}/{session}", headers=headers, **kwargs
            )
            if response.is_error:
                await response.aread()
                raise graph_error(self.display_name, response)
            return response

        body = json_body(await call(send))
        return body if isinstance(body, dict) else {}

    @staticmethod
    async def _bytes_from(source: MediaSource, offset: int) -> AsyncIterator[bytes]:
        skipped = 0
        async for chunk in source.chunks():
            if skipped + len(chunk) > offset:
                yield chunk[max(0, offset - skipped) :]
            skipped += len(chunk)

    async def _upload_video(self, video: Media) -> str:
        """The file through the Resumable Upload API; the handle of the uploaded file."""
        user_token, app_id = self.credentials.refresh_token, self.context.client_id
        if video.source is None:
            problem = Problem("media.0", "The video file is not available.", "media_missing")
            raise InvalidContent([problem])
        if not user_token:
            raise AuthExpired("Facebook: a video upload needs the Page user's token; reconnect.")
        if not app_id:
            raise Refused("Facebook: no app id is configured, and a video upload needs it.")
        params = {"file_name": "video.mp4", "file_length": str(video.size)}
        params["file_type"] = video.mime_type
        started = await self.graph("POST", f"{app_id}/uploads", params=params, token=user_token)
        session, offset = str(started["id"]), 0
        for resume in range(self.video_resumes + 1):
            if resume:
                await asyncio.sleep(self.video_resume_seconds * resume)
                state = await self._upload_request("GET", session, user_token)
                offset = int(state.get("file_offset") or 0)
            headers = {"file_offset": str(offset), "Content-Length": str(video.size - offset)}
            try:
                done = await self._upload_request(
                    "POST",
                    session,
                    user_token,
                    headers=headers,
                    content=self._bytes_from(video.source, offset),
                )
            except Transient:
                if resume == self.video_resumes:
                    raise
                continue
            if done.get("h"):
                return str(done["h"])
        raise Transient("Facebook did not take the whole video; it will be uploaded again.")

    async def _video(self, post: Post) -> str:
        handle = await self._upload_video(post.media[0])
        form = {"description": self.message(post), "fbuploader_video_file_chunk": handle}
        if post.title:
            form["title"] = post.title
        path = f"{self.page_id}/videos"
        body = await self.graph("POST", path, data=form, publishing=True, base=self.video_base)
        return str(body["id"])

    async def publish(self, post: Post) -> Published:
        text, page = self.message(post), self.page_id
        if post.media and post.media[0].kind == "video":
            post_id = await self._video(post)
        elif len(post.media) == 1:
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
