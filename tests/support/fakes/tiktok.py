"""A fake TikTok Open API written from TikTok for Developers' reference pages.

- Envelope: every answer is ``{"data": ..., "error": {"code", "message", "log_id"}}``,
  code ``ok`` on success (https://developers.tiktok.com/doc/tiktok-api-v2-error-handling).
- Direct Post (https://developers.tiktok.com/doc/content-posting-api-reference-direct-post):
  creator_info/query, then video/init with FILE_UPLOAD or PULL_FROM_URL; privacy_level must be
  one the creator offers; the caption is at most 2,200 UTF-16 units; 6 inits a minute a token.
- Media transfer (https://developers.tiktok.com/doc/content-posting-api-media-transfer-guide):
  chunk_size 5-64 MB (a file under 5 MB whole), total_chunk_count = size // chunk_size, the last
  chunk takes the rest (up to 128 MB), at most 1000 chunks, sent in order with Content-Range;
  206 until the last chunk, then 201.
- Photo posts (https://developers.tiktok.com/doc/content-posting-api-reference-photo-post):
  content/init, PULL_FROM_URL only, 1-35 images, title <= 90 and description <= 4,000.
- Status (https://developers.tiktok.com/doc/content-posting-api-reference-get-video-status):
  PROCESSING_UPLOAD / PROCESSING_DOWNLOAD, then PUBLISH_COMPLETE (public posts get
  ``publicaly_available_post_id``, sic) or FAILED with a ``fail_reason``.
- User info, video list and video query of the Display API.
- Login Kit for Web (https://developers.tiktok.com/doc/login-kit-web): the authorization page
  at /v2/auth/authorize/ takes ``client_key``, comma-separated ``scope``, ``redirect_uri``,
  ``state`` and ``response_type``. The token endpoint
  (https://developers.tiktok.com/doc/oauth-user-access-token-management): POST
  /v2/oauth/token/ with ``client_key``, ``client_secret``, ``code``, ``grant_type`` and the
  ``redirect_uri`` of the authorization (``code_verifier`` for mobile and desktop apps only),
  answering ``open_id``, ``scope``, ``access_token`` (24 hours), ``refresh_token`` (365 days,
  renewed at each refresh), ``refresh_expires_in`` and ``token_type``. Errors there are
  ``{"error", "error_description", "log_id"}`` with the categories of
  https://developers.tiktok.com/doc/oauth-error-handling (their descriptions are quoted).
- Revocation (https://developers.tiktok.com/docs/en/oauth-revoke-a-user-access-token): POST
  /v2/oauth/revoke/, form-encoded ``client_key``, ``client_secret`` and the user access
  ``token``; an empty answer, after which the app's authorization by the user is gone (its
  access and refresh tokens are refused).
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from tests.support.fakes.asgi import FakeServer, Request, Response, json_response
from tests.support.fakes.oauth import AuthorizationServer, GrantRefused, Refusal

MB = 1024 * 1024
USER_FIELDS = {
    "open_id",
    "union_id",
    "avatar_url",
    "avatar_url_100",
    "avatar_large_url",
    "display_name",
    "bio_description",
    "profile_deep_link",
    "is_verified",
    "username",
    "follower_count",
    "following_count",
    "likes_count",
    "video_count",
}
VIDEO_FIELDS = {
    "id",
    "create_time",
    "cover_image_url",
    "share_url",
    "video_description",
    "duration",
    "height",
    "width",
    "title",
    "embed_html",
    "embed_link",
    "like_count",
    "comment_count",
    "share_count",
    "view_count",
}
PRIVACY_LEVELS = {"PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "SELF_ONLY"}
POST_INFO = {
    "title",
    "privacy_level",
    "disable_duet",
    "disable_comment",
    "disable_stitch",
    "video_cover_timestamp_ms",
    "brand_content_toggle",
    "brand_organic_toggle",
    "is_aigc",
}
PHOTO_INFO = {
    "title",
    "description",
    "privacy_level",
    "disable_comment",
    "auto_add_music",
    "brand_content_toggle",
    "brand_organic_toggle",
}
# https://developers.tiktok.com/doc/oauth-error-handling
OAUTH_ERRORS = {
    "access_denied": "The resource owner or authorization server denied the request.",
    "invalid_client": "Client authentication failed (for example, unknown client, no client "
    "authentication included, or unsupported authentication method).",
    "invalid_grant": "The provided authorization grant (for example, authorization code or "
    "resource owner credentials) or refresh token is invalid, expired, revoked, does not match "
    "the redirection URI used in the authorization request, or was issued to another client.",
    "invalid_request": "The request misses a required parameter or is otherwise malformed.",
}
GRANT_ERRORS = {
    Refusal.BAD_CLIENT: "invalid_client",
    Refusal.VERIFIER_MISSING: "invalid_request",
    Refusal.VERIFIER_MISMATCH: "invalid_request",
}
STATUS_CODES = {
    400: "invalid_params",
    401: "access_token_invalid",
    403: "scope_not_authorized",
    429: "rate_limit_exceeded",
}


class TikTokError(Exception):
    def __init__(self, status: int, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.status, self.code, self.message = status, code, message or code


def envelope(data: Any, code: str = "ok", message: str = "") -> dict[str, Any]:
    return {
        "data": data,
        "error": {"code": code, "message": message, "log_id": secrets.token_hex(8)},
    }


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class Publish:
    publish_id: str
    post_info: dict[str, Any]
    kind: str  # video | photo
    video_size: int = 0
    chunk_size: int = 0
    chunks: int = 0
    received: bytearray = field(default_factory=bytearray)
    chunks_received: int = 0
    polls: int = 0
    post_id: str | None = None

    @property
    def uploaded(self) -> bool:
        return self.kind == "photo" or self.video_size == 0 or len(self.received) == self.video_size


def oauth_error(error: str) -> Response:
    body = {"error": error, "error_description": OAUTH_ERRORS[error], "log_id": "x"}
    return json_response(400, body)


class FakeTikTok(FakeServer):
    def __init__(
        self, token: str, client_key: str = "awkey123", client_secret: str = "secret"
    ) -> None:
        super().__init__()
        self.token = token
        self.refresh_token = "rft." + secrets.token_hex(8)
        self.open_id = "-000OT8PrDyo1Qz3ug4sHSq4yHfETvBd2Iht"
        denial = {"error": "access_denied", "error_description": OAUTH_ERRORS["access_denied"]}
        self.oauth = AuthorizationServer(
            client_key, client_secret, self.open_id, denial, client_param="client_key"
        )
        self.creator: dict[str, Any] = {
            "creator_avatar_url": "https://p16.tiktokcdn.test/a.jpeg",
            "creator_username": "brand.official",
            "creator_nickname": "Brand",
            "privacy_level_options": ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"],
            "comment_disabled": False,
            "duet_disabled": True,
            "stitch_disabled": False,
            "max_video_post_duration_sec": 300,
        }
        self.verified_prefixes = ("https://media.agency.test/",)
        self.publishes: dict[str, Publish] = {}
        self.videos: list[dict[str, Any]] = []  # public posts, newest first
        self.inits: list[float] = []
        self.processing_polls = 1  # fetches answering PROCESSING_* before the outcome
        self.fail_reason: str | None = None
        self.init_error: TikTokError | None = None  # what the next init answers, once
        self._ids = itertools.count(7_300_000_000_000_000_000)
        self.revoked: list[str] = []  # tokens handed to /v2/oauth/revoke/

    def failure(self, request: Request, status: int) -> Response:
        code = STATUS_CODES.get(status, "internal_error")
        return json_response(status, envelope({}, code, f"Injected HTTP {status}"))

    def handle(self, request: Request) -> Response:
        if request.path == "/v2/auth/authorize/":
            return self.oauth.authorize(request)
        if request.path == "/v2/oauth/token/":
            return self._token(request)
        if request.path == "/v2/oauth/revoke/":
            return self._revoke(request)
        try:
            if request.path.startswith("/upload/video/"):
                return self._chunk(request)
            if request.bearer != self.token:
                raise TikTokError(
                    401, "access_token_invalid", "The access token is invalid or not found."
                )
            routes = {
                ("GET", "/v2/user/info/"): self._user_info,
                ("POST", "/v2/post/publish/creator_info/query/"): lambda r: self.creator,
                ("POST", "/v2/post/publish/video/init/"): self._video_init,
                ("POST", "/v2/post/publish/content/init/"): self._content_init,
                ("POST", "/v2/post/publish/status/fetch/"): self._status,
                ("POST", "/v2/video/list/"): self._video_list,
                ("POST", "/v2/video/query/"): self._video_query,
            }
            route = routes.get((request.method, request.path))
            if route is None:
                raise TikTokError(404, "not_found", f"No endpoint {request.method} {request.path}")
            if request.method == "POST" and not request.headers.get("content-type", "").startswith(
                "application/json"
            ):
                raise TikTokError(400, "invalid_params", "Content-Type must be application/json")
            return json_response(200, envelope(route(request)))
        except TikTokError as error:
            return json_response(error.status, envelope({}, error.code, error.message))

    def _token(self, request: Request) -> Response:
        form = request.form()
        if "client_id" in form or not form.get("client_key"):
            return oauth_error("invalid_request")
        if form.get("grant_type") == "authorization_code":
            try:
                grant = self.oauth.redeem(form, form.get("client_secret"))
            except GrantRefused as refused:
                return oauth_error(GRANT_ERRORS.get(refused.refusal, "invalid_grant"))
            return self._issue(grant.scope)
        if (form["client_key"], form.get("client_secret")) != (
            self.oauth.client_id,
            self.oauth.client_secret,
        ):
            return oauth_error("invalid_client")
        if (
            form.get("grant_type") != "refresh_token"
            or form.get("refresh_token") != self.refresh_token
        ):
            return oauth_error("invalid_grant")
        return self._issue("user.info.basic,video.publish")

    def _revoke(self, request: Request) -> Response:
        if request.method != "POST" or not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return oauth_error("invalid_request")
        form = request.form()
        if "client_id" in form or not form.get("token"):
            return oauth_error("invalid_request")
        if (form.get("client_key"), form.get("client_secret")) != (
            self.oauth.client_id,
            self.oauth.client_secret,
        ):
            return oauth_error("invalid_client")
        self.revoked.append(form["token"])
        if form["token"] == self.token:  # the user's authorization of the app ends
            self.token, self.refresh_token = "", ""
        return json_response(200, {})

    def _issue(self, scope: str) -> Response:
        self.token = self.oauth.new_token("act.")
        self.refresh_token = self.oauth.new_token("rft.")
        return json_response(
            200,
            {
                "access_token": self.token,
                "expires_in": 86400,
                "open_id": self.open_id,
                "refresh_expires_in": 31536000,
                "refresh_token": self.refresh_token,
                "scope": scope,
                "token_type": "Bearer",
            },
        )

    # -- display API ---------------------------------------------------------------------------

    def _fields(self, request: Request, known: set[str]) -> list[str]:
        wanted = [f for f in (request.param("fields") or "").split(",") if f]
        if not wanted or set(wanted) - known:
            raise TikTokError(
                400, "invalid_params", f"Unknown or missing fields: {sorted(set(wanted) - known)}"
            )
        return wanted

    def _user_info(self, request: Request) -> dict[str, Any]:
        user = {
            "open_id": self.open_id,
            "union_id": "c9c60f44-a68e",
            "avatar_url": self.creator["creator_avatar_url"],
            "display_name": "Brand",
            "username": "brand.official",
            "follower_count": 5400,
            "following_count": 12,
            "likes_count": 88000,
            "video_count": len(self.videos),
        }
        return {"user": {k: v for k, v in user.items() if k in self._fields(request, USER_FIELDS)}}

    def _video_list(self, request: Request) -> dict[str, Any]:
        wanted = self._fields(request, VIDEO_FIELDS)
        count = (request.json() or {}).get("max_count", 10)
        if not 1 <= count <= 20:
            raise TikTokError(400, "invalid_params", "max_count must be 1 to 20")
        videos = [{k: v for k, v in video.items() if k in wanted} for video in self.videos[:count]]
        return {"videos": videos, "cursor": 0, "has_more": len(self.videos) > count}

    def _video_query(self, request: Request) -> dict[str, Any]:
        wanted = self._fields(request, VIDEO_FIELDS)
        ids = (request.json() or {}).get("filters", {}).get("video_ids", [])
        if not 1 <= len(ids) <= 20:
            raise TikTokError(400, "invalid_params", "video_ids must hold 1 to 20 ids")
        found = [v for v in self.videos if v["id"] in ids]
        return {"videos": [{k: v for k, v in video.items() if k in wanted} for video in found]}

    # -- posting -------------------------------------------------------------------------------

    def _count_init(self) -> None:
        if self.init_error is not None:
            error, self.init_error = self.init_error, None
            raise error
        now = time.monotonic()
        self.inits = [t for t in self.inits if now - t < 60]
        if len(self.inits) >= 6:
            raise TikTokError(
                429,
                "rate_limit_exceeded",
                "Each user access_token is limited to 6 requests per minute.",
            )
        self.inits.append(now)

    def _check_post_info(self, info: Any, allowed: set[str]) -> None:
        if not isinstance(info, dict) or set(info) - allowed:
            raise TikTokError(
                400,
                "invalid_params",
                f"Unknown post_info fields: {sorted(set(info or {}) - allowed)}",
            )
        if info.get("privacy_level") not in PRIVACY_LEVELS:
            raise TikTokError(400, "invalid_params", "privacy_level is required")
        if info["privacy_level"] not in self.creator["privacy_level_options"]:
            raise TikTokError(
                400, "privacy_level_option_mismatch", "privacy_level is not offered to this creator"
            )

    def _new_publish(self, prefix: str, info: dict[str, Any], kind: str) -> Publish:
        publish = Publish(f"{prefix}~v2.{secrets.token_hex(6)}", info, kind)
        self.publishes[publish.publish_id] = publish
        return publish

    def _video_init(self, request: Request) -> dict[str, Any]:
        self._count_init()
        body = request.json() or {}
        info, source = body.get("post_info"), body.get("source_info") or {}
        self._check_post_info(info, POST_INFO)
        if utf16(info.get("title", "")) > 2200:
            raise TikTokError(400, "invalid_params", "title is longer than 2200 UTF-16 runes")
        if source.get("source") == "PULL_FROM_URL":
            self._check_url(source.get("video_url", ""))
            publish = self._new_publish("v_pub_url", info, "video")
            return {"publish_id": publish.publish_id}
        if source.get("source") != "FILE_UPLOAD":
            raise TikTokError(400, "invalid_params", "source must be FILE_UPLOAD or PULL_FROM_URL")
        size, chunk, count = (
            source.get(k) for k in ("video_size", "chunk_size", "total_chunk_count")
        )
        if not all(isinstance(v, int) and v > 0 for v in (size, chunk, count)):
            raise TikTokError(
                400, "invalid_params", "video_size, chunk_size and total_chunk_count are required"
            )
        assert isinstance(size, int) and isinstance(chunk, int) and isinstance(count, int)
        whole = size < 5 * MB
        if whole and (chunk != size or count != 1):
            raise TikTokError(400, "invalid_params", "a video under 5 MB is uploaded whole")
        if not whole and not 5 * MB <= chunk <= 64 * MB:
            raise TikTokError(400, "invalid_params", "chunk_size must be 5 MB to 64 MB")
        if size > 64 * MB and count < 2:
            raise TikTokError(400, "invalid_params", "a video over 64 MB is uploaded in chunks")
        if (
            count != size // chunk
            or not 1 <= count <= 1000
            or size - chunk * (count - 1) > 128 * MB
        ):
            raise TikTokError(
                400, "invalid_params", "total_chunk_count must be video_size // chunk_size"
            )
        publish = self._new_publish("v_pub_file", info, "video")
        publish.video_size, publish.chunk_size, publish.chunks = size, chunk, count
        upload_url = (
            f"{request.origin}/upload/video/?upload_id={publish.publish_id}"
            f"&upload_token={secrets.token_hex(4)}"
        )
        return {"publish_id": publish.publish_id, "upload_url": upload_url}

    def _check_url(self, url: str) -> None:
        if not url.startswith(self.verified_prefixes):
            raise TikTokError(
                403, "url_ownership_unverified", "The URL's domain or prefix is not verified."
            )

    def _chunk(self, request: Request) -> Response:
        publish = self.publishes.get(request.param("upload_id") or "")
        if (
            request.method != "PUT"
            or publish is None
            or publish.kind != "video"
            or not publish.chunks
        ):
            return Response(404)
        try:
            span, total = request.headers["content-range"].removeprefix("bytes ").split("/")
            first, last = (int(x) for x in span.split("-"))
        except (KeyError, ValueError):
            return Response(400)
        index = publish.chunks_received
        last_chunk = index == publish.chunks - 1
        expected_first = index * publish.chunk_size
        expected_last = (
            publish.video_size - 1 if last_chunk else expected_first + publish.chunk_size - 1
        )
        if (
            int(total) != publish.video_size
            or (first, last) != (expected_first, expected_last)
            or len(request.body) != last - first + 1
            or not request.headers.get("content-type", "").startswith("video/")
        ):
            return Response(416 if first != expected_first else 400)
        publish.received += request.body
        publish.chunks_received += 1
        return Response(201 if last_chunk else 206)

    def _content_init(self, request: Request) -> dict[str, Any]:
        self._count_init()
        body = request.json() or {}
        info, source = body.get("post_info"), body.get("source_info") or {}
        if body.get("post_mode") != "DIRECT_POST" or body.get("media_type") != "PHOTO":
            raise TikTokError(400, "invalid_params", "post_mode DIRECT_POST and media_type PHOTO")
        self._check_post_info(info, PHOTO_INFO)
        assert isinstance(info, dict)
        if len(info.get("title", "")) > 90 or len(info.get("description", "")) > 4000:
            raise TikTokError(400, "invalid_params", "title <= 90, description <= 4000")
        images = source.get("photo_images") or []
        if source.get("source") != "PULL_FROM_URL" or not 1 <= len(images) <= 35:
            raise TikTokError(400, "invalid_params", "1 to 35 photo_images pulled from URLs")
        if not 0 <= source.get("photo_cover_index", -1) < len(images):
            raise TikTokError(400, "invalid_params", "photo_cover_index out of range")
        for url in images:
            self._check_url(url)
        return {"publish_id": self._new_publish("p_pub_url", info, "photo").publish_id}

    def _status(self, request: Request) -> dict[str, Any]:
        publish = self.publishes.get((request.json() or {}).get("publish_id", ""))
        if publish is None:
            raise TikTokError(400, "invalid_publish_id", "publish_id not found")
        if not publish.uploaded:
            return {"status": "PROCESSING_UPLOAD", "uploaded_bytes": len(publish.received)}
        publish.polls += 1
        if publish.polls <= self.processing_polls:
            return {"status": "PROCESSING_UPLOAD", "uploaded_bytes": len(publish.received)}
        if self.fail_reason:
            return {
                "status": "FAILED",
                "fail_reason": self.fail_reason,
                "publicaly_available_post_id": [],
            }
        if publish.post_id is None and publish.post_info["privacy_level"] == "PUBLIC_TO_EVERYONE":
            publish.post_id = str(next(self._ids))
            text = publish.post_info.get("title" if publish.kind == "video" else "description", "")
            self.videos.insert(
                0,
                {
                    "id": publish.post_id,
                    "create_time": int(time.time()),
                    "title": text,
                    "video_description": text,
                    "share_url": f"https://www.tiktok.com/@brand.official/video/{publish.post_id}",
                    "like_count": 10,
                    "comment_count": 2,
                    "share_count": 1,
                    "view_count": 300,
                },
            )
        public = [int(publish.post_id)] if publish.post_id else []
        return {"status": "PUBLISH_COMPLETE", "publicaly_available_post_id": public}
