"""Pinterest (API v5): Pins on a board the post names, with their analytics.

A Pin needs one image or one video, and a board: the composer passes the board's id as
``post.options["board_id"]`` (and may add ``board_section_id``). The post's text becomes the
Pin's description, ``post.title`` its title and ``post.link`` its destination link. An
image goes by its public URL when it has one, else inline as base64.

A video goes the way Pinterest's guide to creating Pins shows
(https://developers.pinterest.com/docs/content/update/, and the description's ``/media``
operations): ``POST /media`` registers an upload and answers a ``media_id`` with an S3
``upload_url`` and its ``upload_parameters``; the file is POSTed there as a form
(:mod:`agency_connectors.s3_form`); ``GET /media/{media_id}`` says ``registered`` or
``processing`` until ``succeeded`` (or ``failed``), and the Pin names the media with
``source_type: video_id``. A video Pin needs a cover: ``options.cover_image_url`` (an image
Pinterest fetches) or ``options.cover_image_key_frame_time`` (the second of the video to
show; past the end, Pinterest takes the last frame), one of the two. The limits are those
of organic standard-width video Pins in
https://help.pinterest.com/en/business/article/pinterest-product-specs: .mp4, .mov or .m4v,
up to 2 GB, 4 seconds to 15 minutes, no wider than 1.91:1 and no taller than 1:2.

Pinterest's published description documents no PKCE parameter at the token endpoint, so
the connector runs the plain authorization-code flow with the app's secret (basic auth).

No ``REVOKE``: the description's ``POST /oauth/token/revoke`` takes system users' tokens
only (business access), not a user's grant to an app; the person removes the app in
Pinterest's settings.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

from agency.connector import (
    Account,
    AccountMetrics,
    AuthKind,
    Capability,
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
    Transient,
)
from agency_connectors.answers import bearer_call, count, network_words, parse_time
from agency_connectors.matching import same_text
from agency_connectors.s3_form import post_form

MB = 1 << 20
DIGITS = frozenset("0123456789")
MAX_TITLE = 100
MAX_LINK = 2048
MAX_ALT_TEXT = 500
# Organic standard-width video Pins (product specs, see the module docstring).
VIDEO = MediaRule(
    frozenset({"video/mp4", "video/quicktime", "video/x-m4v"}),
    max_bytes=2 * 1024 * MB,
    min_duration_seconds=4,
    max_duration_seconds=15 * 60,
)
WIDEST, TALLEST = 1.91, 0.5  # width / height
COVER_OPTIONS = ("cover_image_url", "cover_image_key_frame_time")
# Pinterest keeps analytics for the last 90 days.
ANALYTICS_DAYS = 90
PIN_METRICS = ("IMPRESSION", "SAVE", "PIN_CLICK", "OUTBOUND_CLICK", "TOTAL_COMMENTS")
ACCOUNT_METRICS = ("IMPRESSION", "ENGAGEMENT", "SAVE", "PIN_CLICK", "OUTBOUND_CLICK")


_words = network_words("Pinterest", "message")


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and set(value) <= DIGITS


def _summary(body: dict[str, Any]) -> dict[str, Any]:
    """The summary of the "all apps" split, whatever case the key comes in."""
    for key, split in body.items():
        if key.lower() == "all" and isinstance(split, dict):
            summary = split.get("summary_metrics")
            return summary if isinstance(summary, dict) else {}
    return {}


class PinterestConnector(Connector):
    network = "pinterest"
    display_name = "Pinterest"
    auth_kind = AuthKind.OAUTH2
    oauth = OAuthMetadata(
        authorize_url="https://www.pinterest.com/oauth/",
        token_url="https://api.pinterest.com/v5/oauth/token",
        scopes=("boards:read", "pins:read", "pins:write", "user_accounts:read"),
        pkce=False,
        token_auth_method="client_secret_basic",
        scope_separator=",",
    )
    default_base_url = "https://api.pinterest.com/v5"
    limits = Limits(
        max_text_length=800,  # the Pin's description
        max_media=1,
        media={
            "image": MediaRule(frozenset({"image/jpeg", "image/png"}), max_bytes=20 * MB),
            "video": VIDEO,
        },
        requires_media=True,
        link_field=True,
        notes=(
            "A Pin needs one image or one video, and a board (options.board_id).",
            "The text is the Pin's description (800 characters); the title takes 100.",
            "A video is an MP4, MOV or M4V of 4 seconds to 15 minutes, up to 2 GB, between "
            "1.91:1 (wide) and 1:2 (tall).",
            "A video Pin needs a cover: options.cover_image_url (a public image) or "
            "options.cover_image_key_frame_time (the second of the video to show).",
        ),
    )
    capabilities = frozenset(
        {
            Capability.PUBLISH,
            Capability.FIND_PUBLISHED,
            Capability.DELETE,
            Capability.POST_METRICS,
            Capability.ACCOUNT_METRICS,
        }
    )
    reference_docs = (
        "https://developers.pinterest.com/docs/getting-started/set-up-authentication-and-authorization/",
        "https://developers.pinterest.com/docs/api/v5/pins-create",
        "https://developers.pinterest.com/docs/content/update/",
        "https://developers.pinterest.com/docs/api/v5/media-create",
        "https://developers.pinterest.com/docs/api/v5/media-get",
        "https://help.pinterest.com/en/business/article/pinterest-product-specs",
        "https://developers.pinterest.com/docs/api/v5/pins-delete",
        "https://developers.pinterest.com/docs/api/v5/boards-list_pins",
        "https://developers.pinterest.com/docs/api/v5/pins-analytics",
        "https://developers.pinterest.com/docs/api/v5/user_account-get",
        "https://developers.pinterest.com/docs/api/v5/user_account-analytics",
        "https://github.com/pinterest/api-description/blob/main/v5/openapi.json",
    )

    # How long a Pin waits for Pinterest to process its video: five minutes.
    media_poll_seconds: ClassVar[float] = 5.0
    media_poll_attempts: ClassVar[int] = 60

    @classmethod
    def oauth_metadata(cls, base_url: str) -> OAuthMetadata:
        assert cls.oauth is not None
        return replace(cls.oauth, token_url=f"{base_url.rstrip('/')}/oauth/token")

    # -- content rules -------------------------------------------------------------------------

    @classmethod
    def network_problems(cls, post: Post) -> list[Problem]:
        problems: list[Problem] = []
        board = post.options.get("board_id")
        if board is None or board == "":
            problems.append(
                Problem("options.board_id", "Choose the Pinterest board to pin to.", "no_board")
            )
        elif not _is_id(board):
            problems.append(
                Problem("options.board_id", "The Pinterest board id is not valid.", "board_id")
            )
        section = post.options.get("board_section_id")
        if section is not None and not _is_id(section):
            problems.append(
                Problem(
                    "options.board_section_id",
                    "The board section id is not valid.",
                    "board_section_id",
                )
            )
        if post.title and len(post.title) > MAX_TITLE:
            problems.append(
                Problem(
                    "title",
                    f"The title is {len(post.title)} characters; the limit is {MAX_TITLE}.",
                    "title_too_long",
                )
            )
        if post.link and len(post.link) > MAX_LINK:
            problems.append(
                Problem("link", f"The link is longer than {MAX_LINK} characters.", "link_too_long")
            )
        problems += _video_problems(post)
        for index, media in enumerate(post.media):
            if media.alt_text and len(media.alt_text) > MAX_ALT_TEXT:
                problems.append(
                    Problem(
                        f"media.{index}",
                        f"The image description is longer than {MAX_ALT_TEXT} characters.",
                        "alt_text_too_long",
                    )
                )
        return problems

    @classmethod
    def delivery_problems(cls, post: Post) -> list[Problem]:
        """Checked when publishing: an image goes by URL or inline, a video only as its file
        (Pinterest takes no video URL)."""
        return [
            Problem(f"media.{index}", f"The {media.kind} file is not available to send.", "no_file")
            for index, media in enumerate(post.media)
            if media.source is None and (media.kind == "video" or media.public_url is None)
        ]

    # -- requests ----------------------------------------------------------------------------

    async def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        return await bearer_call(self, method, path, describe=_words, **kwargs)

    async def _object(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        body = await self._send(method, path, **kwargs)
        if not isinstance(body, dict):
            raise Refused("Pinterest answered without the expected data.")
        return body

    # -- connecting ------------------------------------------------------------------------------

    async def identify(self) -> list[Account]:
        me = await self._object("GET", "/user_account")
        return [
            Account(
                account_id=str(me.get("id") or me.get("username")),
                name=str(me.get("business_name") or me.get("username") or ""),
                handle=me.get("username"),
                avatar_url=me.get("profile_image"),
                kind="business" if me.get("account_type") == "BUSINESS" else "user",
            )
        ]

    # -- publishing ----------------------------------------------------------------------------

    async def publish(self, post: Post) -> Published:
        self.check_publishable(post)
        media = post.media[0]
        if media.kind == "video":
            source = await self._video_source(media, post.options)
        else:
            source = await _image_source(media)
        body = await self._object(
            "POST", "/pins", json=self.pin_body(post, source), publishing=True
        )
        pin_id = str(body["id"])
        return Published(
            pin_id,
            url=f"https://www.pinterest.com/pin/{pin_id}/",
            published_at=parse_time(body.get("created_at")),
        )

    @staticmethod
    def pin_body(post: Post, media_source: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "board_id": str(post.options["board_id"]),
            "description": post.text,
            "media_source": media_source,
        }
        optional = {
            "board_section_id": post.options.get("board_section_id"),
            "title": post.title,
            "link": post.link,
            "alt_text": post.media[0].alt_text,
        }
        body |= {key: value for key, value in optional.items() if value}
        return body

    async def _video_source(self, video: Media, options: Mapping[str, Any]) -> dict[str, Any]:
        """Upload ``video``, wait until Pinterest has processed it; the Pin's media source."""
        upload = await self._object("POST", "/media", json={"media_type": "video"})
        media_id, url = str(upload["media_id"]), upload.get("upload_url")
        fields = upload.get("upload_parameters")
        if not (isinstance(url, str) and isinstance(fields, dict)):
            raise Transient("Pinterest answered no place to upload the video; try again later.")
        form = {str(name): str(value) for name, value in fields.items() if value is not None}
        await post_form(self.http, url, form, video)
        await self._until_processed(media_id)
        source = {"source_type": "video_id", "media_id": media_id}
        return source | _cover(options)

    async def _until_processed(self, media_id: str) -> None:
        for attempt in range(self.media_poll_attempts):
            status = (await self._object("GET", f"/media/{media_id}")).get("status")
            if status == "succeeded":
                return
            if status == "failed":
                # The description's Media carries no reason: the status is all Pinterest says.
                words = "Pinterest could not process the video (its upload status is failed)."
                raise InvalidContent([Problem("media.0", words, "media_processing_failed")])
            if attempt + 1 < self.media_poll_attempts:
                await asyncio.sleep(self.media_poll_seconds)
        raise Transient("Pinterest is still processing the video; the Pin will be tried again.")

    async def find_published(self, post: Post, since: datetime) -> Published | None:
        """A Pin on the post's board, created since ``since``, with the same description."""
        board = post.options.get("board_id")
        if not _is_id(board):
            return None
        body = await self._object("GET", f"/boards/{board}/pins", params={"page_size": 100})
        for pin in body.get("items") or []:
            if not isinstance(pin, dict):
                continue
            created = parse_time(pin.get("created_at"))
            if created is not None and created < since:
                continue
            if same_text(post.text, str(pin.get("description") or "")):
                pin_id = str(pin["id"])
                return Published(
                    pin_id, url=f"https://www.pinterest.com/pin/{pin_id}/", published_at=created
                )
        return None

    async def delete(self, post_id: str) -> None:
        await self._send("DELETE", f"/pins/{post_id}")

    # -- metrics -------------------------------------------------------------------------------

    @staticmethod
    def _window() -> dict[str, str]:
        today = datetime.now(UTC).date()
        start: date = today - timedelta(days=ANALYTICS_DAYS - 1)
        return {"start_date": start.isoformat(), "end_date": today.isoformat()}

    async def post_metrics(self, post_id: str) -> PostMetrics:
        params = self._window() | {"metric_types": ",".join(PIN_METRICS), "app_types": "ALL"}
        summary = _summary(await self._object("GET", f"/pins/{post_id}/analytics", params=params))
        return PostMetrics(
            impressions=count(summary, "IMPRESSION"),
            comments=count(summary, "TOTAL_COMMENTS"),
            saves=count(summary, "SAVE"),
            clicks=count(summary, "OUTBOUND_CLICK"),
            raw=summary,
        )

    async def account_metrics(self) -> AccountMetrics:
        me = await self._object("GET", "/user_account")
        params = self._window() | {"metric_types": ",".join(ACCOUNT_METRICS)}
        summary = _summary(await self._object("GET", "/user_account/analytics", params=params))
        return AccountMetrics(
            followers=count(me, "follower_count"),
            following=count(me, "following_count"),
            posts=count(me, "pin_count"),
            raw={"account": me, "last_90_days": summary},
        )


def _cover(options: Mapping[str, Any]) -> dict[str, Any]:
    """The cover options the post gives (empty ones are not given)."""
    return {key: options[key] for key in COVER_OPTIONS if options.get(key) not in (None, "")}


def _video_problems(post: Post) -> list[Problem]:
    """A video needs one cover and a shape Pinterest takes."""
    videos = [(index, media) for index, media in enumerate(post.media) if media.kind == "video"]
    if not videos:
        return []
    problems: list[Problem] = []
    for index, video in videos:
        if video.width and video.height and not TALLEST <= video.width / video.height <= WIDEST:
            words = "Pinterest takes videos from 1.91:1 (wide) to 1:2 (tall)."
            problems.append(Problem(f"media.{index}", words, "video_aspect_ratio"))
    given = _cover(post.options)
    if not given:
        words = "A video Pin needs a cover: an image URL or the second of the video to show."
        problems.append(Problem("options.cover_image_url", words, "no_cover"))
    elif len(given) > 1:
        words = "Give the cover either as an image URL or as a second of the video, not both."
        problems.append(Problem("options.cover_image_url", words, "two_covers"))
    url = post.options.get("cover_image_url")
    if "cover_image_url" in given and not (
        isinstance(url, str) and url.startswith(("https://", "http://"))
    ):
        words = "The cover image URL must be a web address Pinterest can fetch."
        problems.append(Problem("options.cover_image_url", words, "cover_image_url"))
    second = post.options.get("cover_image_key_frame_time")
    if "cover_image_key_frame_time" in given and not (
        isinstance(second, int) and not isinstance(second, bool) and second >= 0
    ):
        words = "The cover's second of the video must be a whole number from 0."
        problems.append(
            Problem("options.cover_image_key_frame_time", words, "cover_image_key_frame_time")
        )
    return problems


async def _image_source(media: Media) -> dict[str, Any]:
    if media.public_url:
        return {"source_type": "image_url", "url": media.public_url}
    assert media.source is not None  # validate() said so
    data = base64.b64encode(await media.source.read()).decode("ascii")
    return {"source_type": "image_base64", "content_type": media.mime_type, "data": data}
