"""What every network connector declares (limits, OAuth metadata, capabilities) and does.

A connector instance is built per call from a :class:`ConnectorContext` (the shared httpx
client, the channel's decrypted credentials, the configured base URL): it holds no state
between calls and nothing global is mutated, so one class serves every tenant at once.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

import httpx

from agency.connector.errors import NotSupported

HASHTAG = re.compile(r"(?:^|(?<=\s))#(\w+)", re.UNICODE)


class Capability(StrEnum):
    PUBLISH = "publish"
    FIND_PUBLISHED = "find_published"
    DELETE = "delete"
    POST_METRICS = "post_metrics"
    ACCOUNT_METRICS = "account_metrics"
    COMMENTS = "comments"
    REPLY = "reply"
    HIDE_COMMENT = "hide_comment"
    DELETE_COMMENT = "delete_comment"
    FIRST_COMMENT = "first_comment"
    IDEMPOTENCY_KEY = "idempotency_key"
    REVOKE = "revoke"  # disconnecting gives the access back at the network


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


class Connector:
    """Base class of a network plugin.

    Subclasses set the class attributes and override the capabilities they list in
    ``capabilities``; anything else answers :class:`NotSupported`.
    """

    network: ClassVar[str]
    display_name: ClassVar[str]
    auth_kind: ClassVar[AuthKind] = AuthKind.OAUTH2
    oauth: ClassVar[OAuthMetadata | None] = None
    default_base_url: ClassVar[str]
    limits: ClassVar[Limits]
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    # Where the network documents what this connector calls, for the record.
    reference_docs: ClassVar[tuple[str, ...]] = ()
    # The code exchange gives a short-lived token that ``refresh`` turns into a long-lived
    # one (Meta): the channel is refreshed as soon as it is connected.
    refresh_after_connect: ClassVar[bool] = False

    def __init__(self, context: ConnectorContext) -> None:
        self.context = context
        self.http = context.http
        self.base_url = context.base_url.rstrip("/")

    @property
    def credentials(self) -> Credentials:
        if self.context.credentials is None:
            raise RuntimeError(f"{self.network}: this call needs the channel's credentials")
        return self.context.credentials

    # -- content rules -------------------------------------------------------------------------

    @classmethod
    def count_text(cls, text: str) -> int:
        """The length of ``text`` as the network counts it."""
        return len(text)

    @classmethod
    def validate(cls, post: Post) -> list[Problem]:
        """Every problem of ``post`` on this network (an empty list means publishable)."""
        from agency.connector.validation import common_problems

        return [*common_problems(cls, post), *cls.network_problems(post)]

    @classmethod
    def network_problems(cls, post: Post) -> list[Problem]:
        """Rules beyond :class:`Limits`; override to add the network's own.

        Validation reads the media as the API describes them (type, size, dimensions): their
        bytes and public URLs exist only when publishing, see :meth:`delivery_problems`."""
        return []

    @classmethod
    def delivery_problems(cls, post: Post) -> list[Problem]:
        """What the media must carry to go out (their bytes to upload, or a public URL the
        network fetches), checked when publishing; override where the network needs one."""
        return []

    @classmethod
    def check_publishable(cls, post: Post) -> None:
        """:class:`InvalidContent` listing every problem of ``post``, described or delivered."""
        from agency.connector.errors import InvalidContent

        problems = [*cls.validate(post), *cls.delivery_problems(post)]
        if problems:
            raise InvalidContent(problems)

    # -- connecting ------------------------------------------------------------------------------

    async def identify(self) -> list[Account]:
        """The accounts the credentials reach (the first is the user's own, if any)."""
        raise NotSupported(f"{self.display_name}: identify is not implemented")

    async def login(self, identifier: str, password: str) -> Credentials:
        """Open a session with an app password (``AuthKind.APP_PASSWORD`` networks)."""
        raise NotSupported(f"{self.display_name} does not sign in with a password")

    async def refresh(self, client_id: str | None, client_secret: str | None) -> Credentials:
        """New credentials from the refresh token; raises AuthExpired when that fails."""
        from agency.connector.oauth import refresh_credentials

        return await refresh_credentials(self, client_id, client_secret)

    async def revoke(self, client_id: str | None, client_secret: str | None) -> None:
        """Give the channel's access back at the network (``Capability.REVOKE``).

        By default RFC 7009 at ``OAuthMetadata.revocation_url``; :class:`NotSupported` when
        the network declares none.
        """
        from agency.connector.oauth import revoke_credentials

        await revoke_credentials(self, client_id, client_secret)

    async def register_app(
        self, client_name: str, redirect_uri: str, website: str | None
    ) -> tuple[str, str]:
        """Register an OAuth app on this server (``OAUTH2_PER_INSTANCE``): (id, secret)."""
        raise NotSupported(f"{self.display_name} needs no per-server app registration")

    @classmethod
    def oauth_metadata(cls, base_url: str) -> OAuthMetadata | None:
        """The OAuth endpoints; per-instance networks derive them from the server's URL."""
        return cls.oauth

    # -- capabilities ----------------------------------------------------------------------------

    async def publish(self, post: Post) -> Published:
        raise NotSupported(f"{self.display_name}: publishing is not supported")

    async def find_published(self, post: Post, since: datetime) -> Published | None:
        """A post of this account since ``since`` whose content matches ``post``, if any."""
        raise NotSupported(f"{self.display_name}: looking up recent posts is not supported")

    async def delete(self, post_id: str) -> None:
        raise NotSupported(f"{self.display_name}: deleting posts is not supported")

    async def post_metrics(self, post_id: str) -> PostMetrics:
        raise NotSupported(f"{self.display_name}: post metrics are not supported")

    async def account_metrics(self) -> AccountMetrics:
        raise NotSupported(f"{self.display_name}: account metrics are not supported")

    async def comments(self, post_id: str, since: datetime | None = None) -> list[Comment]:
        raise NotSupported(f"{self.display_name}: reading comments is not supported")

    async def reply(self, comment: Comment, text: str) -> Comment:
        """Answer ``comment``; a ``comment`` whose ``comment_id`` is its ``post_id`` names the
        post itself: the answer is then a comment on the post (a publication's first comment).
        """
        raise NotSupported(f"{self.display_name}: replying is not supported")

    async def hide_comment(self, comment: Comment, hidden: bool = True) -> None:
        raise NotSupported(f"{self.display_name}: hiding comments is not supported")

    async def delete_comment(self, comment: Comment) -> None:
        raise NotSupported(f"{self.display_name}: deleting comments is not supported")

    # -- description -----------------------------------------------------------------------------

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """What ``GET /networks`` shows of this connector."""
        from agency.connector.validation import describe_limits

        return {
            "network": cls.network,
            "display_name": cls.display_name,
            "auth_kind": str(cls.auth_kind),
            "capabilities": sorted(str(c) for c in cls.capabilities),
            "limits": describe_limits(cls.limits),
            "scopes": list(cls.oauth.scopes) if cls.oauth else [],
            "pkce": bool(cls.oauth and cls.oauth.pkce),
        }


def hashtags(text: str) -> Sequence[str]:
    return HASHTAG.findall(text)


def files_missing(post: Post, words: str, code: str = "no_file") -> list[Problem]:
    """A problem for each media file of ``post`` whose bytes are not at hand."""
    return [
        Problem(f"media.{index}", words, code)
        for index, media in enumerate(post.media)
        if media.source is None
    ]


def urls_missing(post: Post, words: str, code: str = "media_public_url") -> list[Problem]:
    """A problem for each media file of ``post`` without a public URL to fetch it from."""
    return [
        Problem(f"media.{index}", words, code)
        for index, media in enumerate(post.media)
        if not media.public_url
    ]
