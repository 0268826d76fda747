"""A fake YouTube Data API v3, held to Google's discovery document.

Every request is matched to a method of ``youtube.v3.json`` (shipped in google-api-python-client)
and checked against it (see :mod:`tests.support.fakes.google_discovery`); our own answers are
checked against the method's response schema too, so the connector reads documented shapes.

Uploads follow the resumable protocol:
https://developers.google.com/youtube/v3/guides/using_resumable_upload_protocol
(POST the metadata with X-Upload-Content-Length/-Type -> 200 + Location; PUT the bytes with
Content-Range; 308 Resume Incomplete with a Range header until the last byte; ``bytes */total``
asks where the upload stands; chunks other than the last are multiples of 256 KiB).
Errors use Google's JSON error shape: https://developers.google.com/youtube/v3/docs/errors

OAuth follows https://developers.google.com/identity/protocols/oauth2/web-server: the consent
page at /o/oauth2/v2/auth (a refusal comes back as ``error=access_denied``; PKCE S256 is
accepted), and POST /token with ``code``, ``client_id``, ``client_secret``, ``redirect_uri``,
``grant_type`` and, when the authorization carried a challenge, ``code_verifier``. A refresh
token comes only with ``access_type=offline``, and a refresh answers no new one. The page
names the errors (``invalid_grant``, ``redirect_uri_mismatch``, ``invalid_client``); their
descriptions are the ones Google answers.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.support.fakes.asgi import FakeServer, Request, Response, json_response
from tests.support.fakes.google_discovery import (
    Discovery,
    Method,
    Violation,
    google_error,
    load_discovery,
)
from tests.support.fakes.oauth import AuthorizationServer, GrantRefused, Refusal

CHUNK_GRANULE = 256 * 1024
UPLOAD_PATHS = ("/upload/youtube/v3/videos", "/resumable/upload/youtube/v3/videos")
FAILURE_REASONS = {401: "authError", 403: "forbidden", 429: "rateLimitExceeded"}
GRANT_ERRORS = {
    Refusal.BAD_CLIENT: (401, "invalid_client", "Unauthorized"),
    Refusal.UNKNOWN_CODE: (400, "invalid_grant", "Malformed auth code."),
    Refusal.REUSED_CODE: (400, "invalid_grant", "Bad Request"),
    Refusal.REDIRECT_MISMATCH: (400, "redirect_uri_mismatch", "Bad Request"),
    Refusal.VERIFIER_MISSING: (400, "invalid_grant", "Missing code verifier."),
    Refusal.VERIFIER_MISMATCH: (400, "invalid_grant", "Invalid code verifier."),
}


def oauth_error(status: int, error: str, description: str) -> Response:
    return json_response(status, {"error": error, "error_description": description})


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parts_of(request: Request) -> list[str]:
    return [p.strip() for value in request.params("part") for p in value.split(",") if p.strip()]


def select(resource: dict[str, Any], parts: list[str]) -> dict[str, Any]:
    """A resource as the API answers it: only the requested parts."""
    return {k: v for k, v in resource.items() if k in ("kind", "etag", "id") or k in parts}


@dataclass
class UploadSession:
    metadata: dict[str, Any]
    parts: list[str]
    total: int
    content_type: str
    received: bytearray = field(default_factory=bytearray)
    video_id: str | None = None  # once the last byte is in


class FakeYouTube(FakeServer):
    def __init__(
        self,
        token: str,
        scopes: tuple[str, ...],
        client_id: str = "client-1",
        client_secret: str = "client-secret",
    ) -> None:
        super().__init__()
        self.discovery = Discovery(load_discovery("youtube.v3"))
        self.token = token
        self.scopes = scopes
        self.refresh_token = "refresh-" + secrets.token_hex(8)
        self._ids = itertools.count(1)
        channel_id = "UC" + secrets.token_hex(11)
        self.oauth = AuthorizationServer(
            client_id, client_secret, channel_id, {"error": "access_denied"}
        )
        self.channel: dict[str, Any] = {
            "kind": "youtube#channel",
            "etag": "etag-channel",
            "id": channel_id,
            "snippet": {
                "title": "Brand Channel",
                "description": "Our channel",
                "customUrl": "@brandchannel",
                "publishedAt": "2020-01-01T00:00:00Z",
                "thumbnails": {"default": {"url": "https://yt3.test/a.jpg", "width": 88}},
            },
            "contentDetails": {"relatedPlaylists": {"likes": "", "uploads": "UU" + channel_id[2:]}},
            "statistics": {
                "viewCount": "1000",
                "subscriberCount": "250",
                "hiddenSubscriberCount": False,
                "videoCount": "0",
            },
        }
        self.videos: dict[str, dict[str, Any]] = {}
        self.uploads: list[str] = []  # newest first, as the uploads playlist lists them
        self.sessions: dict[str, UploadSession] = {}
        self.threads: dict[str, dict[str, Any]] = {}
        # Failure injection for the upload protocol.
        self.interrupt_at: int | None = None  # the chunk starting there gets a 503, once
        self.expire_sessions = False  # every upload session is gone (404)
        self.keep_at_most_once: int | None = None  # keep fewer bytes than sent, then 308
        self.quota_exhausted = False  # 403 quotaExceeded on every call
        self.handlers = {
            "youtube.channels.list": self._channels,
            "youtube.videos.insert": self._start_upload,
            "youtube.videos.list": self._videos,
            "youtube.videos.delete": self._delete_video,
            "youtube.videos.update": self._update_video,
            "youtube.playlistItems.list": self._playlist_items,
            "youtube.commentThreads.list": self._comment_threads,
            "youtube.comments.insert": self._insert_comment,
            "youtube.commentThreads.insert": self._insert_thread,
            "youtube.comments.setModerationStatus": self._moderate,
            "youtube.comments.delete": self._delete_comment,
        }

    @property
    def uploads_playlist(self) -> str:
        uploads: str = self.channel["contentDetails"]["relatedPlaylists"]["uploads"]
        return uploads

    # -- the ASGI entry ------------------------------------------------------------------------

    def failure(self, request: Request, status: int) -> Response:
        reason = FAILURE_REASONS.get(status, "backendError")
        return json_response(status, google_error(status, f"Injected HTTP {status}", reason))

    def handle(self, request: Request) -> Response:
        if request.path == "/o/oauth2/v2/auth":
            return self.oauth.authorize(request)
        if request.path == "/token":
            return self._token(request)
        try:
            if request.bearer != self.token:
                raise Violation("Request had invalid authentication credentials.", "authError", 401)
            if self.quota_exhausted:
                raise Violation(
                    "The request cannot be completed because you have exceeded your quota.",
                    "quotaExceeded",
                    403,
                )
            if request.method == "PUT" and request.param("upload_id"):
                return self._upload_chunk(request)
            method = self.discovery.method(request.method, request.path)
            self.discovery.check_scopes(method, self.scopes)
            self.discovery.check_query(method, request.query)
            body = request.json() if request.body else None
            self.discovery.check_body(method, body)
            self._check_parts(method, request, body)
            answer = self.handlers[method.id](request, body)
        except Violation as violation:
            error = google_error(violation.status, violation.message, violation.reason)
            if violation.reason == "quotaExceeded":
                error["error"]["errors"][0]["domain"] = "youtube.quota"
            return json_response(violation.status, error)
        if isinstance(answer, Response):
            return answer
        if answer is None:
            return Response(204)
        self.discovery.check_schema(answer, method.spec["response"], "answer")
        return json_response(200, answer)

    def _check_parts(self, method: Method, request: Request, body: Any) -> None:
        # "The part parameter identifies the properties that the write operation will set."
        if not isinstance(body, dict) or not request.params("part"):
            return
        parts = parts_of(request)
        for key in body:
            if key not in ("kind", "etag", "id") and key not in parts:
                raise Violation(f"The body sets {key!r} but part={','.join(parts)}", "badRequest")

    # -- OAuth (https://developers.google.com/identity/protocols/oauth2/web-server#offline) -------

    def _token(self, request: Request) -> Response:
        form = request.form()
        if form.get("grant_type") == "authorization_code":
            try:
                grant = self.oauth.redeem(form, form.get("client_secret"))
            except GrantRefused as refused:
                return oauth_error(*GRANT_ERRORS[refused.refusal])
            self.scopes = tuple(grant.scope.split())
            offline = grant.asked.get("access_type") == "offline"
            self.refresh_token = self.oauth.new_token("1//") if offline else ""
            return self._issue(with_refresh_token=offline)
        if (form.get("client_id"), form.get("client_secret")) != (
            self.oauth.client_id,
            self.oauth.client_secret,
        ):
            return oauth_error(*GRANT_ERRORS[Refusal.BAD_CLIENT])
        if (
            form.get("grant_type") != "refresh_token"
            or not self.refresh_token
            or form.get("refresh_token") != self.refresh_token
        ):
            return oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        return self._issue(with_refresh_token=False)

    def _issue(self, *, with_refresh_token: bool) -> Response:
        self.token = self.oauth.new_token("ya29.")
        body = {
            "access_token": self.token,
            "expires_in": 3599,
            "scope": " ".join(self.scopes),
            "token_type": "Bearer",
        }
        if with_refresh_token:
            body["refresh_token"] = self.refresh_token
        return json_response(200, body)

    # -- channels, videos, playlist items ------------------------------------------------------

    def _listing(self, kind: str, items: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
        return {
            "kind": f"youtube#{kind}ListResponse",
            "etag": "etag-list",
            "pageInfo": {"totalResults": len(items), "resultsPerPage": len(items)},
            "items": items,
            **more,
        }

    def _channels(self, request: Request, body: Any) -> dict[str, Any]:
        mine = request.param("mine") == "true"
        ids = (request.param("id") or "").split(",")
        found = mine or self.channel["id"] in ids
        self.channel["statistics"]["videoCount"] = str(len(self.videos))
        items = [select(self.channel, parts_of(request))] if found else []
        return self._listing("channel", items)

    def _videos(self, request: Request, body: Any) -> dict[str, Any]:
        ids = (request.param("id") or "").split(",")
        items = [select(self.videos[i], parts_of(request)) for i in ids if i in self.videos]
        return self._listing("video", items)

    def _delete_video(self, request: Request, body: Any) -> None:
        video_id = request.param("id") or ""
        if self.videos.pop(video_id, None) is None:
            raise Violation(
                "The video that you are trying to delete cannot be found.", "videoNotFound", 404
            )
        self.uploads.remove(video_id)

    def _update_video(self, request: Request, body: Any) -> dict[str, Any]:
        """videos.update: every mutable property of the parts named is replaced by the body's
        (one left out reverts to its default), per the ``part`` parameter's description."""
        video = self.videos.get(str((body or {}).get("id")))
        if video is None:
            raise Violation(
                "The video that you are trying to update cannot be found.", "videoNotFound", 404
            )
        if "status" in parts_of(request):
            sent = body.get("status") or {}
            video["status"] = {
                "uploadStatus": video["status"]["uploadStatus"],
                "privacyStatus": sent.get("privacyStatus", "public"),
                **{k: v for k, v in sent.items() if k != "privacyStatus"},
            }
        return select(video, parts_of(request))

    def _playlist_items(self, request: Request, body: Any) -> dict[str, Any]:
        if request.param("playlistId") != self.uploads_playlist:
            raise Violation("The playlist cannot be found.", "playlistNotFound", 404)
        size = int(request.param("maxResults") or 5)
        start = int(request.param("pageToken") or 0)
        page = self.uploads[start : start + size]
        items = []
        for position, video_id in enumerate(page, start):
            snippet = self.videos[video_id]["snippet"]
            item = {
                "kind": "youtube#playlistItem",
                "etag": "etag-item",
                "id": f"item-{video_id}",
                "snippet": {
                    "publishedAt": snippet["publishedAt"],
                    "channelId": self.channel["id"],
                    "title": snippet["title"],
                    "description": snippet["description"],
                    "playlistId": self.uploads_playlist,
                    "position": position,
                    "resourceId": {"kind": "youtube#video", "videoId": video_id},
                },
                "contentDetails": {"videoId": video_id, "videoPublishedAt": snippet["publishedAt"]},
                "status": {"privacyStatus": self.videos[video_id]["status"]["privacyStatus"]},
            }
            items.append(select(item, parts_of(request)))
        more = {"nextPageToken": str(start + size)} if start + size < len(self.uploads) else {}
        return self._listing("playlistItem", items, **more)

    # -- the resumable upload ------------------------------------------------------------------

    def _start_upload(self, request: Request, body: Any) -> Response:
        if request.path not in UPLOAD_PATHS:
            raise Violation("Media upload goes to the /upload path", "badRequest")
        if request.param("uploadType") != "resumable" and request.path == UPLOAD_PATHS[0]:
            raise Violation("This fake only speaks the resumable protocol", "badRequest")
        if not request.headers.get("content-type", "").startswith("application/json"):
            raise Violation("The metadata must be JSON", "badRequest")
        length = request.headers.get("x-upload-content-length", "")
        content_type = request.headers.get("x-upload-content-type", "")
        if not length.isdigit() or int(length) <= 0:
            raise Violation("X-Upload-Content-Length is missing", "badRequest")
        spec = self.discovery.method("POST", UPLOAD_PATHS[0]).spec["mediaUpload"]
        if int(length) > int(spec["maxSize"]):
            raise Violation("The file is too large", "uploadLimitExceeded")
        if not (content_type.startswith("video/") or content_type in spec["accept"]):
            raise Violation(f"X-Upload-Content-Type {content_type!r} is not accepted", "badRequest")
        snippet = (body or {}).get("snippet", {})
        if not snippet.get("title"):
            raise Violation("The request metadata does not specify a video title.", "invalidTitle")
        upload_id = secrets.token_urlsafe(12)
        self.sessions[upload_id] = UploadSession(
            body or {}, parts_of(request), int(length), content_type
        )
        location = (
            f"{request.origin}{UPLOAD_PATHS[0]}?uploadType=resumable&upload_id={upload_id}"
            f"&part={','.join(parts_of(request))}"
        )
        return Response(200, headers={"location": location, "content-length": "0"})

    def _upload_chunk(self, request: Request) -> Response:
        session = self.sessions.get(request.param("upload_id") or "")
        if session is None or self.expire_sessions:
            raise Violation("The upload session does not exist or has expired.", "notFound", 404)
        content_range = request.headers.get("content-range")
        done = len(session.received)
        if content_range == f"bytes */{session.total}":  # Step 4.1: where does it stand?
            return self._upload_state(session)
        if content_range is None:
            first, last, total = 0, len(request.body) - 1, session.total
        else:
            try:
                span, total_text = content_range.removeprefix("bytes ").split("/")
                first, last = (int(x) for x in span.split("-"))
                total = int(total_text)
            except ValueError:
                raise Violation(f"Failed to parse Content-Range {content_range!r}") from None
        if total != session.total or first != done or last - first + 1 != len(request.body):
            raise Violation(f"Content-Range {content_range!r} does not fit the session")
        final = last + 1 == session.total
        if not final and len(request.body) % CHUNK_GRANULE:
            raise Violation("Chunks other than the last must be multiples of 256 KiB")
        if self.interrupt_at == first:
            self.interrupt_at = None
            return json_response(503, google_error(503, "Backend Error", "backendError"))
        kept = request.body
        if self.keep_at_most_once is not None:
            kept, self.keep_at_most_once = kept[: self.keep_at_most_once], None
        session.received += kept
        return self._upload_state(session)

    def _upload_state(self, session: UploadSession) -> Response:
        if len(session.received) < session.total:
            headers = {"content-length": "0"}
            if session.received:
                headers["range"] = f"bytes=0-{len(session.received) - 1}"
            return Response(308, headers=headers)
        video = self._created_video(session)
        answer = select(video, session.parts)
        self.discovery.check_schema(answer, {"$ref": "Video"}, "answer")
        return json_response(201, answer)

    def _created_video(self, session: UploadSession) -> dict[str, Any]:
        if session.video_id is not None:  # a finished session answers the same video again
            return self.videos[session.video_id]
        video_id = session.video_id = secrets.token_urlsafe(8)[:11]
        metadata = session.metadata
        status = {
            "uploadStatus": "uploaded",
            "privacyStatus": "public",
            **metadata.get("status", {}),
        }
        snippet = metadata["snippet"]
        self.videos[video_id] = {
            "kind": "youtube#video",
            "etag": "etag-video",
            "id": video_id,
            "snippet": {
                "publishedAt": now(),
                "channelId": self.channel["id"],
                "title": snippet["title"],
                "description": snippet.get("description", ""),
                "channelTitle": self.channel["snippet"]["title"],
                "categoryId": snippet.get("categoryId", "22"),
                **({"tags": snippet["tags"]} if "tags" in snippet else {}),
            },
            "status": status,
            "statistics": {"viewCount": "7", "likeCount": "3", "commentCount": "1"},
        }
        self.uploads.insert(0, video_id)
        self._seed_comment(video_id)
        return self.videos[video_id]

    # -- comments ------------------------------------------------------------------------------

    def _comment(self, video_id: str, text: str, author: str, parent: str | None) -> dict[str, Any]:
        snippet: dict[str, Any] = {
            "channelId": self.channel["id"],
            "videoId": video_id,
            "textDisplay": text,
            "textOriginal": text,
            "authorDisplayName": author,
            "authorChannelId": {"value": "UC-viewer"},
            "canRate": True,
            "likeCount": 0,
            "moderationStatus": "published",
            "publishedAt": now(),
            "updatedAt": now(),
        }
        if parent:
            snippet["parentId"] = parent
        return {
            "kind": "youtube#comment",
            "etag": "etag-c",
            "id": f"Ug{next(self._ids)}",
            "snippet": snippet,
        }

    def _seed_comment(self, video_id: str) -> None:
        self._thread(self._comment(video_id, "Great video!", "A viewer", None))

    def _thread(self, top: dict[str, Any]) -> dict[str, Any]:
        video_id = top["snippet"]["videoId"]
        thread = self.threads[top["id"]] = {
            "kind": "youtube#commentThread",
            "etag": "etag-t",
            "id": top["id"],
            "snippet": {
                "channelId": self.channel["id"],
                "videoId": video_id,
                "topLevelComment": top,
                "canReply": True,
                "totalReplyCount": 0,
                "isPublic": True,
            },
            "replies": {"comments": []},
        }
        return thread

    def _all_comments(self) -> dict[str, dict[str, Any]]:
        found = {}
        for thread in self.threads.values():
            top = thread["snippet"]["topLevelComment"]
            found[top["id"]] = top
            found.update({c["id"]: c for c in thread["replies"]["comments"]})
        return found

    def _comment_threads(self, request: Request, body: Any) -> dict[str, Any]:
        wanted = request.param("moderationStatus") or "published"
        items = [
            select(t, parts_of(request))
            for t in self.threads.values()
            if t["snippet"]["videoId"] == request.param("videoId")
            and t["snippet"]["topLevelComment"]["snippet"]["moderationStatus"] == wanted
        ]
        return self._listing("commentThread", items)

    def _insert_comment(self, request: Request, body: Any) -> dict[str, Any]:
        snippet = body.get("snippet", {})
        thread = self.threads.get(snippet.get("parentId", ""))
        if thread is None:
            raise Violation("The comment's parent cannot be found.", "parentCommentNotFound", 404)
        if not snippet.get("textOriginal"):
            raise Violation("The comment has no text.", "commentTextRequired")
        reply = self._comment(
            thread["snippet"]["videoId"], snippet["textOriginal"], "Brand Channel", thread["id"]
        )
        thread["replies"]["comments"].append(reply)
        thread["snippet"]["totalReplyCount"] += 1
        return reply

    def _insert_thread(self, request: Request, body: Any) -> dict[str, Any]:
        """commentThreads.insert: snippet.channelId, snippet.videoId and the top-level
        comment's textOriginal are required (its reference page and error table)."""
        snippet = body.get("snippet", {})
        video_id, channel_id = snippet.get("videoId"), snippet.get("channelId")
        if not video_id or not channel_id:
            raise Violation(
                "Each thread must name a channel and a video.", "channelOrVideoIdMissing"
            )
        if video_id not in self.videos or channel_id != self.channel["id"]:
            raise Violation("The video cannot be found.", "videoNotFound", 404)
        text = snippet.get("topLevelComment", {}).get("snippet", {}).get("textOriginal")
        if not text:
            raise Violation("The comment has no text.", "commentTextRequired")
        thread = self._thread(self._comment(video_id, text, "Brand Channel", None))
        return select(thread, parts_of(request))

    def _moderate(self, request: Request, body: Any) -> None:
        comments = self._all_comments()
        for comment_id in request.params("id"):
            if comment_id not in comments:
                raise Violation("The comment cannot be found.", "commentNotFound", 404)
            comments[comment_id]["snippet"]["moderationStatus"] = request.param("moderationStatus")

    def _delete_comment(self, request: Request, body: Any) -> None:
        comment_id = request.param("id") or ""
        if self.threads.pop(comment_id, None) is not None:
            return
        for thread in self.threads.values():
            replies = thread["replies"]["comments"]
            for reply in replies:
                if reply["id"] == comment_id:
                    replies.remove(reply)
                    return
        raise Violation("The comment cannot be found.", "commentNotFound", 404)
