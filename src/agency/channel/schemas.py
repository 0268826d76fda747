from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Self

import msgspec

from agency.brand.schemas import NetworkName
from agency.channel.models import Channel, Connection, ConnectLink
from agency.channel.models import ChannelHealth as ChannelHealth
from agency.channel.models import ConnectionStatus as ConnectionStatus
from agency.connector.types import AuthKind, Capability
from agency.kernel.schemas import Input, Output
from agency.webhook.events import EventType, payload_of

# Where the browser goes back after the network's consent screen, with the outcome in its
# query: an origin the agency allows (its login_origins, CORS origins or frontend).
ReturnUrl = Annotated[str, msgspec.Meta(max_length=2000, pattern=r"^https?://[^\s]+$")]
ServerUrl = Annotated[
    str, msgspec.Meta(max_length=500, pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
]


class AccountKind(StrEnum):
    """What kind of account a channel publishes as, in the network's terms."""

    USER = "user"
    PAGE = "page"
    ORGANIZATION = "organization"
    CHANNEL = "channel"
    BUSINESS = "business"


class ChannelOut(Output):
    id: uuid.UUID
    brand_id: uuid.UUID
    network: str
    account_id: str
    account_kind: AccountKind
    name: str
    handle: str | None
    avatar_url: str | None
    server_url: str | None
    scopes: list[str]
    token_expires_at: datetime | None
    refreshable: bool
    health: ChannelHealth
    last_error: str | None
    health_changed_at: datetime | None
    last_refreshed_at: datetime | None
    connected_at: datetime
    connected_by: uuid.UUID | None

    @classmethod
    def of(cls, c: Channel) -> ChannelOut:
        return cls(
            id=c.id,
            brand_id=c.brand_id,
            network=c.network,
            account_id=c.account_id,
            account_kind=AccountKind(c.account_kind),
            name=c.name,
            handle=c.handle,
            avatar_url=c.avatar_url,
            server_url=c.server_url,
            scopes=list(c.scopes),
            token_expires_at=c.token_expires_at,
            refreshable=c.refreshable,
            health=ChannelHealth(c.health),
            last_error=c.last_error,
            health_changed_at=c.health_changed_at,
            last_refreshed_at=c.last_refreshed_at,
            connected_at=c.connected_at,
            connected_by=c.connected_by,
        )


class ChannelPage(Output):
    items: list[ChannelOut]
    next_cursor: str | None = None


class ConnectionStart(Input):
    """Start connecting accounts of one network to a brand."""

    network: NetworkName
    # Mastodon: the server the account lives on. Bluesky: the PDS (default bsky.social).
    server_url: ServerUrl | None = None
    # Bluesky only: the handle (or e-mail) and an app password, never the main password.
    identifier: Annotated[str, msgspec.Meta(min_length=1, max_length=320)] | None = None
    app_password: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    return_url: ReturnUrl | None = None


class LinkConnectionStart(Input):
    """What the client's admin sends when following a connect link (networks without OAuth)."""

    server_url: ServerUrl | None = None
    identifier: Annotated[str, msgspec.Meta(min_length=1, max_length=320)] | None = None
    app_password: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None


class AccountChoice(Output):
    account_id: str
    name: str
    handle: str | None
    kind: AccountKind
    avatar_url: str | None


class ConnectionOut(Output):
    id: uuid.UUID
    brand_id: uuid.UUID
    network: str
    status: ConnectionStatus
    authorization_url: str | None
    accounts: list[AccountChoice]
    channel_ids: list[uuid.UUID]
    error: str | None
    expires_at: datetime
    return_url: str | None

    @classmethod
    def of(cls, c: Connection, authorization_url: str | None = None) -> ConnectionOut:
        return cls(
            id=c.id,
            brand_id=c.brand_id,
            network=c.network,
            status=ConnectionStatus(c.status),
            authorization_url=authorization_url,
            accounts=[msgspec.convert(a, AccountChoice) for a in c.accounts],
            channel_ids=[uuid.UUID(i) for i in c.channel_ids],
            error=c.error,
            expires_at=c.expires_at,
            return_url=c.return_url,
        )


class AccountSelection(Input):
    account_ids: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=200)]],
        msgspec.Meta(min_length=1, max_length=100),
    ]


class ConnectLinkCreate(Input):
    network: NetworkName
    expires_in_hours: Annotated[int, msgspec.Meta(ge=1, le=720)] | None = None
    note: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    return_url: ReturnUrl | None = None


class ConnectLinkOut(Output):
    id: uuid.UUID
    brand_id: uuid.UUID
    network: str
    note: str | None
    expires_at: datetime
    revoked_at: datetime | None
    used_at: datetime | None
    created_at: datetime
    return_url: str | None

    @classmethod
    def of(cls, link: ConnectLink) -> Self:
        return cls(
            id=link.id,
            brand_id=link.brand_id,
            network=link.network,
            note=link.note,
            expires_at=link.expires_at,
            revoked_at=link.revoked_at,
            used_at=link.used_at,
            created_at=link.created_at,
            return_url=link.return_url,
        )


class ConnectLinkCreated(ConnectLinkOut):
    """Shown once: the URL to send to the client."""

    url: str = ""


class ConnectLinkPage(Output):
    items: list[ConnectLinkOut]
    next_cursor: str | None = None


@payload_of(EventType.CHANNEL_NEEDS_RECONNECT)
class ReconnectNeeded(msgspec.Struct, kw_only=True):
    """A channel's token was refused and could not be renewed: connect the account again."""

    channel_id: uuid.UUID
    brand_id: uuid.UUID
    network: str
    name: str
    handle: str | None
    # The network's message, or ours.
    reason: str


class NetworkOut(Output):
    network: str
    display_name: str
    auth_kind: AuthKind
    configured: bool
    capabilities: list[Capability]
    limits: dict[str, Any]
    scopes: list[str]
    pkce: bool


class NetworkList(Output):
    items: list[NetworkOut]
