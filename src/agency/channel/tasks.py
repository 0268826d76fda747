"""Proactive token refresh: renew before expiry rather than fail at publishing time."""

from __future__ import annotations

import contextlib
import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from agency.channel.repository import ChannelSweepRepository
from agency.channel.schemas import ChannelHealth
from agency.channel.service import EXPIRING_WARNING, ChannelService
from agency.connector.errors import ConnectorError
from agency.kernel.db import utcnow
from agency.kernel.jobs import enqueue, job
from agency.kernel.runtime import Runtime
from agency.kernel.scheduling import periodic
from agency.kernel.tenancy import Subject, bind_system, bind_tenant

SWEEP_EVERY = timedelta(minutes=5)
SWEEP_BATCH = 500

periodic("channel.sweep_tokens", every=SWEEP_EVERY)


@job("channel.sweep_tokens", max_retries=0)
async def sweep_tokens(session: AsyncSession, runtime: Runtime) -> None:
    """Across agencies: enqueue a refresh for tokens about to expire, flag the unrenewable."""
    now = utcnow()
    lead = timedelta(minutes=runtime.settings.connectors.refresh_lead_minutes)
    await bind_system(session)
    channels = ChannelSweepRepository(session)
    for agency_id, channel_id in await channels.due_for_refresh(now + lead, SWEEP_BATCH):
        enqueue("channel.refresh", str(agency_id), str(channel_id))
    await channels.flag_expiring(
        now + EXPIRING_WARNING,
        now,
        "The access expires soon and cannot be renewed; reconnect the account.",
    )


@job("channel.refresh", max_retries=3)
async def refresh_channel(
    session: AsyncSession, runtime: Runtime, agency_id: str, channel_id: str
) -> None:
    agency = uuid.UUID(agency_id)
    await bind_tenant(session, agency)
    service = ChannelService(session, Subject(agency_id=agency, kind="system"), runtime)
    channel = await service.repo.get_for_update(uuid.UUID(channel_id))
    lead = timedelta(minutes=runtime.settings.connectors.refresh_lead_minutes)
    if (
        channel is None
        or not channel.refreshable
        or channel.health not in (ChannelHealth.OK, ChannelHealth.EXPIRING)
        or channel.token_expires_at is None
        or channel.token_expires_at >= utcnow() + lead  # another worker got there first
    ):
        return
    with contextlib.suppress(ConnectorError):
        # Unreachable network: last_error is saved (committed), the next sweep tries again.
        await service.refresh(channel)
