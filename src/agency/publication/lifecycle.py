"""The end of a publication: canceled (nothing more of it goes out), deleted (only what
never reached the calendar, or was canceled), or an unknown outcome resolved by a person who
checked the account."""

from __future__ import annotations

import uuid

from agency.kernel.db import utcnow
from agency.kernel.errors import Conflict, NotFound
from agency.publication import events
from agency.publication.models import Publication
from agency.publication.schemas import ResolveIn
from agency.publication.service import PublicationUseCase
from agency.publication.states import CANCELABLE, DELETABLE, Delivery, Status, summarize


class PublicationLifecycle(PublicationUseCase):
    async def cancel(self, publication_id: uuid.UUID) -> Publication:
        publication = await self.repo.get_for_update(publication_id)
        if publication.status not in CANCELABLE:
            raise Conflict(
                f"A publication that is {publication.status.replace('_', ' ')} cannot be canceled.",
                status=publication.status,
            )
        variants = await self.variants.of_publication(publication.id, lock=True)
        was_scheduled = publication.status == Status.SCHEDULED
        now = utcnow()
        for variant in variants:
            variant.status = Delivery.CANCELED
            variant.lease_until = None
            variant.finished_at = now
        publication.status = Status.CANCELED
        publication.canceled_at = now
        await self.repo.flush()
        self.record(publication, "canceled", {}, variants)
        self.audit.record("publication.canceled", "publication", publication.id, {})
        if was_scheduled:
            await events.publication_event(
                self.session,
                "publication.canceled",
                publication,
                variants,
                self.runtime.settings.webhooks,
            )
        return publication

    async def delete(self, publication_id: uuid.UUID) -> None:
        """Only what never reached the calendar (or was canceled) can be deleted."""
        publication = await self.repo.get_for_update(publication_id)
        if publication.status not in DELETABLE:
            raise Conflict(
                f"A publication that is {publication.status.replace('_', ' ')} cannot be "
                "deleted; cancel it first.",
                status=publication.status,
            )
        await self.repo.delete(publication.id)
        self.audit.record("publication.deleted", "publication", publication.id, {})

    async def resolve(
        self, publication_id: uuid.UUID, variant_id: uuid.UUID, data: ResolveIn
    ) -> Publication:
        """A person checked the account for an unknown outcome the network cannot answer."""
        publication = await self.repo.get_for_update(publication_id)
        found = await self.variants.lock_many([variant_id], skip_locked=True)
        variant = found[0] if found else None
        if variant is None or variant.publication_id != publication.id:
            raise NotFound(f"No variant with id {variant_id} in this publication.")
        if variant.status != Delivery.UNKNOWN:
            raise Conflict(
                f"Only an unknown outcome can be resolved; this variant is {variant.status}.",
                status=variant.status,
            )
        now = utcnow()
        if data.published:
            variant.status = Delivery.PUBLISHED
            variant.post_url = data.post_url
            variant.published_at = variant.published_at or now
            variant.finished_at = now
            variant.last_error = None
        else:
            # Not on the account: publishing again cannot make a duplicate.
            variant.status = Delivery.SCHEDULED
            variant.last_error = None
        variant.not_before = None
        variant.lease_until = None
        await self.repo.flush()
        statuses = await self.variants.statuses_of([publication.id])
        await self.repo.set_statuses([(publication, summarize(statuses[publication.id]))])
        self.record(
            publication,
            "resolved",
            {f"variants.{variant.channel_id}.status": ["unknown", variant.status]},
            await self.variants.of_publication(publication.id),
        )
        self.audit.record(
            "publication.resolved",
            "publication",
            publication.id,
            {"variant": str(variant.id), "published": data.published},
        )
        if data.published:
            await events.variant_event(
                self.session,
                "publication.published",
                publication,
                variant,
                self.runtime.settings.webhooks,
            )
        return publication
