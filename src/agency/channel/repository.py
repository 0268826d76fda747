from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agency.channel.models import Channel, Connection, ConnectLink, OAuthApp
from agency.channel.schemas import ChannelHealth
from agency.kernel.repository import TenantRepository, one_of
from agency.kernel.system import SystemRepository
from agency.kernel.tenancy import bind_tenant


class ChannelRepository(TenantRepository[Channel]):
    model = Channel
    noun = "channel"

    def of_brand(self, brand_id: uuid.UUID, network: str | None = None) -> Select[Channel]:
        stmt = self.select().where(Channel.brand_id == brand_id)
        if network is not None:
            stmt = stmt.where(Channel.network == network)
        return stmt

    async def by_account(
        self, brand_id: uuid.UUID, network: str, account_id: str
    ) -> Channel | None:
        stmt = self.of_brand(brand_id, network).where(Channel.account_id == account_id)
        found: Channel | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found

    async def many(self, channel_ids: set[uuid.UUID]) -> dict[uuid.UUID, Channel]:
        if not channel_ids:
            return {}
        stmt = self.select().where(one_of(Channel.id, channel_ids))
        return {c.id: c for c in (await self.session.execute(stmt)).scalars().all()}

    async def get_for_update(self, channel_id: uuid.UUID) -> Channel | None:
        stmt = self.select().where(Channel.id == channel_id).with_for_update()
        found: Channel | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found

    async def relock(self, channel: Channel) -> None:
        """Take ``channel``'s row lock and read it again into the same object: what another
        job changed meanwhile (health, tokens, version) is seen before deciding. A job
        that committed before its network calls may not have bound its agency again: bound
        here, or RLS would hide the row (and the write after would match none)."""
        await bind_tenant(self.session, self.subject.agency_id)
        stmt = (
            self.select()
            .where(Channel.id == channel.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        await self.session.execute(stmt)


class ConnectionRepository(TenantRepository[Connection]):
    model = Connection
    noun = "connection"

    async def get_for_update(self, connection_id: uuid.UUID) -> Connection | None:
        stmt = self.select().where(Connection.id == connection_id).with_for_update()
        found: Connection | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found


class ConnectLinkRepository(TenantRepository[ConnectLink]):
    model = ConnectLink
    noun = "connect link"

    def of_brand(self, brand_id: uuid.UUID) -> Select[ConnectLink]:
        return self.select().where(ConnectLink.brand_id == brand_id)


class OAuthAppRepository:
    """Registrations on per-instance servers: shared by every agency, never tenant data."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def find(self, network: str, server_url: str, redirect_uri: str) -> OAuthApp | None:
        stmt = select(OAuthApp).where(
            OAuthApp.network == network,
            OAuthApp.server_url == server_url,
            OAuthApp.redirect_uri == redirect_uri,
        )
        found: OAuthApp | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found

    def add(self, app: OAuthApp) -> None:
        self.session.add(app)


def _live() -> ColumnElement[bool]:
    return and_(
        Channel.credentials.is_not(None),
        or_(Channel.health == ChannelHealth.OK, Channel.health == ChannelHealth.EXPIRING),
    )


class ChannelSweepRepository(SystemRepository):
    """Channels of every agency whose token runs out (the token sweep, as the system)."""

    async def due_for_refresh(
        self, before: datetime, limit: int
    ) -> Sequence[tuple[uuid.UUID, uuid.UUID]]:
        """``(agency_id, channel_id)`` of renewable tokens expiring before ``before``."""
        stmt = (
            select(Channel.agency_id, Channel.id)
            .where(_live(), Channel.refreshable.is_(True), Channel.token_expires_at < before)
            .order_by(Channel.token_expires_at)
            .limit(limit)
        )
        return [(row[0], row[1]) for row in (await self.session.execute(stmt)).all()]

    async def flag_expiring(self, before: datetime, now: datetime, message: str) -> None:
        """Healthy channels whose token cannot be renewed and runs out before ``before``."""
        await self.session.execute(
            update(Channel)
            .where(
                _live(),
                Channel.refreshable.is_(False),
                Channel.health == ChannelHealth.OK,
                Channel.token_expires_at < before,
            )
            .values(health=ChannelHealth.EXPIRING, health_changed_at=now, last_error=message)
        )
