"""Publication events for the agency's webhooks, written in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from agency.config import WebhookSettings
from agency.kernel.tenancy import Subject
from agency.publication.models import Publication, Variant
from agency.webhook.events import EventType, emit, new_event, queue_delivery
from agency.webhook.repository import SubscriptionRepository


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def variant_data(variant: Variant) -> dict[str, Any]:
    return {
        "variant_id": str(variant.id),
        "channel_id": str(variant.channel_id),
        "network": variant.network,
        "status": variant.status,
        "due_at": _iso(variant.due_at),
        "post_id": variant.post_id,
        "post_url": variant.post_url,
        "published_at": _iso(variant.published_at),
        "error": variant.last_error,
    }


def publication_data(publication: Publication, variants: Sequence[Variant]) -> dict[str, Any]:
    return {
        "publication_id": str(publication.id),
        "brand_id": str(publication.brand_id),
        "title": publication.title,
        "status": publication.status,
        "scheduled_at": _iso(publication.scheduled_at),
        "variants": [variant_data(v) for v in variants],
    }


async def publication_event(
    session: AsyncSession,
    event_type: str,
    publication: Publication,
    variants: Sequence[Variant],
    webhooks: WebhookSettings,
) -> None:
    await emit(
        session,
        publication.agency_id,
        event_type,
        publication_data(publication, variants),
        webhooks,
    )


async def publications_event(
    session: AsyncSession,
    event_type: str,
    publications: Sequence[tuple[Publication, Sequence[Variant]]],
    webhooks: WebhookSettings,
) -> None:
    """:func:`publication_event` for each publication (of one agency), with the agency's
    subscriptions read once."""
    if not publications:
        return
    agency_id = publications[0][0].agency_id
    targets = await SubscriptionRepository(session, Subject(agency_id, "system")).interested_in(
        EventType(event_type).value
    )
    if not targets:
        return
    for publication, variants in publications:
        event = new_event(agency_id, event_type, publication_data(publication, variants))
        session.add(event)
        for subscription in targets:
            queue_delivery(session, event, subscription, webhooks)


async def variant_event(
    session: AsyncSession,
    event_type: str,
    publication: Publication,
    variant: Variant,
    webhooks: WebhookSettings,
) -> None:
    """One channel's outcome: published, failed, unknown or missed."""
    await emit(
        session,
        variant.agency_id,
        event_type,
        {
            "publication_id": str(publication.id),
            "brand_id": str(variant.brand_id),
            "title": publication.title,
            **variant_data(variant),
        },
        webhooks,
    )
