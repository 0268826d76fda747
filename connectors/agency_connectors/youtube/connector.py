"""The YouTube connector.

The post's ``title`` is the video title and its ``text`` the description. The upload is
resumable: the metadata opens a session, the bytes follow in chunks, and when a chunk fails
YouTube is asked how much it kept (308 Resume Incomplete + Range) and the upload goes on from
there instead of starting again.

No ``REVOKE``: Google's ``oauth2.googleapis.com/revoke`` ends the whole grant of the Google
account to the app, which may serve other channels (brand accounts) too; the person removes
the app in their Google account's security settings (Third-party access).

The video can go up ahead of its time (``stage_post``): it is uploaded ``private``, and at
the post's time one ``videos.update`` (part ``status``) gives it the privacy the post asks
for (``public`` by default). A private video is kept until deleted: a staged one that no post
will name (the post canceled, or edited and staged again) is deleted (``discard_staged``,
``videos.delete``). Its reference names what its title and description were, so that a post
changed since goes up again (and the stale upload is deleted). While staged, the video is in
the channel's uploads list as private: ``find_published`` only takes a video whose privacy is
the one the post asks for.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx

from agency.connector import (
    Account,
    AccountMetrics,
    Capability,
    Comment,
    Connector,
    ConnectorError,
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
    Transient,
)
from agency.connector.http import call, json_body
from agency_connectors.youtube.google import google_error, parse_time, refine
from agency_connectors.youtube.upload import CHUNK_GRANULE, ResumableUpload

logger = logging.getLogger("agency.connector.youtube")

SCOPES = tuple(
    f"https://www.googleapis.com/auth/{name}"
    for name in ("youtube.upload", "youtube.readonly", "youtube.force-ssl")
)
PRIVACY_STATUSES = ("public", "unlisted", "private")
# YouTube never drops a private video by itself; a staged one is named within this or
# uploaded again (and the old one deleted).
STAGED_VIDEO_LIFETIME = timedelta(days=7)
VIDEO_TYPES = frozenset(
    {
        "video/mp4",
        "video/quicktime",
        "video/x-msvideo",
        "video/x-ms-wmv",
        "video/x-flv",
        "video/webm",
        "video/3gpp",
        "video/mpeg",
        "video/mp2t",
    }
)


def _snippet(post: Post) -> dict[str, Any]:
    snippet: dict[str, Any] = {"title": (post.title or "").strip(), "description": post.text}
    if post.options.get("tags"):
        snippet["tags"] = [str(tag) for tag in post.options["tags"]]
    if post.options.get("category_id"):
        snippet["categoryId"] = str(post.options["category_id"])
    return snippet


def _reference(video_id: str, post: Post) -> str:
    """A staged video's reference: its id, and a digest of the snippet it went up with."""
    digest = hashlib.sha256(json.dumps(_snippet(post), sort_keys=True).encode()).hexdigest()
    return json.dumps({"video": video_id, "snippet": digest[:32]})


def _video_of(reference: str) -> str | None:
    try:
        staged = json.loads(reference)
    except ValueError:
        return None
    video = staged.get("video") if isinstance(staged, dict) else None
    return str(video) if video else None


def _staged_video(post: Post) -> str | None:
    """The video staged for exactly this post (same title, description, tags), if any."""
    if len(post.media) != 1 or not post.media[0].staged:
        return None
    video_id = _video_of(post.media[0].staged)
    if video_id is None or _reference(video_id, post) != post.media[0].staged:
        return None
    return video_id


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _same_text(a: str | None, b: str | None) -> bool:
    def norm(text: str | None) -> str:
        return (text or "").replace("\r\n", "\n").strip()

    return norm(a) == norm(b)


class YouTubeConnector(Connector):
    network = "youtube"
    display_name = "YouTube"
    default_base_url = "https://www.googleapis.com"
    oauth = OAuthMetadata(
        authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
        token_url="https://oauth2.googleapis.com/token",
        scopes=SCOPES,
        # Offline access is what yields a refresh token; consent makes Google send it again
        # when the same user reconnects.
        extra_authorize_params={"access_type": "offline", "prompt": "consent"},
    )
    limits = Limits(
        max_text_length=5000,
        max_media=1,
        requires_media=True,
        media={
            "video": MediaRule(VIDEO_TYPES, max_bytes=256 * 1024**3, max_duration_seconds=12 * 3600)
        },
        max_hashtags=60,
        notes=(
            "Every video needs a title of at most 100 characters.",
            "Title and description may not contain < or >.",
            "Channels that are not verified upload at most 15 minutes per video.",
            "Privacy (public, unlisted, private) comes from the option privacy_status.",
        ),
    )
    # Everything but a first comment and idempotency keys, which YouTube does not have.
    capabilities = frozenset(Capability) - {
        Capability.FIRST_COMMENT,
        Capability.IDEMPOTENCY_KEY,
        Capability.REVOKE,  # Google's revoke ends the whole grant (see above)
        Capability.MENTIONS,  # not read yet (see docs/inbox.md)
        Capability.PRIVATE_MESSAGES,  # none in its public API (see docs/inbox.md)
    }
    staged_media_lifetime = STAGED_VIDEO_LIFETIME
    reference_docs = (
        "https://developers.google.com/youtube/v3/docs",
        "https://developers.google.com/youtube/v3/guides/using_resumable_upload_protocol",
        "https://developers.google.com/youtube/v3/docs/videos#resource",
        "https://developers.google.com/youtube/v3/docs/errors",
        "https://developers.google.com/identity/protocols/oauth2/web-server",
        "googleapiclient/discovery_cache/documents/youtube.v3.json (google-api-python-client)",
    )

    # Larger chunks mean fewer requests; each is a multiple of 256 KiB.
    upload_chunk_size: ClassVar[int] = 32 * CHUNK_GRANULE  # 8 MiB
    max_resumes: ClassVar[int] = 5
    resume_backoff_seconds: ClassVar[float] = 1.0
    max_pages: ClassVar[int] = 4

    # -- content rules -------------------------------------------------------------------------

    @classmethod
    def network_problems(cls, post: Post) -> list[Problem]:
        problems = []
        title = (post.title or "").strip()
        if not title:
            problems.append(Problem("title", "YouTube needs a title for the video.", "no_title"))
        elif len(title) > 100:
            problems.append(
                Problem(
                    "title",
                    f"The title is {len(title)} characters; YouTube allows 100.",
                    "title_too_long",
                )
            )
        for where, text in (("title", title), ("text", post.text)):
            if "<" in text or ">" in text:
                problems.append(
                    Problem(where, "YouTube does not accept < or > here.", "forbidden_character")
                )
        size, limit = len(post.text.encode()), cls.limits.max_text_length
        # Documented as 5,000 bytes of UTF-8; the character count is checked already.
        if size > limit >= cls.count_text(post.text):
            problems.append(
                Problem(
                    "text",
                    f"The description takes {size} bytes; YouTube allows 5000.",
                    "text_too_long",
                )
            )
        privacy = post.options.get("privacy_status", "public")
        if privacy not in PRIVACY_STATUSES:
            problems.append(
                Problem(
                    "options.privacy_status",
                    f"Privacy must be one of {', '.join(PRIVACY_STATUSES)}.",
                    "bad_privacy",
                )
            )
        return problems

    # -- HTTP ----------------------------------------------------------------------------------

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credentials.access_token}"}

    async def _send(
        self, method: str, url: str, *, publishing: bool = False, **kwargs: Any
    ) -> httpx.Response:
        reasons: list[str] = []

        def describe(response: httpx.Response) -> str | None:
            words, reason = google_error(response)
            reasons.append(reason)
            return words or None

        headers = {**self._auth(), **kwargs.pop("headers", {})}
        try:
            return await call(
                lambda: self.http.request(
                    method, url, headers=headers, follow_redirects=False, **kwargs
                ),
                publishing=publishing,
                describe=describe,
            )
        except ConnectorError as exc:
            refined = refine(exc, reasons[0] if reasons else "")
            if refined is exc:
                raise
            raise refined from exc

    async def _api(self, method: str, resource: str, **kwargs: Any) -> Any:
        response = await self._send(method, f"{self.base_url}/youtube/v3/{resource}", **kwargs)
        return json_body(response) if response.content else None

    # -- connecting ----------------------------------------------------------------------------

    async def _my_channel(self, parts: str) -> dict[str, Any]:
        data = await self._api("GET", "channels", params={"part": parts, "mine": "true"})
        items = data.get("items") or []
        if not items:
            raise Refused("This Google account has no YouTube channel yet; create one first.")
        channel: dict[str, Any] = items[0]
        return channel

    async def identify(self) -> list[Account]:
        channel = await self._my_channel("snippet,contentDetails")
        snippet = channel.get("snippet", {})
        thumbnail = snippet.get("thumbnails", {}).get("default", {})
        return [
            Account(
                account_id=channel["id"],
                name=snippet.get("title") or channel["id"],
                handle=snippet.get("customUrl"),
                avatar_url=thumbnail.get("url"),
                kind="channel",
            )
        ]

    # -- publishing ----------------------------------------------------------------------------

    async def publish(self, post: Post) -> Published:
        problems = self.validate(post)
        if problems:
            raise InvalidContent(problems)
        staged = _staged_video(post)
        if staged is not None:
            try:
                return await self._make_visible(staged, post)
            except Refused as refused:
                if refused.status != 404:  # gone (deleted on YouTube): uploaded again below
                    raise
        body = await self._upload(post, self._status(post))
        video_id = str(body["id"])
        published_at = parse_time(body.get("snippet", {}).get("publishedAt"))
        stale = [m.staged for m in post.media if m.staged]
        if stale:  # staged for another title or description, or lost: never named now
            await self.quietly_discard(stale)
        return Published(video_id, f"https://www.youtube.com/watch?v={video_id}", published_at)

    async def stage_post(self, post: Post) -> list[StagedMedia]:
        """The video, uploaded private ahead of its time (see the module's notes)."""
        problems = self.validate(post)
        if problems:
            raise InvalidContent(problems)
        uploaded_at = datetime.now(UTC)
        body = await self._upload(post, {**self._status(post), "privacyStatus": "private"})
        reference = _reference(str(body["id"]), post)
        return [StagedMedia(reference, uploaded_at + STAGED_VIDEO_LIFETIME)]

    async def _make_visible(self, video_id: str, post: Post) -> Published:
        """The staged video given the post's privacy: the one call at the post's time."""
        body = {"id": video_id, "status": self._status(post)}
        await self._api("PUT", "videos", params={"part": "status"}, json=body, publishing=True)
        return Published(video_id, f"https://www.youtube.com/watch?v={video_id}", datetime.now(UTC))

    async def discard_staged(self, references: Sequence[str]) -> bool:
        """Delete the private videos staged for posts that will not name them."""
        for reference in references:
            video_id = _video_of(reference)
            if video_id is None:
                continue
            try:
                await self._api("DELETE", "videos", params={"id": video_id})
            except Refused as refused:
                if refused.status != 404:  # already gone is what was asked
                    raise
        return True

    async def quietly_discard(self, references: Sequence[str]) -> None:
        try:
            await self.discard_staged(references)
        except ConnectorError as exc:
            logger.warning("YouTube: a staged video could not be deleted: %s", exc.message)

    @staticmethod
    def _status(post: Post) -> dict[str, Any]:
        return {
            "privacyStatus": post.options.get("privacy_status", "public"),
            "selfDeclaredMadeForKids": bool(post.options.get("made_for_kids", False)),
        }

    async def _upload(self, post: Post, status: dict[str, Any]) -> dict[str, Any]:
        """The post's video, uploaded with ``status``: the video resource YouTube made."""
        video = post.media[0]
        upload = ResumableUpload(
            self.http,
            await self._open_session(post, video, status),
            self._auth(),
            self.upload_chunk_size,
            self.max_resumes,
            self.resume_backoff_seconds,
        )
        return await upload.send(video)

    async def _open_session(self, post: Post, video: Media, status: dict[str, Any]) -> str:
        # Nothing exists on YouTube until the last byte is in: no reconciliation needed here.
        response = await self._send(
            "POST",
            f"{self.base_url}/upload/youtube/v3/videos",
            params={"uploadType": "resumable", "part": "snippet,status"},
            json={"snippet": _snippet(post), "status": status},
            headers={
                "X-Upload-Content-Length": str(video.size),
                "X-Upload-Content-Type": video.mime_type,
            },
        )
        location: str | None = response.headers.get("location")
        if not location:
            raise Transient("YouTube did not open an upload session; try again.")
        return location

    async def find_published(self, post: Post, since: datetime) -> Published | None:
        channel = await self._my_channel("contentDetails")
        uploads = channel.get("contentDetails", {}).get("relatedPlaylists", {}).get("uploads")
        if not uploads:
            return None
        # A video staged ahead is listed too, private until its time: not published yet.
        privacy = self._status(post)["privacyStatus"]
        params = {"part": "snippet,status", "playlistId": uploads, "maxResults": "50"}
        for _ in range(self.max_pages):
            data = await self._api("GET", "playlistItems", params=params)
            items = data.get("items") or []
            for item in items:
                snippet = item.get("snippet", {})
                when = parse_time(snippet.get("publishedAt"))
                if when is not None and when < since:
                    continue
                if item.get("status", {}).get("privacyStatus", privacy) != privacy:
                    continue
                if (post.title is None or _same_text(snippet.get("title"), post.title)) and (
                    _same_text(snippet.get("description"), post.text)
                ):
                    video_id = snippet.get("resourceId", {}).get("videoId")
                    if video_id:
                        url = f"https://www.youtube.com/watch?v={video_id}"
                        return Published(video_id, url, when)
            dates = [parse_time(i.get("snippet", {}).get("publishedAt")) for i in items]
            if not data.get("nextPageToken") or all(d is not None and d < since for d in dates):
                return None
            params["pageToken"] = data["nextPageToken"]
        return None

    async def delete(self, post_id: str) -> None:
        await self._api("DELETE", "videos", params={"id": post_id})

    # -- metrics -------------------------------------------------------------------------------

    async def post_metrics(self, post_id: str) -> PostMetrics:
        data = await self._api("GET", "videos", params={"part": "statistics", "id": post_id})
        items = data.get("items") or []
        if not items:
            raise Refused("YouTube does not know this video (deleted or private).", status=404)
        stats = items[0].get("statistics", {})
        return PostMetrics(
            likes=_int(stats.get("likeCount")),
            comments=_int(stats.get("commentCount")),
            video_views=_int(stats.get("viewCount")),
            raw=stats,
        )

    async def account_metrics(self) -> AccountMetrics:
        stats = (await self._my_channel("statistics")).get("statistics", {})
        hidden = stats.get("hiddenSubscriberCount")
        return AccountMetrics(
            followers=None if hidden else _int(stats.get("subscriberCount")),
            posts=_int(stats.get("videoCount")),
            raw=stats,
        )

    # -- comments ------------------------------------------------------------------------------

    async def comments(self, post_id: str, since: datetime | None = None) -> list[Comment]:
        params = {
            "part": "snippet,replies",
            "videoId": post_id,
            "maxResults": "100",
            "order": "time",
            "textFormat": "plainText",
        }
        found: list[Comment] = []
        for _ in range(self.max_pages):
            data = await self._api("GET", "commentThreads", params=params)
            for thread in data.get("items") or []:
                top = thread.get("snippet", {}).get("topLevelComment")
                replies = thread.get("replies", {}).get("comments", [])
                found += [to_comment(c, post_id) for c in [top, *replies] if c]
            if not data.get("nextPageToken"):
                break
            params["pageToken"] = data["nextPageToken"]
        return [c for c in found if since is None or c.created_at is None or c.created_at >= since]

    async def reply(self, comment: Comment, text: str) -> Comment:
        """A reply in ``comment``'s thread, or a new top-level comment on the video when
        ``comment`` is the video itself (the pipeline's first comment): a video id is no
        comment id, so ``comments.insert`` would not find the parent."""
        if comment.comment_id == comment.post_id:
            return await self._comment_on_video(comment.post_id, text)
        # Replies hang off the thread's top-level comment, even when answering a reply.
        parent = comment.parent_id or comment.comment_id
        body = {"snippet": {"parentId": parent, "textOriginal": text}}
        created = await self._api("POST", "comments", params={"part": "snippet"}, json=body)
        return to_comment(created, comment.post_id)

    async def _comment_on_video(self, video_id: str, text: str) -> Comment:
        """``commentThreads.insert``, which wants the channel and the video the thread is on."""
        channel = await self._my_channel("id")
        snippet = {
            "channelId": channel["id"],
            "videoId": video_id,
            "topLevelComment": {"snippet": {"textOriginal": text}},
        }
        created = await self._api(
            "POST", "commentThreads", params={"part": "snippet"}, json={"snippet": snippet}
        )
        return to_comment(created["snippet"]["topLevelComment"], video_id)

    async def hide_comment(self, comment: Comment, hidden: bool = True) -> None:
        status = "heldForReview" if hidden else "published"
        params = {"id": comment.comment_id, "moderationStatus": status}
        await self._api("POST", "comments/setModerationStatus", params=params)

    async def delete_comment(self, comment: Comment) -> None:
        await self._api("DELETE", "comments", params={"id": comment.comment_id})


def to_comment(resource: dict[str, Any], video_id: str) -> Comment:
    snippet = resource.get("snippet", {})
    return Comment(
        comment_id=str(resource["id"]),
        post_id=str(snippet.get("videoId") or video_id),
        text=snippet.get("textOriginal") or snippet.get("textDisplay") or "",
        author_id=(snippet.get("authorChannelId") or {}).get("value"),
        author_name=snippet.get("authorDisplayName"),
        created_at=parse_time(snippet.get("publishedAt")),
        parent_id=snippet.get("parentId"),
        hidden=snippet.get("moderationStatus") == "heldForReview",
    )
