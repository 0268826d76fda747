"""The values a connector declares and exchanges: capabilities, limits, OAuth metadata,
credentials, posts, media, problems, metrics. No behaviour beyond checking them, so that
validation, OAuth and the :class:`~agency.connector.base.Connector` itself all build on it.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

import httpx

HASHTAG = re.compile(r"(?:^|(?<=\s))#(\w+)", re.UNICODE)


class Capability(StrEnum):
    PUBLISH = "publish"
    FIND_PUBLISHED = "find_published"
    DELETE = "delete"
    POST_METRICS = "post_metrics"
    ACCOUNT_METRICS = "account_metrics"
    COMMENTS = "comments"
    # Posts of others that name the account, outside its own posts' threads (``mentions``).
    MENTIONS = "mentions"
    # The account's private conversations, read and answered privately (``private_messages``).
    PRIVATE_MESSAGES = "private_messages"
    REPLY = "reply"
    HIDE_COMMENT = "hide_comment"
    DELETE_COMMENT = "delete_comment"
    FIRST_COMMENT = "first_comment"
    IDEMPOTENCY_KEY = "idempotency_key"
    REVOKE = "revoke"  # disconnecting gives the access back at the network
    # Media can be uploaded before the post (``stage_media``), which then only names them.
    STAGE_MEDIA = "stage_media"


class AuthKind(StrEnum):
    OAUTH2 = "oauth2"  # a fixed authorization server (X, Meta, LinkedIn, Google...)
    OAUTH2_PER_INSTANCE = "oauth2_per_instance"  # register an app on each server (Mastodon)
    APP_PASSWORD = "app_password"  # identifier + app password session (Bluesky)


@dataclass(frozen=True)
class OAuthMetadata:
    """How to run the authorization-code flow against the network."""

    authorize_url: str
    token_url: str
    scopes: tuple[str, ...]
    pkce: bool = True
    # RFC 6749 client authentication at the token endpoint.
    token_auth_method: Literal["client_secret_basic", "client_secret_post", "none"] = (
        "client_secret_post"
    )
    scope_separator: str = " "
    extra_authorize_params: Mapping[str, str] = field(default_factory=dict)
    refreshable: bool = True
    # What the network calls the client id in its requests (TikTok says "client_key").
    client_id_param: str = "client_id"
    # RFC 7009's revocation endpoint, when the network has one that ends this grant alone;
    # it takes the client authentication of the token endpoint.
    revocation_url: str | None = None
    # How the revocation request's parameters travel: RFC 7009's form encoding, or a JSON
    # object for servers that take both and publish only the JSON shape (Mastodon's
    # description). The token request is always a form, as RFC 6749 section 4.1.3 says.
    revocation_request_body: Literal["form", "json"] = "form"


@dataclass(frozen=True)
class MediaRule:
    """Accepted media of one kind (image, video, gif)."""

    mime_types: frozenset[str]
    max_bytes: int
    max_width: int | None = None
    max_height: int | None = None
    max_duration_seconds: float | None = None
    min_duration_seconds: float | None = None


@dataclass(frozen=True)
class Limits:
    """A network's content rules, as the composer needs them."""

    max_text_length: int
    # How the network counts: "characters" (code points), "graphemes", "utf16",
    # "x-weighted" (X's weighted count: URLs 23, emoji and CJK 2), "bytes".
    text_counting: str = "characters"
    max_media: int = 0
    media: Mapping[str, MediaRule] = field(default_factory=dict)
    mixed_media: bool = False  # images and a video in one post
    requires_media: bool = False
    max_hashtags: int | None = None
    link_field: bool = False  # a link is a separate field (a card), not just text
    max_posts_per_day: int | None = None  # the network's own publishing quota (rolling 24 h)
    # A comment's (and so a first comment's) limit, counted the same way; None: as a post.
    max_comment_length: int | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Problem:
    """One reason a variant cannot be published; ``field`` points into the variant."""

    field: str
    message: str
    code: str


@dataclass
class Credentials:
    """A channel's secrets, decrypted only for the duration of a call."""

    access_token: str
    refresh_token: str | None = None
    expires_at: datetime | None = None
    scopes: tuple[str, ...] = ()
    # Network specifics: a Page token, the PDS URL and DID, the Mastodon instance...
    extra: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:  # never print a secret, even in a traceback
        return f"Credentials(expires_at={self.expires_at!r}, scopes={self.scopes!r})"


AccountKind = Literal["user", "page", "organization", "channel", "business"]


@dataclass(frozen=True)
class Account:
    """An account a grant reaches: the user's own, or a Page/organisation they manage."""

    account_id: str
    name: str
    handle: str | None = None
    avatar_url: str | None = None
    kind: AccountKind = "user"
    # When the account has its own token (a Facebook Page), the credentials to store.
    credentials: Credentials | None = None


class MediaSource(ABC):
    """Where a media file's bytes come from (local disk, S3, memory)."""

    @abstractmethod
    def chunks(self, size: int = 1 << 20) -> AsyncIterator[bytes]:
        """The bytes, ``size`` at a time (an async generator)."""

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])


class BytesSource(MediaSource):
    def __init__(self, data: bytes) -> None:
        self._data = data

    async def chunks(self, size: int = 1 << 20) -> AsyncIterator[bytes]:
        for start in range(0, len(self._data), size):
            yield self._data[start : start + size]


@dataclass(frozen=True)
class Media:
    kind: Literal["image", "video", "gif"]
    mime_type: str
    size: int
    width: int | None = None
    height: int | None = None
    duration_seconds: float | None = None
    alt_text: str | None = None
    # Networks that fetch media themselves (Instagram, Threads) need a public URL.
    public_url: str | None = None
    source: MediaSource | None = None
    # What the network gave back for this file uploaded ahead (``Connector.stage_media``):
    # ``publish`` names it instead of uploading the file again.
    staged: str | None = None


@dataclass(frozen=True)
class StagedMedia:
    """A media file uploaded ahead of its post: the network's reference, until it expires
    (the network drops a file that no post names after a while)."""

    reference: str
    expires_at: datetime


@dataclass(frozen=True)
class Post:
    """One variant, ready to go out on one channel."""

    text: str
    media: tuple[Media, ...] = ()
    link: str | None = None
    title: str | None = None  # YouTube, Pinterest
    first_comment: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    # Sent where the network deduplicates on it (Mastodon's Idempotency-Key).
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Published:
    post_id: str
    url: str | None = None
    published_at: datetime | None = None


@dataclass(frozen=True)
class PostMetrics:
    impressions: int | None = None
    reach: int | None = None
    likes: int | None = None
    comments: int | None = None
    shares: int | None = None
    saves: int | None = None
    clicks: int | None = None
    video_views: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AccountMetrics:
    followers: int | None = None
    following: int | None = None
    posts: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Comment:
    comment_id: str
    post_id: str
    text: str
    author_id: str | None = None
    author_name: str | None = None
    created_at: datetime | None = None
    parent_id: str | None = None
    hidden: bool = False


@dataclass(frozen=True)
class ConnectorContext:
    """What one call needs: the shared client, the base URL, the channel's credentials."""

    http: httpx.AsyncClient
    base_url: str
    credentials: Credentials | None = None
    # The network's client (app) id, for the few calls that need it outside OAuth.
    client_id: str | None = None
    # The OAuth endpoints as configured (tests and proxies override the network's own).
    oauth: OAuthMetadata | None = None


def hashtags(text: str) -> Sequence[str]:
    return HASHTAG.findall(text)


def files_missing(post: Post, words: str, code: str = "no_file") -> list[Problem]:
    """A problem for each media file of ``post`` whose bytes are not at hand."""
    return [
        Problem(f"media.{index}", words, code)
        for index, media in enumerate(post.media)
        if media.source is None and media.staged is None
    ]


def urls_missing(post: Post, words: str, code: str = "media_public_url") -> list[Problem]:
    """A problem for each media file of ``post`` without a public URL to fetch it from."""
    return [
        Problem(f"media.{index}", words, code)
        for index, media in enumerate(post.media)
        if not media.public_url
    ]
