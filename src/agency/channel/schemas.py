from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Self

import msgspec

from agency.brand.schemas import NetworkName
from agency.channel.models import Channel, Connection, ConnectLink
from agency.kernel.schemas import Input, Output

ServerUrl = Annotated[
    str, msgspec.Meta(max_length=500, pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
]


class Health(StrEnum):
    OK = "ok"
    EXPIRING = "expiring"
    NEEDS_RECONNECT = "needs_reconnect"
    REVOKED = "revoked"


class ChannelOut(Output):
    id: uuid.UUID
    brand_id: uuid.UUID
    network: str
    account_id: str
    account_kind: str
    name: str
    handle: str | None
    avatar_url: str | None
    server_url: str | None
    scopes: list[str]
    token_expires_at: datetime | None
    refreshable: bool
    health: Health
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
            account_kind=c.account_kind,
            name=c.name,
            handle=c.handle,
            avatar_url=c.avatar_url,
            server_url=c.server_url,
            scopes=list(c.scopes),
            token_expires_at=c.token_expires_at,
            refreshable=c.refreshable,
            health=Health(c.health),
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


class LinkConnectionStart(Input):
    """What the client's admin sends when following a connect link (networks without OAuth)."""

    server_url: ServerUrl | None = None
    identifier: Annotated[str, msgspec.Meta(min_length=1, max_length=320)] | None = None
    app_password: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None


class AccountChoice(Output):
    account_id: str
    name: str
    handle: str | None
    kind: str
    avatar_url: str | None


class ConnectionOut(Output):
    id: uuid.UUID
    brand_id: uuid.UUID
    network: str
    status: str
    authorization_url: str | None
    accounts: list[AccountChoice]
    channel_ids: list[uuid.UUID]
    error: str | None
    expires_at: datetime

    @classmethod
    def of(cls, c: Connection, authorization_url: str | None = None) -> ConnectionOut:
        return cls(
            id=c.id,
            brand_id=c.brand_id,
            network=c.network,
            status=c.status,
            authorization_url=authorization_url,
            accounts=[AccountChoice(**a) for a in c.accounts],
            channel_ids=[uuid.UUID(i) for i in c.channel_ids],
            error=c.error,
            expires_at=c.expires_at,
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


class ConnectLinkOut(Output):
    id: uuid.UUID
    brand_id: uuid.UUID
    network: str
    note: str | None
    expires_at: datetime
    revoked_at: datetime | None
    used_at: datetime | None
    created_at: datetime

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
        )


class ConnectLinkCreated(ConnectLinkOut):
    """Shown once: the URL to send to the client."""

    url: str = ""


class ConnectLinkPage(Output):
    items: list[ConnectLinkOut]
    next_cursor: str | None = None


class NetworkOut(Output):
    network: str
    display_name: str
    auth_kind: str
    configured: bool
    capabilities: list[str]
    limits: dict[str, Any]
    scopes: list[str]
    pkce: bool


class NetworkList(Output):
    items: list[NetworkOut]
