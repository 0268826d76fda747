"""The TikTok connector: Content Posting API direct posts (one video, or up to 35 photos).

A post goes out in steps: ask what the creator may post (privacy levels, longest video),
open the post, send the video in chunks (or let TikTok pull it from a verified address),
then poll the post's status until TikTok has published it or said why not. TikTok gives
third parties no comment API and no way to delete: neither is declared.

Disconnecting revokes the user access token (``POST /v2/oauth/revoke/`` with the app's
client key and secret, oauth-revoke-a-user-access-token), which ends the app's
authorization by that user; the endpoint takes access tokens only.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from agency.connector import (
    Account,
    AccountMetrics,
    Capability,
    Connector,
    ConnectorError,
    InvalidContent,
    Limits,
    Media,
    MediaRule,
    OAuthMetadata,
    OutcomeUnknown,
    Post,
    PostMetrics,
    Problem,
    Published,
    Refused,
)
from agency.connector.http import call, json_body
from agency_connectors.matching import same_text
from agency_connectors.tiktok.errors import code_error, describe, envelope_error, failure
from agency_connectors.tiktok.upload import MB, ChunkPlan, send_chunks

DOCS = "https://developers.tiktok.com/doc/"
PRIVACY_LEVELS = ("PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "SELF_ONLY")
STILL_WORKING = frozenset({"PROCESSING_UPLOAD", "PROCESSING_DOWNLOAD"})
DONE = frozenset({"PUBLISH_COMPLETE", "SEND_TO_USER_INBOX"})


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class TikTokConnector(Connector):
    network = "tiktok"
    display_name = "TikTok"
    default_base_url = "https://open.tiktokapis.com"
    oauth = OAuthMetadata(
        authorize_url="https://www.tiktok.com/v2/auth/authorize/",
        token_url="https://open.tiktokapis.com/v2/oauth/token/",
        scopes=(
            "user.info.basic",
            "user.info.profile",
            "user.info.stats",
            "video.list",
            "video.publish",
        ),
        scope_separator=",",
        client_id_param="client_key",
        # Login Kit for Web takes no PKCE parameters; the token endpoint wants a code_verifier
        # "for mobile and desktop app only" (oauth-user-access-token-management). A challenge
        # TikTok does not expect can only make it refuse the code.
        pkce=False,
        revocation_url="https://open.tiktokapis.com/v2/oauth/revoke/",
    )
    limits = Limits(
        max_text_length=2200,
        text_counting="utf16",
        max_media=35,
        requires_media=True,
        media={
            "video": MediaRule(
                frozenset({"video/mp4", "video/quicktime", "video/webm"}),
                max_bytes=4 * 1024 * MB,
                max_duration_seconds=600,
                min_duration_seconds=3,
            ),
            "image": MediaRule(frozenset({"image/jpeg", "image/webp"}), max_bytes=20 * MB),
        },
        notes=(
            "One video, or 1 to 35 photos; photos are fetched by TikTok from a verified domain.",
            "The creator's own longest video and privacy levels are asked before each post.",
            "Until TikTok audits the app, posts can only be private (SELF_ONLY).",
            "TikTok offers no comments API and no deletion to third-party apps.",
        ),
    )
    capabilities = frozenset(
        {
            Capability.REVOKE,
            Capability.PUBLISH,
            Capability.FIND_PUBLISHED,
            Capability.POST_METRICS,
            Capability.ACCOUNT_METRICS,
        }
    )
    reference_docs = (
        f"{DOCS}login-kit-web",
        f"{DOCS}oauth-user-access-token-management",
        "https://developers.tiktok.com/docs/en/oauth-revoke-a-user-access-token",
        f"{DOCS}content-posting-api-reference-direct-post",
        f"{DOCS}content-posting-api-media-transfer-guide",
        f"{DOCS}content-posting-api-reference-photo-post",
        f"{DOCS}content-posting-api-reference-get-video-status",
        f"{DOCS}tiktok-api-v2-get-user-info",
        f"{DOCS}tiktok-api-v2-video-list",
        f"{DOCS}tiktok-api-v2-video-query",
        f"{DOCS}tiktok-api-v2-error-handling",
    )

    upload_chunk_size: ClassVar[int] = 10 * MB
    poll_interval_seconds: ClassVar[float] = 5.0
    max_polls: ClassVar[int] = 36  # three minutes; moderation usually takes under one

    @classmethod
    def count_text(cls, text: str) -> int:
        return utf16_length(text)  # "The maximum length is 2200 in UTF-16 runes"

    @classmethod
    def network_problems(cls, post: Post) -> list[Problem]:
        problems = []
        if [m for m in post.media if m.kind == "video"] and len(post.media) > 1:
            problems.append(Problem("media", "TikTok takes one video per post.", "too_many_videos"))
        privacy = post.options.get("privacy_level")
        if privacy is not None and privacy not in PRIVACY_LEVELS:
            problems.append(
                Problem(
                    "options.privacy_level",
                    f"Privacy must be one of {', '.join(PRIVACY_LEVELS)}.",
                    "bad_privacy",
                )
            )
        return problems

    # -- HTTP ----------------------------------------------------------------------------------

    async def _api(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        fields: str | None = None,
        publishing: bool = False,
    ) -> dict[str, Any]:
        codes: list[tuple[str, str]] = []

        def words(response: httpx.Response) -> str | None:
            with contextlib.suppress(ValueError):
                codes.append(envelope_error(response.json()))
            return describe(response)

        headers = {
            "Authorization": f"Bearer {self.credentials.access_token}",
            "Content-Type": "application/json; charset=UTF-8",
        }
        params = {"fields": fields} if fields else None
        url = f"{self.base_url}{path}"
        try:
            response = await call(
                lambda: self.http.request(method, url, headers=headers, params=params, json=body),
                publishing=publishing,
                describe=words,
            )
        except ConnectorError as exc:
            refined = code_error(*codes[0], exc.status) if codes else None
            if refined is None:
                raise
            raise refined from exc
        answer = json_body(response)
        code, message = envelope_error(answer)
        if code != "ok":  # an error envelope on a 2xx answer
            raise code_error(code, message, response.status_code) or failure(code)
        data: dict[str, Any] = answer.get("data") or {}
        return data

    # -- connecting ----------------------------------------------------------------------------

    async def _user(self, fields: str) -> dict[str, Any]:
        data = await self._api("GET", "/v2/user/info/", fields=fields)
        user: dict[str, Any] = data.get("user") or {}
        return user

    async def revoke(self, client_id: str | None, client_secret: str | None) -> None:
        from agency.connector.oauth import revoke_credentials

        await revoke_credentials(self, client_id, client_secret, refresh_token_too=False)

    async def identify(self) -> list[Account]:
        user = await self._user("open_id,union_id,avatar_url,display_name,username")
        return [
            Account(
                account_id=user["open_id"],
                name=user.get("display_name") or user.get("username") or user["open_id"],
                handle=user.get("username"),
                avatar_url=user.get("avatar_url"),
                kind="user",
            )
        ]

    # -- publishing ----------------------------------------------------------------------------

    @classmethod
    def delivery_problems(cls, post: Post) -> list[Problem]:
        words = "TikTok fetches photos itself: the photo needs a public address."
        return [
            Problem(f"media.{index}", words, "media_needs_url")
            for index, media in enumerate(post.media)
            if media.kind == "image" and not media.public_url
        ]

    async def publish(self, post: Post) -> Published:
        self.check_publishable(post)
        creator = await self._api("POST", "/v2/post/publish/creator_info/query/")
        privacy = self._privacy(post, creator)
        if post.media[0].kind == "video":
            publish_id = await self._post_video(post, post.media[0], creator, privacy)
        else:
            publish_id = await self._post_photos(post, creator, privacy)
        return await self._wait(publish_id, creator.get("creator_username"))

    def _privacy(self, post: Post, creator: dict[str, Any]) -> str:
        offered = creator.get("privacy_level_options") or []
        wanted = post.options.get("privacy_level") or (
            "PUBLIC_TO_EVERYONE" if "PUBLIC_TO_EVERYONE" in offered else "SELF_ONLY"
        )
        if wanted not in offered:
            words = (
                f"This account offers {', '.join(offered) or 'no'} privacy levels, not {wanted}."
            )
            raise InvalidContent([Problem("options.privacy_level", words, "privacy_not_offered")])
        return str(wanted)

    def _switches(self, post: Post, creator: dict[str, Any], *names: str) -> dict[str, bool]:
        # A switch the creator turned off in TikTok stays off, whatever the post asks.
        return {
            f"disable_{name}": bool(
                post.options.get(f"disable_{name}") or creator.get(f"{name}_disabled")
            )
            for name in names
        }

    async def _post_video(
        self, post: Post, video: Media, creator: dict[str, Any], privacy: str
    ) -> str:
        longest = creator.get("max_video_post_duration_sec")
        if video.duration_seconds and longest and video.duration_seconds > longest:
            words = f"This account posts videos of at most {longest} s on TikTok."
            raise InvalidContent([Problem("media.0", words, "video_too_long")])
        post_info: dict[str, Any] = {
            "title": post.text,
            "privacy_level": privacy,
            **self._switches(post, creator, "comment", "duet", "stitch"),
            **{
                k: bool(post.options[k])
                for k in ("is_aigc", "brand_content_toggle", "brand_organic_toggle")
                if k in post.options
            },
        }
        plan: ChunkPlan | None = None
        source: dict[str, Any]
        if video.source is None and video.public_url:
            source = {"source": "PULL_FROM_URL", "video_url": video.public_url}
        else:
            plan = ChunkPlan.for_size(video.size, self.upload_chunk_size)
            source = {
                "source": "FILE_UPLOAD",
                "video_size": plan.video_size,
                "chunk_size": plan.chunk_size,
                "total_chunk_count": plan.total_chunk_count,
            }
        # Nothing is published until the bytes are in, so a lost answer here is not "unknown".
        data = await self._api(
            "POST",
            "/v2/post/publish/video/init/",
            body={"post_info": post_info, "source_info": source},
        )
        if plan is not None:
            await send_chunks(self.http, data["upload_url"], video, plan)
        return str(data["publish_id"])

    async def _post_photos(self, post: Post, creator: dict[str, Any], privacy: str) -> str:
        post_info: dict[str, Any] = {
            "description": post.text,
            "privacy_level": privacy,
            "auto_add_music": bool(post.options.get("auto_add_music", True)),
            **self._switches(post, creator, "comment"),
        }
        if post.title:
            post_info["title"] = post.title[:90]
        body = {
            "post_info": post_info,
            "source_info": {
                "source": "PULL_FROM_URL",
                "photo_cover_index": int(post.options.get("photo_cover_index", 0)),
                "photo_images": [m.public_url for m in post.media],
            },
            "post_mode": "DIRECT_POST",
            "media_type": "PHOTO",
        }
        # TikTok starts pulling the photos at once: a lost answer may mean a post.
        data = await self._api("POST", "/v2/post/publish/content/init/", body=body, publishing=True)
        return str(data["publish_id"])

    async def _wait(self, publish_id: str, username: str | None) -> Published:
        """Poll the status until TikTok published the post or said why not."""
        for attempt in range(self.max_polls):
            if attempt:
                await asyncio.sleep(self.poll_interval_seconds)
            data = await self._api(
                "POST", "/v2/post/publish/status/fetch/", body={"publish_id": publish_id}
            )
            status = data.get("status")
            if status == "FAILED":
                raise failure(str(data.get("fail_reason") or "unknown"))
            if status in DONE:
                # Public posts get their id once moderated; private ones keep the publish id.
                public = [str(i) for i in data.get("publicaly_available_post_id") or []]
                if public and username:
                    url = f"https://www.tiktok.com/@{username}/video/{public[0]}"
                    return Published(public[0], url, datetime.now(UTC))
                return Published(public[0] if public else publish_id, None, datetime.now(UTC))
            if status not in STILL_WORKING:
                break
        raise OutcomeUnknown(
            "TikTok is still processing the post; it will be checked again before any retry."
        )

    async def find_published(self, post: Post, since: datetime) -> Published | None:
        # Lists the account's public videos, newest first.
        data = await self._api(
            "POST",
            "/v2/video/list/",
            fields="id,create_time,title,video_description,share_url",
            body={"max_count": 20},
        )
        for video in data.get("videos") or []:
            created = datetime.fromtimestamp(int(video.get("create_time", 0)), UTC)
            if created < since:
                continue
            caption = video.get("video_description") or video.get("title") or ""
            if same_text(post.text, caption):
                return Published(str(video["id"]), video.get("share_url"), created)
        return None

    # -- metrics -------------------------------------------------------------------------------

    async def post_metrics(self, post_id: str) -> PostMetrics:
        data = await self._api(
            "POST",
            "/v2/video/query/",
            fields="id,like_count,comment_count,share_count,view_count",
            body={"filters": {"video_ids": [post_id]}},
        )
        videos = data.get("videos") or []
        if not videos:
            raise Refused(
                "TikTok does not know this video (deleted, private or not this account's).",
                status=404,
            )
        video = videos[0]
        return PostMetrics(
            likes=video.get("like_count"),
            comments=video.get("comment_count"),
            shares=video.get("share_count"),
            video_views=video.get("view_count"),
            raw=video,
        )

    async def account_metrics(self) -> AccountMetrics:
        user = await self._user("follower_count,following_count,likes_count,video_count")
        return AccountMetrics(
            followers=user.get("follower_count"),
            following=user.get("following_count"),
            posts=user.get("video_count"),
            raw=user,
        )
