from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from agency.kernel.db import Base, Choice, IdMixin, TimestampMixin
from agency.kernel.secrets import Encrypted
from agency.kernel.tenancy import TenantMixin


class ChannelHealth(StrEnum):
    OK = "ok"
    EXPIRING = "expiring"
    NEEDS_RECONNECT = "needs_reconnect"
    REVOKED = "revoked"


class ConnectionStatus(StrEnum):
    PENDING = "pending"  # waiting for the network's authorization
    AWAITING_SELECTION = "awaiting_selection"  # authorized: choose the accounts
    COMPLETED = "completed"
    FAILED = "failed"


class Channel(IdMixin, TenantMixin, TimestampMixin, Base):
    """One social account of a brand on one network."""

    __tablename__ = "channels"
    __tenant_indexes__ = (
        Index("uq_channels_account", "agency_id", "brand_id", "network", "account_id", unique=True),
        # The scheduler's refresh claim runs across agencies, by expiry.
        Index("ix_channels_token_expires_at", "token_expires_at"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    network: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[str] = mapped_column(String(200))
    account_kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    handle: Mapped[str | None] = mapped_column(String(200))
    avatar_url: Mapped[str | None] = mapped_column(String(2000))
    # The server for networks with many (a Mastodon instance, a Bluesky PDS).
    server_url: Mapped[str | None] = mapped_column(String(500))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    token_expires_at: Mapped[datetime | None]
    refreshable: Mapped[bool] = mapped_column(default=False)
    # ok | expiring | needs_reconnect | revoked
    health: Mapped[str] = mapped_column(Choice(ChannelHealth), default=ChannelHealth.OK)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    health_changed_at: Mapped[datetime | None]
    last_refreshed_at: Mapped[datetime | None]
    connected_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    connected_at: Mapped[datetime]
    # The Credentials, encrypted; None once the channel is disconnected.
    credentials: Mapped[str | None] = mapped_column(Encrypted)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class Connection(IdMixin, TenantMixin, TimestampMixin, Base):
    """One attempt at connecting accounts: from the authorization URL to the channels."""

    __tablename__ = "channel_connections"

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    network: Mapped[str] = mapped_column(String(40))
    started_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    connect_link_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("connect_links.id", ondelete="SET NULL")
    )
    # pending | awaiting_selection | completed | failed
    status: Mapped[str] = mapped_column(
        Choice(ConnectionStatus, 30), default=ConnectionStatus.PENDING
    )
    state_hash: Mapped[str | None] = mapped_column(String(64))
    code_verifier: Mapped[str | None] = mapped_column(Encrypted)
    server_url: Mapped[str | None] = mapped_column(String(500))
    redirect_uri: Mapped[str | None] = mapped_column(String(2000))
    # Accounts the grant reaches, shown for picking (no secrets here)...
    accounts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # ...and their credentials until one is picked (encrypted, wiped once done).
    pending_credentials: Mapped[str | None] = mapped_column(Encrypted)
    channel_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(String(1000))
    expires_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    # Where the browser goes back with the outcome (the frontend), if the starter said.
    return_url: Mapped[str | None] = mapped_column(String(2000))


class ConnectLink(IdMixin, TenantMixin, TimestampMixin, Base):
    """An expiring link a client's admin follows to grant access without an agency login."""

    __tablename__ = "connect_links"

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    network: Mapped[str] = mapped_column(String(40))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(String(500))
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    used_at: Mapped[datetime | None]
    # Where the client's browser goes back with the outcome; None: a page of ours says it.
    return_url: Mapped[str | None] = mapped_column(String(2000))


class OAuthApp(IdMixin, TimestampMixin, Base):
    """The agency software's app on one server of a per-instance network (Mastodon).

    Not tenant data: one registration per server and redirect URI serves every agency.
    """

    __tablename__ = "oauth_apps"
    __table_args__ = (UniqueConstraint("network", "server_url", "redirect_uri"),)

    network: Mapped[str] = mapped_column(String(40))
    server_url: Mapped[str] = mapped_column(String(500))
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    client_id: Mapped[str] = mapped_column(String(500))
    client_secret: Mapped[str] = mapped_column(Encrypted)
