"""Pinterest (API v5): Pins on a board the post names, with their analytics.

A Pin needs an image and a board: the composer passes the board's id as
``post.options["board_id"]`` (and may add ``board_section_id``). The post's text becomes the
Pin's description, ``post.title`` its title and ``post.link`` its destination link. The
image goes by its public URL when it has one, else inline as base64.

Pinterest's published description documents no PKCE parameter at the token endpoint, so
the connector runs the plain authorization-code flow with the app's secret (basic auth).

No ``REVOKE``: the description's ``POST /oauth/token/revoke`` takes system users' tokens
only (business access), not a user's grant to an app; the person removes the app in
Pinterest's settings.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

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
)
from agency_connectors.answers import bearer_call, count, network_words, parse_time
from agency_connectors.matching import same_text

MB = 1 << 20
DIGITS = frozenset("0123456789")
MAX_TITLE = 100
MAX_LINK = 2048
MAX_ALT_TEXT = 500
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
        },
        requires_media=True,
        link_field=True,
        notes=(
            "A Pin needs one image and a board (options.board_id).",
            "The text is the Pin's description (800 characters); the title takes 100.",
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
        "https://developers.pinterest.com/docs/api/v5/pins-delete",
        "https://developers.pinterest.com/docs/api/v5/boards-list_pins",
        "https://developers.pinterest.com/docs/api/v5/pins-analytics",
        "https://developers.pinterest.com/docs/api/v5/user_account-get",
        "https://developers.pinterest.com/docs/api/v5/user_account-analytics",
        "https://github.com/pinterest/api-description/blob/main/v5/openapi.json",
    )

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
        for index, media in enumerate(post.media):
            if media.public_url is None and media.source is None:
                problems.append(
                    Problem(f"media.{index}", "The image is not available to send.", "no_file")
                )
            if media.alt_text and len(media.alt_text) > MAX_ALT_TEXT:
                problems.append(
                    Problem(
                        f"media.{index}",
                        f"The image description is longer than {MAX_ALT_TEXT} characters.",
                        "alt_text_too_long",
                    )
                )
        return problems

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
        problems = self.validate(post)
        if problems:
            raise InvalidContent(problems)
        body = await self._object("POST", "/pins", json=await self.pin_body(post), publishing=True)
        pin_id = str(body["id"])
        return Published(
            pin_id,
            url=f"https://www.pinterest.com/pin/{pin_id}/",
            published_at=parse_time(body.get("created_at")),
        )

    @staticmethod
    async def pin_body(post: Post) -> dict[str, Any]:
        media = post.media[0]
        body: dict[str, Any] = {
            "board_id": str(post.options["board_id"]),
            "description": post.text,
            "media_source": await _media_source(media),
        }
        optional = {
            "board_section_id": post.options.get("board_section_id"),
            "title": post.title,
            "link": post.link,
            "alt_text": media.alt_text,
        }
        body |= {key: value for key, value in optional.items() if value}
        return body

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


async def _media_source(media: Media) -> dict[str, Any]:
    if media.public_url:
        return {"source_type": "image_url", "url": media.public_url}
    assert media.source is not None  # validate() said so
    data = base64.b64encode(await media.source.read()).decode("ascii")
    return {"source_type": "image_base64", "content_type": media.mime_type, "data": data}
