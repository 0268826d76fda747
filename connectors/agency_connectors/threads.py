"""Threads: posts, replies and insights through the Threads API (graph.threads.net).

Publishing is the container flow Instagram also uses: create a container (text, or media
Threads fetches from a public URL), wait until its ``status`` is ``FINISHED``, then
``threads_publish`` it. A post with media can have its container made ahead
(``stage_post``): at its time only ``threads_publish`` is called, and a staged container found
expired (24 hours) or failed is made again then.

A user token lasts an hour; ``refresh`` exchanges it for a long-lived one (60 days,
``th_exchange_token``) and renews that one (``th_refresh_token``). The token endpoints live
above the versioned API path. Reference pages are in ``reference_docs``.

No ``REVOKE``: the Threads API documents no endpoint through which an app gives its token
back; the person removes the app in Threads' settings (Website permissions).
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

from agency.connector.base import (
    Account,
    AccountMetrics,
    Capability,
    Comment,
    Credentials,
    Limits,
    Media,
    MediaRule,
    OAuthMetadata,
    Post,
    PostMetrics,
    Problem,
    Published,
)
from agency.connector.errors import AuthExpired, InvalidContent, Refused
from agency_connectors.answers import parse_time
from agency_connectors.meta_graph import (
    CONTAINER_LIFETIME,
    META_CAPABILITIES,
    VERSION_SUFFIX,
    ContainerConnector,
    insight_values,
    matching_post,
    public_url_problems,
)

# PostMetrics field -> Threads media metric.
MEDIA_INSIGHTS = {
    "impressions": "views",
    "likes": "likes",
    "comments": "replies",
    "shares": "reposts",
}
REPLY_FIELDS = "id,text,username,timestamp,hide_status,replied_to"
LONG_LIVED = "long_lived"
SHORT_LIVED = timedelta(hours=1)  # "Threads user access tokens are ... valid for one hour"


def _counts_as_bytes(char: str) -> bool:
    """Emoji, which Threads counts as their UTF-8 bytes (joiners and variation selectors too)."""
    code = ord(char)
    return code >= 0x1F000 or code in (0x200D, 0xFE0F) or unicodedata.category(char) == "So"


class ThreadsConnector(ContainerConnector):
    network = "threads"
    display_name = "Threads"
    default_base_url = "https://graph.threads.net/v1.0"
    oauth = OAuthMetadata(
        authorize_url="https://threads.net/oauth/authorize",
        token_url="https://graph.threads.net/oauth/access_token",
        scopes=(
            "threads_basic",
            "threads_content_publish",
            "threads_manage_replies",
            "threads_read_replies",
            "threads_manage_insights",
            "threads_delete",
        ),
        pkce=False,  # the Threads authorization window documents no PKCE parameters
        scope_separator=",",
        refreshable=True,
    )
    limits = Limits(
        max_text_length=500,
        max_media=20,
        media={
            "image": MediaRule(
                mime_types=frozenset({"image/jpeg", "image/png"}), max_bytes=8 * 1024 * 1024
            ),
            "video": MediaRule(
                mime_types=frozenset({"video/mp4", "video/quicktime"}),
                max_bytes=1024 * 1024 * 1024,
                max_duration_seconds=5 * 60,
            ),
        },
        mixed_media=True,
        max_posts_per_day=250,
        notes=(
            "Emojis count as their UTF-8 bytes towards the 500 characters.",
            "Threads fetches every file from a public URL.",
            "A link is shown as a preview only on a post without media.",
        ),
    )
    capabilities = META_CAPABILITIES | {Capability.DELETE, Capability.STAGE_MEDIA}
    staged_media_lifetime = CONTAINER_LIFETIME
    reference_docs = (
        "https://developers.facebook.com/docs/threads/get-started/get-access-tokens-and-permissions",
        "https://developers.facebook.com/docs/threads/get-started/long-lived-tokens",
        "https://developers.facebook.com/docs/threads/posts",
        "https://developers.facebook.com/docs/threads/reference/publishing",
        "https://developers.facebook.com/docs/threads/posts/delete-posts",
        "https://developers.facebook.com/docs/threads/reference/user",
        "https://developers.facebook.com/docs/threads/reference/reply-management",
        "https://developers.facebook.com/docs/threads/reply-management",
        "https://developers.facebook.com/docs/threads/insights",
        "https://developers.facebook.com/docs/graph-api/guides/error-handling",
    )
    container_status_field = "status"
    container_detail_field = "error_message"

    @classmethod
    def count_text(cls, text: str) -> int:
        return sum(len(c.encode()) if _counts_as_bytes(c) else 1 for c in text)

    @classmethod
    def delivery_problems(cls, post: Post) -> list[Problem]:
        return public_url_problems(cls.display_name, post)

    @property
    def user_id(self) -> str:
        return self.credentials.extra.get("user_id") or "me"

    publish_edge = "threads_publish"

    @property
    def owner_id(self) -> str:
        return self.user_id

    async def identify(self) -> list[Account]:
        fields = "id,username,name,threads_profile_picture_url"
        me = await self.graph("GET", "me", params={"fields": fields})
        return [
            Account(
                account_id=str(me["id"]),
                name=str(me.get("name") or me.get("username") or me["id"]),
                handle=me.get("username"),
                avatar_url=me.get("threads_profile_picture_url"),
                kind="user",
                credentials=self.renewable(self.credentials, str(me["id"])),
            )
        ]

    @staticmethod
    def renewable(credentials: Credentials, user_id: str | None = None) -> Credentials:
        """The credentials to keep: Threads renews a token with the token itself.

        It is therefore also the refresh token, which tells the channel it can be renewed.
        The login's token lasts an hour and its answer says so nowhere: it is written here.
        """
        expires = credentials.expires_at
        if expires is None and credentials.extra.get("token") != LONG_LIVED:
            expires = datetime.now(UTC) + SHORT_LIVED
        extra = dict(credentials.extra)
        if user_id:
            extra["user_id"] = user_id
        return Credentials(
            access_token=credentials.access_token,
            refresh_token=credentials.access_token,
            expires_at=expires,
            scopes=credentials.scopes,
            extra=extra,
        )

    async def refresh(self, client_id: str | None, client_secret: str | None) -> Credentials:
        """Exchange the login's token for a long-lived one, or renew a long-lived one."""
        root = VERSION_SUFFIX.sub("", self.base_url)
        token = self.credentials.access_token
        if self.credentials.extra.get("token") == LONG_LIVED:
            params = {"grant_type": "th_refresh_token", "access_token": token}
            path = "refresh_access_token"
        elif client_secret:
            params = {
                "grant_type": "th_exchange_token",
                "client_secret": client_secret,
                "access_token": token,
            }
            path = "access_token"
        else:
            raise AuthExpired("Threads: the access cannot be renewed; reconnect the account.")
        # Documented as query parameters of a GET: the token endpoints take nothing else.
        fresh = await self.token_request("GET", path, params=params, base=root)
        fresh.extra["token"] = LONG_LIVED
        return self.renewable(fresh)

    # -- publishing -------------------------------------------------------------------------------

    async def _create(self, form: dict[str, str]) -> str:
        body = await self.graph("POST", f"{self.user_id}/threads", data=form)
        return str(body["id"])

    async def _item(self, media: Media, text: str | None, *, in_carousel: bool) -> str:
        url = str(media.public_url)
        if media.kind == "video":
            form = {"media_type": "VIDEO", "video_url": url}
        else:
            form = {"media_type": "IMAGE", "image_url": url}
        if media.alt_text:
            form["alt_text"] = media.alt_text
        if in_carousel:
            form["is_carousel_item"] = "true"
        if text is not None:
            form["text"] = text
        return await self._create(form)

    async def prepare(self, post: Post, reply_to: str | None = None) -> str:
        """The container to publish, processed and ready."""
        if not post.media:
            form = {"media_type": "TEXT", "text": post.text}
            if post.link:
                form["link_attachment"] = post.link
            if reply_to:
                form["reply_to_id"] = reply_to
            container = await self._create(form)
        elif len(post.media) == 1:
            container = await self._item(post.media[0], post.text, in_carousel=False)
        else:
            children = [await self._item(m, None, in_carousel=True) for m in post.media]
            for child in children:
                await self.wait_for_container(child)
            form = {"media_type": "CAROUSEL", "children": ",".join(children), "text": post.text}
            container = await self._create(form)
        await self.wait_for_container(container)
        return container

    async def publish(self, post: Post) -> Published:
        problems = self.container_problems(post)
        if problems:
            raise InvalidContent(problems)
        thread_id = await self.publish_container(post)
        if post.first_comment:
            first = Post(text=post.first_comment)
            await self.quietly(self._reply(first, thread_id), "the first comment")
        details = await self.quietly(
            self.graph("GET", thread_id, params={"fields": "permalink"}), "reading the permalink"
        )
        return Published(
            post_id=thread_id,
            url=(details or {}).get("permalink"),
            published_at=datetime.now(UTC),
        )

    async def _reply(self, post: Post, reply_to: str) -> str:
        return await self.publish_made(await self.prepare(post, reply_to=reply_to))

    async def find_published(self, post: Post, since: datetime) -> Published | None:
        params = {
            "fields": "id,text,timestamp,permalink",
            "since": str(int(since.timestamp())),
            "limit": "25",
        }
        body = await self.graph("GET", f"{self.user_id}/threads", params=params)
        return matching_post(
            body.get("data"),
            post.text,
            text_field="text",
            url_field="permalink",
            time_field="timestamp",
        )

    async def delete(self, post_id: str) -> None:
        await self.graph("DELETE", post_id)

    # -- insights -----------------------------------------------------------------------------

    async def post_metrics(self, post_id: str) -> PostMetrics:
        return await self.post_insights(post_id, MEDIA_INSIGHTS, also=("quotes", "shares"))

    async def account_metrics(self) -> AccountMetrics:
        params = {"metric": "followers_count"}
        body = await self.graph("GET", f"{self.user_id}/threads_insights", params=params)
        values = insight_values(body)
        return AccountMetrics(followers=values.get("followers_count"), raw=values)

    # -- replies --------------------------------------------------------------------------------

    async def comments(self, post_id: str, since: datetime | None = None) -> list[Comment]:
        # The conversation edge flattens every reply of the thread, each naming its parent.
        params = {"fields": REPLY_FIELDS, "reverse": "false"}
        body = await self.graph("GET", f"{post_id}/conversation", params=params)
        found = []
        for item in body.get("data") or []:
            parent = (item.get("replied_to") or {}).get("id")
            found.append(self._comment(item, post_id, None if parent == post_id else parent))
        return [c for c in found if since is None or (c.created_at and c.created_at >= since)]

    @staticmethod
    def _comment(item: dict[str, Any], post_id: str, parent_id: str | None) -> Comment:
        return Comment(
            comment_id=str(item["id"]),
            post_id=post_id,
            text=str(item.get("text") or ""),
            author_name=item.get("username"),
            created_at=parse_time(item.get("timestamp")),
            parent_id=parent_id,
            hidden=item.get("hide_status") == "HIDDEN",
        )

    async def reply(self, comment: Comment, text: str) -> Comment:
        reply_id = await self._reply(Post(text=text), comment.comment_id)
        return Comment(
            comment_id=reply_id,
            post_id=comment.post_id,
            text=text,
            author_id=self.credentials.extra.get("user_id"),
            created_at=datetime.now(UTC),
            parent_id=comment.comment_id,
        )

    async def hide_comment(self, comment: Comment, hidden: bool = True) -> None:
        if comment.parent_id is not None:
            raise Refused(
                "Threads hides only replies made to the post itself; hide the reply this one "
                "answers, which hides its answers too."
            )
        form = {"hide": "true" if hidden else "false"}
        await self.graph("POST", f"{comment.comment_id}/manage_reply", data=form)
