"""Publication events for the agency's webhooks, written in the same transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from agency.config import WebhookSettings
from agency.kernel.tenancy import Subject
from agency.publication.models import Publication, Variant
from agency.publication.states import Delivery, Status
from agency.webhook.events import EventType, emit, new_event, payload_of, queue_delivery
from agency.webhook.repository import SubscriptionRepository


class VariantState(msgspec.Struct, kw_only=True):
    """One channel's post of a publication, as webhooks tell it."""

    variant_id: uuid.UUID
    channel_id: uuid.UUID
    network: str
    status: Delivery
    due_at: datetime | None
    post_id: str | None
    post_url: str | None
    published_at: datetime | None
    # The network's message when it refused the post.
    error: str | None


@payload_of(EventType.PUBLICATION_SCHEDULED, EventType.PUBLICATION_CANCELED)
class PublicationData(msgspec.Struct, kw_only=True):
    """A publication and each of its channels' posts."""

    publication_id: uuid.UUID
    brand_id: uuid.UUID
    title: str
    status: Status
    scheduled_at: datetime | None
    variants: list[VariantState]


@payload_of(
    EventType.PUBLICATION_PUBLISHED,
    EventType.PUBLICATION_FAILED,
    EventType.PUBLICATION_UNKNOWN,
    EventType.PUBLICATION_MISSED,
    EventType.PUBLICATION_MEDIA_STAGING_FAILED,
)
class VariantOutcomeData(VariantState, kw_only=True):
    """One channel's outcome, with the publication it belongs to."""

    publication_id: uuid.UUID
    brand_id: uuid.UUID
    title: str


def variant_state(variant: Variant) -> VariantState:
    return VariantState(**_variant_fields(variant))


def _variant_fields(variant: Variant) -> dict[str, Any]:
    return {
        "variant_id": variant.id,
        "channel_id": variant.channel_id,
        "network": variant.network,
        "status": Delivery(variant.status),
        "due_at": variant.due_at,
        "post_id": variant.post_id,
        "post_url": variant.post_url,
        "published_at": variant.published_at,
        "error": variant.last_error,
    }


def publication_data(publication: Publication, variants: Sequence[Variant]) -> PublicationData:
    return PublicationData(
        publication_id=publication.id,
        brand_id=publication.brand_id,
        title=publication.title,
        status=Status(publication.status),
        scheduled_at=publication.scheduled_at,
        variants=[variant_state(v) for v in variants],
    )


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
    """One channel's outcome: published, failed, unknown or missed (or its media not
    uploaded ahead)."""
    await emit(
        session,
        variant.agency_id,
        event_type,
        VariantOutcomeData(
            publication_id=publication.id,
            brand_id=variant.brand_id,
            title=publication.title,
            **_variant_fields(variant),
        ),
        webhooks,
    )
