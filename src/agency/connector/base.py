"""What every network connector declares (limits, OAuth metadata, capabilities) and does.

A connector instance is built per call from a :class:`ConnectorContext` (the shared httpx
client, the channel's decrypted credentials, the configured base URL): it holds no state
between calls and nothing global is mutated, so one class serves every tenant at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from agency.connector.errors import InvalidContent, NotSupported
from agency.connector.oauth import refresh_credentials, revoke_credentials
from agency.connector.types import (
    HASHTAG,
    Account,
    AccountKind,
    AccountMetrics,
    AuthKind,
    BytesSource,
    Capability,
    Comment,
    ConnectorContext,
    Credentials,
    Limits,
    Media,
    MediaRule,
    MediaSource,
    OAuthMetadata,
    Post,
    PostMetrics,
    Problem,
    Published,
    StagedMedia,
    files_missing,
    hashtags,
    urls_missing,
)
from agency.connector.validation import common_problems, describe_limits

# The values live in types.py; plugins and callers still find them here.
__all__ = [
    "HASHTAG",
    "Account",
    "AccountKind",
    "AccountMetrics",
    "AuthKind",
    "BytesSource",
    "Capability",
    "Comment",
    "Connector",
    "ConnectorContext",
    "Credentials",
    "Limits",
    "Media",
    "MediaRule",
    "MediaSource",
    "OAuthMetadata",
    "Post",
    "PostMetrics",
    "Problem",
    "Published",
    "StagedMedia",
    "files_missing",
    "hashtags",
    "urls_missing",
]


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
    # How long the network keeps a file uploaded ahead that no post names yet
    # (``Capability.STAGE_MEDIA``): media are staged at most half of it before their post.
    staged_media_lifetime: ClassVar[timedelta | None] = None

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
        return await refresh_credentials(self, client_id, client_secret)

    async def revoke(self, client_id: str | None, client_secret: str | None) -> None:
        """Give the channel's access back at the network (``Capability.REVOKE``).

        By default RFC 7009 at ``OAuthMetadata.revocation_url``; :class:`NotSupported` when
        the network declares none.
        """
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

    async def stage_media(self, media: Media) -> StagedMedia:
        """Upload ``media`` ahead of its post (``Capability.STAGE_MEDIA``): ``publish`` then
        takes a post whose media carry the reference in ``Media.staged`` and only names them,
        so the call at the post's time is one small request."""
        raise NotSupported(f"{self.display_name}: uploading media ahead is not supported")

    async def stage_post(self, post: Post) -> list[StagedMedia]:
        """Everything of ``post`` that can go up ahead (``Capability.STAGE_MEDIA``): one
        reference per media file, in order, that :meth:`publish` names when it finds them in
        ``Media.staged``. By default each file through :meth:`stage_media`; networks that
        make the post itself ahead (a container holding the caption, a private video) override
        this and check at :meth:`publish` that the post is still the one they staged."""
        return [await self.stage_media(media) for media in post.media]

    async def discard_staged(self, references: Sequence[str]) -> bool:
        """Delete uploads made ahead that no post will name (a post canceled or edited after
        staging), where the network has a call for it: ``True`` when deleted, ``False`` when
        the network only lets them expire (the default)."""
        return False

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

    async def mentions(self, since: datetime | None = None) -> list[Comment]:
        """Posts of others that name the account since ``since`` (``Capability.MENTIONS``),
        each its own conversation: a mention's ``post_id`` is its ``comment_id`` and it has no
        ``parent_id``, so an answer to it is a reply to that post."""
        raise NotSupported(f"{self.display_name}: reading mentions is not supported")

    async def private_messages(self, since: datetime | None = None) -> list[Comment]:
        """Messages written to the account privately since ``since``
        (``Capability.PRIVATE_MESSAGES``); a message's ``post_id`` names its conversation at
        the network. The account's own are among them (the inbox leaves those out)."""
        raise NotSupported(f"{self.display_name}: reading private messages is not supported")

    async def reply_privately(self, comment: Comment, text: str, idempotency_key: str) -> Comment:
        """Answer the private message ``comment`` privately, to its author only, with a key
        the network deduplicates on where it takes one."""
        raise NotSupported(f"{self.display_name}: private answers are not supported")

    async def reply(self, comment: Comment, text: str) -> Comment:
        """Answer ``comment``; a ``comment`` whose ``comment_id`` is its ``post_id`` names the
        post itself: the answer is then a comment on the post (a publication's first comment).
        """
        raise NotSupported(f"{self.display_name}: replying is not supported")

    async def reply_once(self, comment: Comment, text: str, idempotency_key: str) -> Comment:
        """:meth:`reply`, with a key the network deduplicates on where it takes one
        (``Capability.IDEMPOTENCY_KEY``): the inbox's answers go out through this. Networks
        without such a key answer as :meth:`reply` does; the inbox reconciles a reply in
        doubt by reading the thread before it sends it again."""
        return await self.reply(comment, text)

    async def hide_comment(self, comment: Comment, hidden: bool = True) -> None:
        raise NotSupported(f"{self.display_name}: hiding comments is not supported")

    async def delete_comment(self, comment: Comment) -> None:
        raise NotSupported(f"{self.display_name}: deleting comments is not supported")

    # -- description -----------------------------------------------------------------------------

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """What ``GET /networks`` shows of this connector."""
        return {
            "network": cls.network,
            "display_name": cls.display_name,
            "auth_kind": str(cls.auth_kind),
            "capabilities": sorted(str(c) for c in cls.capabilities),
            "limits": describe_limits(cls.limits),
            "scopes": list(cls.oauth.scopes) if cls.oauth else [],
            "pkce": bool(cls.oauth and cls.oauth.pkce),
        }
