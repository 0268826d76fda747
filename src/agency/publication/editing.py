"""Drafting and editing publications: create, edit (fields sent; ``variants`` replaces the
set), duplicate.

An edit of the content of a publication in review, approved or scheduled asks the brand's
approval policy (``on_edit``) where it goes: it keeps its place (checked again, approved as
it now is), or leaves the calendar for review. A channel added to a scheduled publication takes the
publication's time. A changed ``recurrence`` is handed to the hooks (the calendar re-plans
the series).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from agency.kernel.db import utcnow
from agency.kernel.errors import Conflict
from agency.kernel.http import check_if_match
from agency.kernel.tenancy import Subject
from agency.publication.content import content_hash
from agency.publication.drafting import CONTENT_FIELDS, check_recurrence, new_draft, utm_fields
from agency.publication.hooks import publication_hooks
from agency.publication.models import Publication, Variant
from agency.publication.placement import Placement
from agency.publication.schemas import PublicationCreate, PublicationUpdate
from agency.publication.service import PublicationUseCase
from agency.publication.states import EDITABLE, REVIEWED, Delivery, Status, policy_for

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime


class PublicationEditing(PublicationUseCase):
    def __init__(self, session: AsyncSession, subject: Subject, runtime: Runtime) -> None:
        super().__init__(session, subject, runtime)
        self.placement = Placement(session, subject, runtime)

    async def create(self, brand_id: uuid.UUID, data: PublicationCreate) -> Publication:
        brand = await self.brand(brand_id)
        check_recurrence(data.recurrence)
        publication = new_draft(self.subject, brand, data)
        await self.repo.add(publication)
        variants = await self.composer.resolve(brand, data.variants, [])
        for fields in variants:
            self.session.add(
                Variant(
                    agency_id=self.subject.agency_id,
                    publication_id=publication.id,
                    brand_id=brand.id,
                    **fields,
                )
            )
        await self.repo.flush()
        created = await self.variants.of_publication(publication.id)
        for variant in created:
            variant.content_hash = content_hash(variant)
        self.record(publication, "created", {}, created)
        self.audit.record("publication.created", "publication", publication.id, {})
        return publication

    async def update(
        self, publication_id: uuid.UUID, data: PublicationUpdate, if_match: str | None
    ) -> Publication:
        publication = await self.repo.get_for_update(publication_id)
        check_if_match(if_match, publication.version)
        if publication.status not in EDITABLE:
            raise Conflict(
                f"A publication that is {publication.status.replace('_', ' ')} cannot be "
                "edited; duplicate it instead.",
                status=publication.status,
            )
        brand = await self.brand(publication.brand_id, allow_archived=True)
        current = await self.variants.of_publication(publication.id, lock=True)
        changes: dict[str, Any] = {}
        for name in ("title", "campaign", "reporting_line", "tags", "utm", "recurrence"):
            value = getattr(data, name)
            if value is msgspec.UNSET:
                continue
            if name == "utm":
                value = utm_fields(value)
            elif name == "recurrence":
                check_recurrence(value)
            elif value is not None and not isinstance(value, str | int):
                value = msgspec.to_builtins(value)
            if getattr(publication, name) != value:
                changes[name] = [getattr(publication, name), value]
                setattr(publication, name, value)
        content_changed = False
        if data.variants is not msgspec.UNSET:
            content_changed = await self.composer.replace(
                publication, brand, current, data.variants, changes
            )
        if not changes:
            return publication
        publication.updated_at = utcnow()
        variants = await self.variants.of_publication(publication.id)
        if content_changed and publication.status in REVIEWED:
            policy = policy_for(brand.approval_policy, brand.crisis_id is not None)
            target = await policy.on_edit(self.review(publication, variants))
            if target in (Status.APPROVED, Status.SCHEDULED):
                await self.require_publishable(publication, variants)
                for variant in variants:
                    variant.approved_version = variant.content_version
                if publication.status == Status.IN_REVIEW:  # the new version asks no one
                    await self.enter(publication, variants, Status.APPROVED, "approved")
            else:
                await self.take_off(publication, variants, target)
        if publication.status == Status.SCHEDULED:
            for variant in variants:
                if variant.status == Delivery.PENDING:  # a channel added to a scheduled post
                    assert publication.scheduled_at is not None
                    await self.placement.check_quota(variant, publication.scheduled_at)
                    self.place(variant, publication.scheduled_at)
        await self.repo.flush()
        self.record(publication, "edited", changes, variants)
        self.audit.record(
            "publication.updated", "publication", publication.id, {"fields": sorted(changes)}
        )
        if "recurrence" in changes:
            await self.runtime.component(publication_hooks).recurrence_changed(
                self.session, self.subject, self.runtime, publication, changes["recurrence"][0]
            )
        return publication

    async def duplicate(self, publication_id: uuid.UUID) -> Publication:
        """A new draft with the same content and channels, to reuse or adapt."""
        source = await self.repo.get(publication_id)
        brand = await self.brand(source.brand_id)
        copy = Publication(
            brand_id=brand.id,
            title=f"{source.title[:190]} (copy)",
            status=Status.DRAFT,
            campaign=source.campaign,
            reporting_line=source.reporting_line,
            tags=list(source.tags),
            utm=dict(source.utm),
            created_by=self.subject.user_id,
        )
        await self.repo.add(copy)
        for variant in await self.variants.of_publication(source.id):
            fields = {name: getattr(variant, name) for name in CONTENT_FIELDS}
            self.session.add(
                Variant(
                    agency_id=self.subject.agency_id,
                    publication_id=copy.id,
                    brand_id=brand.id,
                    channel_id=variant.channel_id,
                    network=variant.network,
                    **fields,
                )
            )
        await self.repo.flush()
        created = await self.variants.of_publication(copy.id)
        for variant in created:
            variant.content_hash = content_hash(variant)
        self.record(copy, "created", {"duplicated_from": [None, str(source.id)]}, created)
        self.audit.record(
            "publication.created", "publication", copy.id, {"duplicated_from": str(source.id)}
        )
        return copy
