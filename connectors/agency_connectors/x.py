"""X (API v2): posts, media, replies and metrics for one user, through OAuth 2.0 with PKCE.

Text is counted the way X counts it (twitter-text's weighted length: every link 23, emoji
and CJK characters 2, at most 280) with ``twitter-text-parser``, a port of X's own library
that passes its conformance suite. Media goes through the v2 chunked upload
(initialize, append, finalize, then status until processed).

Media can go up ahead of their post (``stage_media``: the same upload, then the post names
the ``media_ids``). X keeps an uploaded media id for 24 hours (finalize answers
``expires_after_secs``; the shorter of the two is counted). X has no call that deletes an
upload: one that no post names expires by itself.

Where X's reference pages and its published OpenAPI description disagree on a name (the
pages say ``tweet.fields`` and ``retweet_count``; the description ``post.fields`` and
``repost_count``), the connector sends what the reference pages document and reads both.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from twitter_text import parse_tweet  # type: ignore[import-untyped]

from agency.connector import (
    Account,
    AccountMetrics,
    AuthKind,
    Capability,
    Comment,
    Connector,
    InvalidContent,
    Limits,
    Media,
    MediaRule,
    OAuthMetadata,
    Post,
    PostMetrics,
    Problem,
    Published,
    Refused,
    StagedMedia,
)
from agency.connector.base import files_missing
from agency_connectors.answers import bearer_call, count, network_words, parse_time
from agency_connectors.matching import same_text

MB = 1 << 20
CHUNK_BYTES = 4 * MB  # X takes append segments of up to 5 MB
MAX_STATUS_CHECKS = 120
REPLY_SETTINGS = frozenset({"following", "mentionedUsers", "subscribers", "verified"})
CATEGORIES = {"image": "tweet_image", "gif": "tweet_gif", "video": "tweet_video"}
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
# "The media_id ... is valid for 24 hours" (media upload guide), unless finalize says less.
MEDIA_ID_LIFETIME = timedelta(hours=24)
# Search reaches back seven days; ask for a little less so the bound is never refused.
SEARCH_WINDOW = timedelta(days=7) - timedelta(minutes=5)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _kept_for(expires_after_secs: Any) -> timedelta:
    """How long X keeps an upload: what finalize says, never more than the documented day
    (a missing or meaningless figure counts as the day)."""
    if isinstance(expires_after_secs, int) and expires_after_secs > 0:
        return min(MEDIA_ID_LIFETIME, timedelta(seconds=expires_after_secs))
    return MEDIA_ID_LIFETIME


_words = network_words("X", "detail", "title", "message", "errors")


class XConnector(Connector):
    network = "x"
    display_name = "X"
    auth_kind = AuthKind.OAUTH2
    oauth = OAuthMetadata(
        authorize_url="https://x.com/i/oauth2/authorize",
        token_url="https://api.x.com/2/oauth2/token",
        scopes=(
            "tweet.read",
            "tweet.write",
            "users.read",
            "offline.access",
            "media.write",
            "tweet.moderate.write",  # hiding replies
        ),
        pkce=True,
        token_auth_method="client_secret_basic",  # a confidential client
        # RFC 7009 revocation, authenticated like the token endpoint (user-access-token page).
        revocation_url="https://api.x.com/2/oauth2/revoke",
    )
    default_base_url = "https://api.x.com"
    limits = Limits(
        max_text_length=280,
        text_counting="x-weighted",
        max_media=4,
        media={
            "image": MediaRule(IMAGE_TYPES, max_bytes=5 * MB),
            "gif": MediaRule(frozenset({"image/gif"}), max_bytes=15 * MB),
            "video": MediaRule(
                frozenset({"video/mp4", "video/quicktime"}),
                max_bytes=512 * MB,
                max_width=1920,
                max_height=1200,
                max_duration_seconds=140,
                min_duration_seconds=0.5,
            ),
        },
        mixed_media=False,
        notes=(
            "Up to four images, or one GIF, or one video.",
            "Links count as 23 characters; emoji and CJK characters count as 2.",
        ),
    )
    capabilities = frozenset(
        {
            Capability.PUBLISH,
            Capability.FIND_PUBLISHED,
            Capability.DELETE,
            Capability.POST_METRICS,
            Capability.ACCOUNT_METRICS,
            Capability.MENTIONS,
            Capability.COMMENTS,
            Capability.REPLY,
            Capability.HIDE_COMMENT,
            Capability.REVOKE,
            Capability.STAGE_MEDIA,
        }
    )
    staged_media_lifetime = MEDIA_ID_LIFETIME
    reference_docs = (
        "https://docs.x.com/fundamentals/authentication/oauth-2-0/authorization-code",
        "https://docs.x.com/fundamentals/authentication/oauth-2-0/user-access-token",
        "https://docs.x.com/x-api/posts/create-post",
        "https://docs.x.com/x-api/posts/delete-post",
        "https://docs.x.com/x-api/users/get-my-user",
        "https://docs.x.com/x-api/users/get-posts",
        "https://docs.x.com/x-api/posts/search-recent-posts",
        "https://docs.x.com/x-api/posts/hide-reply",
        "https://docs.x.com/x-api/media/quickstart/media-upload-chunked",
        "https://docs.x.com/x-api/media/create-media-metadata",
        "https://docs.x.com/x-api/fundamentals/rate-limits",
        "https://docs.x.com/fundamentals/counting-characters",
        "https://github.com/xdevplatform/xdk/blob/main/specs/openapi.json",
    )

    @classmethod
    def oauth_metadata(cls, base_url: str) -> OAuthMetadata:
        assert cls.oauth is not None
        return replace(cls.oauth, token_url=f"{base_url.rstrip('/')}/2/oauth2/token")

    # -- content rules -------------------------------------------------------------------------

    @classmethod
    def count_text(cls, text: str) -> int:
        return int(parse_tweet(text).weightedLength)

    @staticmethod
    def text_of(post: Post) -> str:
        """What goes out: X has no link field, so a link not in the text is appended."""
        if post.link and post.link not in post.text:
            return f"{post.text}\n{post.link}".strip()
        return post.text

    @classmethod
    def network_problems(cls, post: Post) -> list[Problem]:
        problems: list[Problem] = []
        if post.link and post.link not in post.text:
            length = cls.count_text(cls.text_of(post))
            if length > cls.limits.max_text_length:
                problems.append(
                    Problem(
                        "link",
                        f"With the link added the text is {length} characters as X counts "
                        f"them; the limit is {cls.limits.max_text_length}.",
                        "text_too_long",
                    )
                )
        if not cls.text_of(post).strip() and not post.media:
            problems.append(Problem("text", "X needs some text or a media file.", "empty"))
        kinds = [m.kind for m in post.media]
        if len(kinds) > 1 and {"gif", "video"} & set(kinds):
            problems.append(
                Problem("media", "A GIF or a video goes alone on X.", "media_not_alone")
            )
        setting = post.options.get("reply_settings")
        if setting is not None and setting not in REPLY_SETTINGS:
            allowed = ", ".join(sorted(REPLY_SETTINGS))
            problems.append(
                Problem(
                    "options.reply_settings",
                    f"Who may reply must be one of {allowed}.",
                    "reply_settings",
                )
            )
        return problems

    # -- requests ----------------------------------------------------------------------------

    async def _send(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        body = await bearer_call(self, method, path, describe=_words, **kwargs)
        return body if isinstance(body, dict) else {}

    @staticmethod
    def _data(body: dict[str, Any]) -> dict[str, Any]:
        data = body.get("data")
        if not isinstance(data, dict):
            raise Refused("X answered without the expected data.")
        return data

    async def _me(self, fields: str) -> dict[str, Any]:
        body = await self._send("GET", "/2/users/me", params={"user.fields": fields})
        return self._data(body)

    async def _user_id(self) -> str:
        known = self.credentials.extra.get("user_id")
        return known or str((await self._me("id"))["id"])

    # -- connecting ------------------------------------------------------------------------------

    async def identify(self) -> list[Account]:
        me = await self._me("name,username,profile_image_url")
        return [
            Account(
                account_id=str(me["id"]),
                name=str(me.get("name") or me.get("username") or me["id"]),
                handle=me.get("username"),
                avatar_url=me.get("profile_image_url"),
            )
        ]

    # -- publishing ----------------------------------------------------------------------------

    @classmethod
    def delivery_problems(cls, post: Post) -> list[Problem]:
        return files_missing(post, "X needs the file itself to upload.")

    async def publish(self, post: Post) -> Published:
        self.check_publishable(post)
        media_ids = [media.staged or (await self._upload(media))[0] for media in post.media]
        body = self._post_body(self.text_of(post), media_ids, post.options)
        data = self._data(await self._send("POST", "/2/tweets", json=body, publishing=True))
        post_id = str(data["id"])
        return Published(post_id, url=f"https://x.com/i/web/status/{post_id}")

    @staticmethod
    def _post_body(text: str, media_ids: list[str], options: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"text": text}
        if media_ids:
            body["media"] = {"media_ids": media_ids}
        if options.get("reply_settings"):
            body["reply_settings"] = options["reply_settings"]
        return body

    async def stage_media(self, media: Media) -> StagedMedia:
        """The media id, uploaded (and processed) before the post that names it."""
        media_id, expires_at = await self._upload(media)
        return StagedMedia(media_id, expires_at)

    async def _upload(self, media: Media) -> tuple[str, datetime]:
        """The v2 chunked upload; answers the media id once X has processed the file, and
        until when X keeps it for a post to name."""
        assert media.source is not None  # validate() said so
        start = {
            "media_type": media.mime_type,
            "total_bytes": media.size,
            "media_category": CATEGORIES[media.kind],
        }
        data = self._data(await self._send("POST", "/2/media/upload/initialize", json=start))
        media_id = str(data["id"])
        index = 0
        async for chunk in media.source.chunks(CHUNK_BYTES):
            await self._send(
                "POST",
                f"/2/media/upload/{media_id}/append",
                files={"media": ("segment", chunk, "application/octet-stream")},
                data={"segment_index": str(index)},
            )
            index += 1
        finalized_at = datetime.now(UTC)
        data = self._data(await self._send("POST", f"/2/media/upload/{media_id}/finalize"))
        await self._until_processed(media_id, data.get("processing_info"))
        if media.alt_text:
            metadata = {"id": media_id, "metadata": {"alt_text": {"text": media.alt_text}}}
            await self._send("POST", "/2/media/metadata", json=metadata)
        return media_id, finalized_at + _kept_for(data.get("expires_after_secs"))

    async def _until_processed(self, media_id: str, info: Any) -> None:
        """Videos and GIFs are processed after finalize; X says when to ask again."""
        for _ in range(MAX_STATUS_CHECKS):
            state = info.get("state") if isinstance(info, dict) else None
            if state == "failed":
                error = info.get("error") if isinstance(info, dict) else None
                detail = error.get("message") if isinstance(error, dict) else None
                raise InvalidContent(
                    [Problem("media", f"X could not process the file. {detail or ''}", "media")]
                )
            if state not in ("pending", "in_progress"):
                return
            await asyncio.sleep(max(0, int(info.get("check_after_secs") or 1)))
            params = {"media_id": media_id, "command": "STATUS"}
            body = await self._send("GET", "/2/media/upload", params=params)
            info = self._data(body).get("processing_info")
        raise Refused("X is still processing the file; try again later.")

    async def find_published(self, post: Post, since: datetime) -> Published | None:
        user_id = await self._user_id()
        params = {
            "start_time": _iso(since),
            "max_results": 100,
            "exclude": "retweets",
            "tweet.fields": "created_at,text",
        }
        body = await self._send("GET", f"/2/users/{user_id}/tweets", params=params)
        wanted = self.text_of(post)
        for tweet in body.get("data") or []:
            if isinstance(tweet, dict) and same_text(wanted, str(tweet.get("text", ""))):
                post_id = str(tweet["id"])
                return Published(
                    post_id,
                    url=f"https://x.com/i/web/status/{post_id}",
                    published_at=parse_time(tweet.get("created_at")),
                )
        return None

    async def delete(self, post_id: str) -> None:
        await self._send("DELETE", f"/2/tweets/{post_id}")

    # -- metrics -------------------------------------------------------------------------------

    async def post_metrics(self, post_id: str) -> PostMetrics:
        params = {"tweet.fields": "public_metrics"}
        data = self._data(await self._send("GET", f"/2/tweets/{post_id}", params=params))
        metrics = data.get("public_metrics") or {}
        return PostMetrics(
            impressions=count(metrics, "impression_count"),
            likes=count(metrics, "like_count"),
            comments=count(metrics, "reply_count"),
            shares=count(metrics, "retweet_count", "repost_count"),
            saves=count(metrics, "bookmark_count"),
            raw=metrics,
        )

    async def account_metrics(self) -> AccountMetrics:
        metrics = (await self._me("public_metrics")).get("public_metrics") or {}
        return AccountMetrics(
            followers=count(metrics, "followers_count"),
            following=count(metrics, "following_count"),
            posts=count(metrics, "tweet_count", "post_count"),
            raw=metrics,
        )

    # -- conversation ----------------------------------------------------------------------------

    async def comments(self, post_id: str, since: datetime | None = None) -> list[Comment]:
        """Replies in the post's conversation, from recent search (the last seven days)."""
        earliest = datetime.now(UTC) - SEARCH_WINDOW
        params: dict[str, Any] = {
            "query": f"conversation_id:{post_id} is:reply",
            "max_results": 100,
            "start_time": _iso(max(since, earliest) if since else earliest),
            "tweet.fields": "author_id,created_at,conversation_id,referenced_tweets",
            "expansions": "author_id",
            "user.fields": "username,name",
        }
        body = await self._send("GET", "/2/tweets/search/recent", params=params)
        users = {
            str(u.get("id")): u
            for u in (body.get("includes") or {}).get("users") or []
            if isinstance(u, dict)
        }
        return [
            self._comment(tweet, post_id, users)
            for tweet in body.get("data") or []
            if isinstance(tweet, dict)
        ]

    async def mentions(self, since: datetime | None = None) -> list[Comment]:
        """Posts naming the account (its mentions timeline, newest 100 since ``since``); the
        replies below the brand's own posts among them belong to those posts' threads, which
        :meth:`comments` reads."""
        params: dict[str, Any] = {
            "max_results": 100,
            "tweet.fields": "author_id,created_at,conversation_id,referenced_tweets",
            "expansions": "author_id",
            "user.fields": "username,name",
        }
        if since is not None:
            params["start_time"] = _iso(since)
        user_id = await self._user_id()
        body = await self._send("GET", f"/2/users/{user_id}/mentions", params=params)
        users = {
            str(u.get("id")): u
            for u in (body.get("includes") or {}).get("users") or []
            if isinstance(u, dict)
        }
        return [
            replace(self._comment(tweet, str(tweet["id"]), users), parent_id=None)
            for tweet in body.get("data") or []
            if isinstance(tweet, dict) and tweet.get("id")
        ]

    @staticmethod
    def _comment(tweet: dict[str, Any], post_id: str, users: dict[str, Any]) -> Comment:
        author = users.get(str(tweet.get("author_id")), {})
        referenced = tweet.get("referenced_tweets") or tweet.get("referenced_posts") or []
        parent = next((str(r.get("id")) for r in referenced if r.get("type") == "replied_to"), None)
        return Comment(
            comment_id=str(tweet["id"]),
            post_id=post_id,
            text=str(tweet.get("text", "")),
            author_id=str(tweet["author_id"]) if tweet.get("author_id") else None,
            author_name=author.get("username") or author.get("name"),
            created_at=parse_time(tweet.get("created_at")),
            parent_id=parent,
        )

    async def reply(self, comment: Comment, text: str) -> Comment:
        problems = [p for p in self.validate(Post(text=text)) if p.field == "text"]
        if problems:
            raise InvalidContent(problems)
        body = {"text": text, "reply": {"in_reply_to_tweet_id": comment.comment_id}}
        data = self._data(await self._send("POST", "/2/tweets", json=body, publishing=True))
        return Comment(
            comment_id=str(data["id"]),
            post_id=comment.post_id,
            text=str(data.get("text") or text),
            parent_id=comment.comment_id,
            created_at=datetime.now(UTC),
        )

    async def hide_comment(self, comment: Comment, hidden: bool = True) -> None:
        path = f"/2/tweets/{comment.comment_id}/hidden"
        await self._send("PUT", path, json={"hidden": hidden})
