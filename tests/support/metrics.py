"""Published posts and metric answers written the way the collection writes them.

The collection's own path (:class:`agency.reporting.collecting.Collector`) records what a
network answered; these helpers give it posts to follow and answers to record without a
network, so that report tests can set exact figures.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import Subject, bind_tenant
from agency.publication.models import Publication, Variant
from agency.reporting.collecting import Collector, post_row
from agency.reporting.measures import Measured
from agency.reporting.models import ChannelMetric
from agency.reporting.repository import ChannelMetricRepository, PostMetricRepository


def _subject(agency_id: uuid.UUID) -> Subject:
    return Subject(agency_id=agency_id, kind="system")


async def published_variant(
    runtime: Runtime,
    agency_id: uuid.UUID,
    brand_id: str,
    channel_id: str,
    network: str,
    published_at: datetime,
    title: str = "A post",
    campaign: str | None = None,
    utm: dict[str, str] | None = None,
    post_id: str | None = None,
) -> tuple[Publication, Variant]:
    """A publication published on one channel at ``published_at``, as the pipeline leaves it."""
    async with runtime.session() as session:
        await bind_tenant(session, agency_id)
        publication = Publication(
            agency_id=agency_id,
            brand_id=uuid.UUID(brand_id),
            title=title,
            status="published",
            scheduled_at=published_at,
            campaign=campaign,
            utm=utm or {},
        )
        session.add(publication)
        await session.flush()
        variant = Variant(
            agency_id=agency_id,
            publication_id=publication.id,
            brand_id=uuid.UUID(brand_id),
            channel_id=uuid.UUID(channel_id),
            network=network,
            text=title,
            status="published",
            due_at=published_at,
            published_at=published_at,
            post_id=post_id or f"post-{uuid.uuid4().hex[:10]}",
            post_url=f"https://{network}.example/p/{uuid.uuid4().hex[:6]}",
        )
        session.add(variant)
        await session.commit()
        return publication, variant


async def published_post(
    runtime: Runtime,
    agency_id: uuid.UUID,
    brand_id: str,
    channel_id: str,
    network: str,
    published_at: datetime,
    timezone: str,
    title: str = "A post",
    campaign: str | None = None,
    utm: dict[str, str] | None = None,
) -> str:
    """A published post, followed by reporting (as the follow job would)."""
    publication, variant = await published_variant(
        runtime, agency_id, brand_id, channel_id, network, published_at, title, campaign, utm
    )
    async with runtime.session() as session:
        await bind_tenant(session, agency_id)
        await Collector(session, _subject(agency_id)).enrol(
            [post_row(variant, publication, timezone, published_at)]
        )
        await session.commit()
    return str(variant.id)


async def post_answer(
    runtime: Runtime,
    agency_id: uuid.UUID,
    variant_id: str,
    due_at: datetime,
    raw: dict[str, Any] | None = None,
    **values: int | None,
) -> str:
    """Record what a network answered for a post's pull due at ``due_at``."""
    async with runtime.session() as session:
        await bind_tenant(session, agency_id)
        subject = _subject(agency_id)
        (post,) = await PostMetricRepository(session, subject).lock_many([uuid.UUID(variant_id)])
        outcome = await Collector(session, subject).post_answer(
            post, due_at, due_at, Measured(values, raw or dict(values))
        )
        await session.commit()
        return outcome


async def followed_channel(
    runtime: Runtime, agency_id: uuid.UUID, brand_id: str, channel_id: str, network: str
) -> None:
    async with runtime.session() as session:
        await bind_tenant(session, agency_id)
        await ChannelMetricRepository(session, _subject(agency_id)).add(
            ChannelMetric(
                id=uuid.UUID(channel_id),
                brand_id=uuid.UUID(brand_id),
                network=network,
                next_pull_at=datetime.now().astimezone(),
            )
        )
        await session.commit()


async def account_answer(
    runtime: Runtime,
    agency_id: uuid.UUID,
    channel_id: str,
    due_at: datetime,
    timezone: str,
    followers: int | None = None,
    gap: str | None = None,
) -> str:
    """Record a channel's daily follower count (or a gap) for the pull due at ``due_at``."""
    async with runtime.session() as session:
        await bind_tenant(session, agency_id)
        subject = _subject(agency_id)
        channel = await ChannelMetricRepository(session, subject).lock(uuid.UUID(channel_id))
        assert channel is not None
        collector = Collector(session, subject)
        if gap is not None:
            await collector.account_gap(channel, due_at, due_at, gap, timezone)
            outcome = "gap"
        else:
            outcome = await collector.account_answer(
                channel, due_at, due_at, Measured({"followers": followers}), timezone
            )
        await session.commit()
        return outcome
