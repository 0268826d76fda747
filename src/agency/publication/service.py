"""Composing, versioning and scheduling publications (publishing: claiming.py, pipeline.py).

Content is adapted per network, never duplicated: a variant may start from another
(``copy_from``), and is then its own text. A variant's problems on its network are shown on
every read; submitting or scheduling refuses a publication while any variant has one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from agency.audit.repository import AuditRepository
from agency.brand.models import Brand
from agency.brand.repository import BrandRepository
from agency.kernel.db import utcnow
from agency.kernel.errors import Conflict, InvalidInput, NotFound
from agency.kernel.http import check_if_match
from agency.kernel.pagination import PageRequest
from agency.kernel.tenancy import Subject
from agency.media.service import register_usage_check
from agency.publication import events
from agency.publication.composing import Problems, VariantComposer
from agency.publication.content import content_hash
from agency.publication.drafting import (
    CONTENT_FIELDS,
    check_recurrence,
    iso,
    new_draft,
    utm_fields,
    version_row,
)
from agency.publication.hooks import publication_hooks
from agency.publication.models import Attempt, Publication, PublicationVersion, Variant
from agency.publication.placement import Placement, schedule_time
from agency.publication.repository import (
    AttemptRepository,
    PublicationRepository,
    VariantRepository,
    VersionRepository,
)
from agency.publication.schemas import (
    PublicationCreate,
    PublicationUpdate,
    ResolveIn,
    ScheduleIn,
)
from agency.publication.states import (
    CANCELABLE,
    DELETABLE,
    EDITABLE,
    REVIEWED,
    Delivery,
    Review,
    Status,
    check_move,
    policy_for,
    summarize,
)

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime


class PublicationService:
    def __init__(self, session: AsyncSession, subject: Subject, runtime: Runtime) -> None:
        self.session = session
        self.subject = subject
        self.runtime = runtime
        self.repo = PublicationRepository(session, subject)
        self.variants = VariantRepository(session, subject)
        self.versions = VersionRepository(session, subject)
        self.audit = AuditRepository(session, subject)
        self.composer = VariantComposer(session, subject, runtime)
        self.placement = Placement(session, subject, runtime)
        # What other domains do when a publication moves (the calendar's series).
        self.hooks = runtime.component(publication_hooks)

    # -- reading -----------------------------------------------------------------------------

    async def get(self, publication_id: uuid.UUID) -> tuple[Publication, list[Variant], Problems]:
        publication, variants = await self.repo.with_variants(publication_id)
        return publication, variants, await self.composer.problems(publication, variants)

    async def page(
        self,
        page: PageRequest,
        brand_id: uuid.UUID | None,
        status: str | None,
        campaign: str | None,
    ) -> tuple[Sequence[Publication], str | None]:
        return await self.repo.page(page, self.repo.listing(brand_id, status, campaign))

    async def attempts(self, publication_id: uuid.UUID) -> list[Attempt]:
        await self.repo.get(publication_id)
        return await AttemptRepository(self.session, self.subject).of_publication(publication_id)

    async def history(self, publication_id: uuid.UUID) -> list[PublicationVersion]:
        await self.repo.get(publication_id)
        return await self.versions.of_publication(publication_id)

    # -- composing ---------------------------------------------------------------------------

    async def create(self, brand_id: uuid.UUID, data: PublicationCreate) -> Publication:
        brand = await self._brand(brand_id)
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
        self._version(publication, "created", {}, created)
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
        brand = await self._brand(publication.brand_id, allow_archived=True)
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
            policy = policy_for(brand.approval_policy)
            target = await policy.on_edit(self._review(publication, variants))
            if target in (Status.APPROVED, Status.SCHEDULED):
                await self._require_publishable(publication, variants)
                for variant in variants:
                    variant.approved_version = variant.content_version
            else:
                await self._unschedule(publication, variants, target)
        if publication.status == Status.SCHEDULED:
            for variant in variants:
                if variant.status == Delivery.PENDING:  # a channel added to a scheduled post
                    assert publication.scheduled_at is not None
                    await self.placement.check_quota(variant, publication.scheduled_at)
                    self._schedule_variant(variant, publication.scheduled_at)
        await self.repo.flush()
        self._version(publication, "edited", changes, variants)
        self.audit.record(
            "publication.updated", "publication", publication.id, {"fields": sorted(changes)}
        )
        if "recurrence" in changes:
            await self.hooks.recurrence_changed(
                self.session, self.subject, self.runtime, publication, changes["recurrence"][0]
            )
        return publication

    # -- moving through the states -----------------------------------------------------------

    async def submit(self, publication_id: uuid.UUID) -> Publication:
        publication = await self.repo.get_for_update(publication_id)
        brand = await self._brand(publication.brand_id)
        variants = await self.variants.of_publication(publication.id, lock=True)
        await self._submit(publication, brand, variants)
        return publication

    async def _submit(
        self, publication: Publication, brand: Brand, variants: list[Variant]
    ) -> None:
        """To the brand's approval policy: in review (its steps start) or approved at once."""
        if publication.status not in (Status.DRAFT, Status.IN_REVIEW):
            raise Conflict(
                f"A publication that is {publication.status.replace('_', ' ')} cannot be "
                "submitted.",
                status=publication.status,
            )
        await self._require_publishable(publication, variants)
        target = await policy_for(brand.approval_policy).on_submit(
            self._review(publication, variants)
        )
        await self._enter(publication, variants, target, "submitted")

    async def schedule(
        self, publication_id: uuid.UUID, data: ScheduleIn, if_match: str | None
    ) -> Publication:
        publication = await self.repo.get_for_update(publication_id)
        check_if_match(if_match, publication.version)
        brand = await self._brand(publication.brand_id)
        when = schedule_time(data, brand)
        variants = await self.variants.of_publication(publication.id, lock=True)
        times = {v.id: when for v in variants}
        return await self._schedule_all(publication, brand, variants, times)

    async def add_to_queue(self, publication_id: uuid.UUID, if_match: str | None) -> Publication:
        """Each variant takes the next free weekly slot of its channel."""
        publication = await self.repo.get_for_update(publication_id)
        check_if_match(if_match, publication.version)
        brand = await self._brand(publication.brand_id)
        variants = await self.variants.of_publication(publication.id, lock=True)
        times: dict[uuid.UUID, datetime] = {}
        for variant in variants:
            times[variant.id] = await self.placement.next_free_slot(variant, brand)
        return await self._schedule_all(publication, brand, variants, times)

    async def schedule_variants(
        self, publication_id: uuid.UUID, times: Mapping[uuid.UUID, datetime]
    ) -> Publication:
        """Each variant at its own time, by channel id (a series occurrence, an import)."""
        publication = await self.repo.get_for_update(publication_id)
        brand = await self._brand(publication.brand_id)
        variants = await self.variants.of_publication(publication.id, lock=True)
        by_variant = {v.id: times[v.channel_id] for v in variants}
        return await self._schedule_all(publication, brand, variants, by_variant)

    async def unschedule(self, publication_id: uuid.UUID) -> Publication:
        publication = await self.repo.get_for_update(publication_id)
        check_move(publication.status, Status.APPROVED, "taken off the calendar")
        if publication.status != Status.SCHEDULED:
            raise Conflict("This publication is not on the calendar.", status=publication.status)
        variants = await self.variants.of_publication(publication.id, lock=True)
        await self._unschedule(publication, variants, Status.APPROVED)
        self._version(publication, "unscheduled", {}, variants)
        return publication

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
        self._version(publication, "canceled", {}, variants)
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

    async def duplicate(self, publication_id: uuid.UUID) -> Publication:
        """A new draft with the same content and channels, to reuse or adapt."""
        source = await self.repo.get(publication_id)
        brand = await self._brand(source.brand_id)
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
        self._version(copy, "created", {"duplicated_from": [None, str(source.id)]}, created)
        self.audit.record(
            "publication.created", "publication", copy.id, {"duplicated_from": str(source.id)}
        )
        return copy

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
        self._version(
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

    # -- internals ---------------------------------------------------------------------------

    async def _schedule_all(
        self,
        publication: Publication,
        brand: Brand,
        variants: list[Variant],
        times: dict[uuid.UUID, datetime],
    ) -> Publication:
        if publication.status == Status.DRAFT:
            await self._submit(publication, brand, variants)
        if publication.status == Status.IN_REVIEW:
            # Scheduled once approved: the times are kept (on the calendar, not claimed: the
            # variants stay pending), nothing goes out before.
            publication.scheduled_at = min(times.values())
            for variant in variants:
                variant.due_at = times[variant.id]
            self._version(publication, "time_set", {"scheduled_at": [None, "set"]}, variants)
            return publication
        check_move(publication.status, Status.SCHEDULED, "scheduled")
        await self._require_publishable(publication, variants)
        problems: list[dict[str, str]] = []
        for index, variant in enumerate(variants):
            when = times[variant.id]
            try:
                await self.placement.check_quota(variant, when)
            except InvalidInput as exc:
                problems.extend(
                    {**e, "field": f"variants[{index}].{e['field']}"}
                    for e in exc.extensions["errors"]
                )
        if problems:
            raise InvalidInput(
                "A network's publishing quota would be exceeded; nothing was scheduled.",
                errors=problems,
            )
        old = publication.scheduled_at
        for variant in variants:
            self._schedule_variant(variant, times[variant.id])
        publication.scheduled_at = min(times.values())
        publication.status = Status.SCHEDULED
        publication.updated_at = utcnow()
        await self.repo.flush()
        self._version(
            publication,
            "scheduled",
            {"scheduled_at": [iso(old), iso(publication.scheduled_at)]},
            variants,
        )
        self.audit.record(
            "publication.scheduled",
            "publication",
            publication.id,
            {"scheduled_at": iso(publication.scheduled_at)},
        )
        await events.publication_event(
            self.session,
            "publication.scheduled",
            publication,
            variants,
            self.runtime.settings.webhooks,
        )
        await self.hooks.scheduled(self.session, self.subject, self.runtime, publication)
        return publication

    def _schedule_variant(self, variant: Variant, when: datetime) -> None:
        variant.status = Delivery.SCHEDULED
        variant.due_at = when
        variant.not_before = None
        variant.lease_until = None
        variant.hold_reason = None
        variant.held_at = None  # placed again by a person (the worker holds it again in a crisis)
        variant.approved_version = variant.content_version

    async def _unschedule(
        self, publication: Publication, variants: Sequence[Variant], target: Status
    ) -> None:
        for variant in variants:
            variant.status = Delivery.PENDING
            if target != Status.IN_REVIEW:  # waiting for approval keeps its time
                variant.due_at = None
            variant.lease_until = None
            variant.held_at = None
            if target not in (Status.APPROVED, Status.SCHEDULED):
                variant.approved_version = None
        publication.status = target
        if target != Status.IN_REVIEW:
            publication.scheduled_at = None
        await self.repo.flush()

    async def _enter(
        self, publication: Publication, variants: Sequence[Variant], target: Status, action: str
    ) -> None:
        publication.status = target
        if target == Status.APPROVED:
            publication.approved_at = utcnow()
            publication.approved_by = self.subject.user_id
            for variant in variants:
                variant.approved_version = variant.content_version
        await self.repo.flush()
        self._version(publication, action, {"status": [None, str(target)]}, variants)
        self.audit.record(f"publication.{action}", "publication", publication.id, {})

    async def _require_publishable(
        self, publication: Publication, variants: Sequence[Variant]
    ) -> None:
        if not variants:
            raise InvalidInput(
                "A publication needs at least one channel.",
                errors=[{"field": "variants", "message": "no variant"}],
            )
        found = await self.composer.problems(publication, variants)
        errors = [
            {"field": f"variants[{i}].{p.field}", "message": p.message, "code": p.code}
            for i, v in enumerate(variants)
            for p in found.get(v.id, [])
        ]
        if errors:
            raise InvalidInput(
                "Some variants break their network's rules; every problem is listed.",
                errors=errors,
            )

    async def _brand(self, brand_id: uuid.UUID, *, allow_archived: bool = False) -> Brand:
        brand = await BrandRepository(self.session, self.subject).get(brand_id)
        if brand.archived_at is not None and not allow_archived:
            raise InvalidInput("This brand is archived; restore it to publish for it.")
        return brand

    def _review(self, publication: Publication, variants: Sequence[Variant]) -> Review:
        return Review(self.session, self.subject, self.runtime, publication, variants)

    def _version(
        self,
        publication: Publication,
        action: str,
        changes: dict[str, Any],
        variants: Sequence[Variant],
    ) -> None:
        self.session.add(version_row(self.subject, publication, action, changes, variants))


@register_usage_check
async def _media_in_use(session: AsyncSession, subject: Subject, media_id: uuid.UUID) -> str | None:
    """A media file still to be published (or publishing) cannot be deleted."""
    count = await VariantRepository(session, subject).using_media(media_id)
    if count:
        return f"{count} publication variant(s) not yet published use this media."
    return None
