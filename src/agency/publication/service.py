"""Composing, versioning and scheduling publications (the pipeline lives in pipeline.py).

Content is adapted per network, never duplicated: a variant may start from another
(``copy_from``), and is then its own text. A variant's problems on its network are shown on
every read; submitting or scheduling refuses a publication while any variant has one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec
from dateutil.rrule import rrulestr
from sqlalchemy.ext.asyncio import AsyncSession

from agency.audit.repository import AuditRepository
from agency.brand.models import Brand
from agency.brand.repository import BrandRepository
from agency.channel.models import Channel
from agency.channel.repository import ChannelRepository
from agency.connector.base import Media
from agency.kernel.db import new_id, utcnow
from agency.kernel.errors import Conflict, InvalidInput, NotFound
from agency.kernel.http import check_if_match
from agency.kernel.pagination import PageRequest
from agency.kernel.tenancy import Subject, scoped_select
from agency.media.models import MediaAsset
from agency.media.service import register_usage_check
from agency.publication import events
from agency.publication.charter import charter_problems
from agency.publication.content import content_hash, problems_of
from agency.publication.models import Attempt, Publication, PublicationVersion, Variant
from agency.publication.repository import (
    AttemptRepository,
    PublicationRepository,
    QueueSlotRepository,
    VariantRepository,
    VersionRepository,
)
from agency.publication.schemas import (
    ProblemOut,
    PublicationCreate,
    PublicationUpdate,
    ResolveIn,
    ScheduleIn,
    VariantIn,
)
from agency.publication.states import (
    CANCELABLE,
    DELETABLE,
    EDITABLE,
    Delivery,
    Status,
    check_move,
    policy_for,
    summarize,
)
from agency.publication.timing import QUOTA_WINDOW, local_to_utc, quota_allows, slot_times

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime

CONTENT_FIELDS = ("text", "link", "title", "first_comment", "options", "media_ids")
# A publication due sooner than this is "now": the scheduler takes it at its next tick.
MIN_LEAD = timedelta(seconds=0)

Problems = dict[uuid.UUID, list[ProblemOut]]


class PublicationService:
    def __init__(self, session: AsyncSession, subject: Subject, runtime: Runtime) -> None:
        self.session = session
        self.subject = subject
        self.runtime = runtime
        self.repo = PublicationRepository(session, subject)
        self.variants = VariantRepository(session, subject)
        self.versions = VersionRepository(session, subject)
        self.audit = AuditRepository(session, subject)
        # Scheduling a recurring publication starts or tops up its series (agency.calendar).
        self.extend_series = True

    # -- reading -----------------------------------------------------------------------------

    async def get(self, publication_id: uuid.UUID) -> tuple[Publication, list[Variant], Problems]:
        publication, variants = await self.repo.with_variants(publication_id)
        return publication, variants, await self.problems(publication, variants)

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

    async def problems(
        self,
        publication: Publication,
        variants: Sequence[Variant],
        brand: Brand | None = None,
        media: Mapping[uuid.UUID, Media] | None = None,
    ) -> Problems:
        """Each variant's problems: its network's rules, then the brand's charter (``brand``
        and the variants' ``media`` read here unless given)."""
        found: Problems = {}
        if brand is None:
            brand = await BrandRepository(self.session, self.subject).find(publication.brand_id)
        charter = brand.editorial_charter if brand else {}
        for variant in variants:
            cls = self.runtime.connectors.get(variant.network)
            if cls is None:
                found[variant.id] = [
                    ProblemOut(
                        field="channel_id",
                        message=f"The {variant.network} connector is not installed.",
                        code="network_unavailable",
                    )
                ]
                continue
            described = (
                [media[uuid.UUID(m)] for m in variant.media_ids]
                if media is not None
                else await self._media(variant.media_ids)
            )
            found[variant.id] = [
                ProblemOut(field=p.field, message=p.message, code=p.code)
                for p in [
                    *problems_of(cls, publication, variant, described),
                    *charter_problems(charter, variant.text),
                ]
            ]
        return found

    # -- composing ---------------------------------------------------------------------------

    async def create(self, brand_id: uuid.UUID, data: PublicationCreate) -> Publication:
        brand = await self._brand(brand_id)
        _check_recurrence(data.recurrence)
        publication = new_draft(self.subject, brand, data)
        await self.repo.add(publication)
        variants = await self._resolve_variants(brand, data.variants, [])
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
                _check_recurrence(value)
            elif value is not None and not isinstance(value, str | int):
                value = msgspec.to_builtins(value)
            if getattr(publication, name) != value:
                changes[name] = [getattr(publication, name), value]
                setattr(publication, name, value)
        content_changed = False
        if data.variants is not msgspec.UNSET:
            content_changed = await self._replace_variants(
                publication, brand, current, data.variants, changes
            )
        if not changes:
            return publication
        publication.updated_at = utcnow()
        variants = await self.variants.of_publication(publication.id)
        if content_changed and publication.status in (Status.APPROVED, Status.SCHEDULED):
            target = policy_for(brand.approval_policy).on_edit(Status(publication.status))
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
                    await self._check_quota(variant, publication.scheduled_at)
                    self._schedule_variant(variant, publication.scheduled_at)
        await self.repo.flush()
        self._version(publication, "edited", changes, variants)
        self.audit.record(
            "publication.updated", "publication", publication.id, {"fields": sorted(changes)}
        )
        if "recurrence" in changes and self.extend_series:
            await self._recurrence_changed(publication, changes["recurrence"][0])
        return publication

    async def _recurrence_changed(self, publication: Publication, old_rule: str | None) -> None:
        """A running series follows the new rule from this occurrence on; a scheduled
        publication given a rule starts its series, as if scheduled with it."""
        from agency.calendar.series import SeriesService

        series = SeriesService(self.session, self.subject, self.runtime)
        if publication.series_id is not None:
            await series.change_rule(publication, old_rule)
        elif publication.recurrence and publication.status == Status.SCHEDULED:
            await series.after_scheduled(publication)

    # -- moving through the states -----------------------------------------------------------

    async def submit(self, publication_id: uuid.UUID) -> Publication:
        publication = await self.repo.get_for_update(publication_id)
        brand = await self._brand(publication.brand_id)
        target = policy_for(brand.approval_policy).on_submit()
        check_move(publication.status, target, "submitted")
        variants = await self.variants.of_publication(publication.id, lock=True)
        await self._require_publishable(publication, variants)
        await self._enter(publication, variants, target, "submitted")
        return publication

    async def schedule(
        self, publication_id: uuid.UUID, data: ScheduleIn, if_match: str | None
    ) -> Publication:
        publication = await self.repo.get_for_update(publication_id)
        check_if_match(if_match, publication.version)
        brand = await self._brand(publication.brand_id)
        when = self._when(data, brand)
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
            times[variant.id] = await self._next_free_slot(variant, brand)
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
                self.session, "publication.canceled", publication, variants
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
            await events.variant_event(self.session, "publication.published", publication, variant)
        return publication

    # -- internals ---------------------------------------------------------------------------

    async def _schedule_all(
        self,
        publication: Publication,
        brand: Brand,
        variants: list[Variant],
        times: dict[uuid.UUID, datetime],
    ) -> Publication:
        if publication.status in (Status.DRAFT,):
            target = policy_for(brand.approval_policy).on_submit()
            check_move(publication.status, target, "submitted")
            await self._require_publishable(publication, variants)
            await self._enter(publication, variants, target, "submitted")
        if publication.status == Status.IN_REVIEW:
            # Scheduled once approved: the time is kept, nothing goes out before.
            publication.scheduled_at = min(times.values())
            self._version(publication, "time_set", {"scheduled_at": [None, "set"]}, variants)
            return publication
        check_move(publication.status, Status.SCHEDULED, "scheduled")
        await self._require_publishable(publication, variants)
        problems: list[dict[str, str]] = []
        for index, variant in enumerate(variants):
            when = times[variant.id]
            try:
                await self._check_quota(variant, when)
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
        await events.publication_event(self.session, "publication.scheduled", publication, variants)
        if self.extend_series and (publication.recurrence or publication.series_id):
            from agency.calendar.series import SeriesService

            await SeriesService(self.session, self.subject, self.runtime).after_scheduled(
                publication
            )
        return publication

    def _schedule_variant(self, variant: Variant, when: datetime) -> None:
        variant.status = Delivery.SCHEDULED
        variant.due_at = when
        variant.not_before = None
        variant.lease_until = None
        variant.hold_reason = None
        variant.approved_version = variant.content_version

    async def _unschedule(
        self, publication: Publication, variants: Sequence[Variant], target: Status
    ) -> None:
        for variant in variants:
            variant.status = Delivery.PENDING
            variant.due_at = None
            variant.lease_until = None
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

    def _when(self, data: ScheduleIn, brand: Brand) -> datetime:
        if (data.at is None) == (data.local_time is None):
            raise InvalidInput(
                "Send either `at` (an instant with its offset) or `local_time` (in the brand's "
                "time zone), not both and not neither.",
                errors=[{"field": "at", "message": "exactly one of at and local_time"}],
            )
        if data.at is not None:
            if data.at.tzinfo is None:
                raise InvalidInput(
                    "`at` needs an offset (e.g. Z or +01:00); or send `local_time`.",
                    errors=[{"field": "at", "message": "no time zone offset"}],
                )
            when = data.at
            field = "at"
        else:
            assert data.local_time is not None
            when = local_to_utc(data.local_time, brand.timezone)
            field = "local_time"
        if when < utcnow() + MIN_LEAD:
            raise InvalidInput(
                "This time is in the past; choose a time to come.",
                errors=[{"field": field, "message": f"{when.isoformat()} is in the past"}],
            )
        return when

    async def _check_quota(self, variant: Variant, when: datetime) -> None:
        cls = self.runtime.connectors.get(variant.network)
        limit = cls.limits.max_posts_per_day if cls else None
        if not limit:
            return
        existing = await self.variants.channel_times(
            variant.channel_id, when - QUOTA_WINDOW, when + QUOTA_WINDOW, exclude=[variant.id]
        )
        if not quota_allows(existing, when, limit):
            raise InvalidInput(
                f"{cls.display_name if cls else variant.network} allows {limit} posts per "
                "24 hours on this account; that window is full.",
                errors=[
                    {
                        "field": "due_at",
                        "message": f"the channel already has {limit} posts within 24 hours "
                        f"of {when.isoformat()}",
                        "code": "quota_exhausted",
                    }
                ],
            )

    async def _next_free_slot(self, variant: Variant, brand: Brand) -> datetime:
        slots = await QueueSlotRepository(self.session, self.subject).of_channel(variant.channel_id)
        if not slots:
            raise InvalidInput(
                "This channel has no queue slots; add weekly slots or pick a time.",
                errors=[
                    {
                        "field": "channel_id",
                        "message": f"channel {variant.channel_id} has no queue slots",
                    }
                ],
            )
        now = utcnow()
        taken = await self.variants.taken_times(variant.channel_id, now)
        for when in slot_times([(s.weekday, s.local_time) for s in slots], brand.timezone, now):
            if when in taken:
                continue
            try:
                await self._check_quota(variant, when)
            except InvalidInput:
                continue
            return when
        raise InvalidInput(
            "Every queue slot of the next eight weeks is taken on this channel.",
            errors=[{"field": "channel_id", "message": "queue full"}],
        )

    async def _require_publishable(
        self, publication: Publication, variants: Sequence[Variant]
    ) -> None:
        if not variants:
            raise InvalidInput(
                "A publication needs at least one channel.",
                errors=[{"field": "variants", "message": "no variant"}],
            )
        found = await self.problems(publication, variants)
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

    async def _resolve_variants(
        self, brand: Brand, items: Sequence[VariantIn], existing: Sequence[Variant]
    ) -> list[dict[str, Any]]:
        """Check channels and media, resolve ``copy_from``; the fields of each variant."""
        errors: list[dict[str, str]] = []
        channels = ChannelRepository(self.session, self.subject)
        seen: set[uuid.UUID] = set()
        by_channel: dict[uuid.UUID, VariantIn] = {v.channel_id: v for v in items}
        stored = {v.channel_id: v for v in existing}
        resolved: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            where = f"variants[{index}]"
            if item.channel_id in seen:
                errors.append(
                    {"field": f"{where}.channel_id", "message": "this channel appears twice"}
                )
                continue
            seen.add(item.channel_id)
            channel: Channel | None = await channels.find(item.channel_id)
            if channel is None:
                errors.append(
                    {
                        "field": f"{where}.channel_id",
                        "message": f"no channel with id {item.channel_id} in this agency",
                    }
                )
                continue
            if channel.brand_id != brand.id:
                errors.append(
                    {
                        "field": f"{where}.channel_id",
                        "message": f"channel {item.channel_id} belongs to another brand",
                    }
                )
                continue
            fields = variant_fields(item)
            if item.copy_from is not None:
                source = by_channel.get(item.copy_from)
                if source is not None and source is not item:
                    base = variant_fields(source)
                elif item.copy_from in stored:
                    base = {n: getattr(stored[item.copy_from], n) for n in CONTENT_FIELDS}
                else:
                    errors.append(
                        {
                            "field": f"{where}.copy_from",
                            "message": f"no variant for channel {item.copy_from} to copy",
                        }
                    )
                    continue
                for name in CONTENT_FIELDS:
                    if not fields[name]:
                        fields[name] = base[name]
            errors.extend(await self._media_errors(brand, fields["media_ids"], where))
            resolved.append({**fields, "channel_id": channel.id, "network": channel.network})
        if errors:
            raise InvalidInput("Some variants cannot be saved as sent.", errors=errors)
        return resolved

    async def _replace_variants(
        self,
        publication: Publication,
        brand: Brand,
        current: list[Variant],
        items: Sequence[VariantIn],
        changes: dict[str, Any],
    ) -> bool:
        resolved = await self._resolve_variants(brand, items, current)
        stored = {v.channel_id: v for v in current}
        changed = False
        wanted = {fields["channel_id"] for fields in resolved}
        for variant in current:
            if variant.channel_id not in wanted:
                if variant.status not in (Delivery.PENDING, Delivery.SCHEDULED):
                    raise Conflict(
                        f"The {variant.network} variant is {variant.status}; it cannot be removed."
                    )
                await self.session.delete(variant)
                changes[f"variants.{variant.channel_id}"] = ["present", None]
                changed = True
        for fields in resolved:
            kept = stored.get(fields["channel_id"])
            if kept is None:
                self.session.add(
                    Variant(
                        agency_id=self.subject.agency_id,
                        publication_id=publication.id,
                        brand_id=brand.id,
                        **fields,
                    )
                )
                changes[f"variants.{fields['channel_id']}"] = [None, "added"]
                changed = True
                continue
            variant = kept
            diff = {
                name: [getattr(variant, name), fields[name]]
                for name in CONTENT_FIELDS
                if getattr(variant, name) != fields[name]
            }
            if diff:
                if variant.status not in (Delivery.PENDING, Delivery.SCHEDULED):
                    raise Conflict(
                        f"The {variant.network} variant is {variant.status}; it cannot change."
                    )
                for name, (_, new) in diff.items():
                    setattr(variant, name, new)
                    changes[f"variants.{variant.channel_id}.{name}"] = [
                        _short(diff[name][0]),
                        _short(new),
                    ]
                variant.content_version += 1
                variant.content_hash = content_hash(variant)
                changed = True
        await self.repo.flush()
        for variant in await self.variants.of_publication(publication.id):
            if variant.content_hash is None:
                variant.content_hash = content_hash(variant)
        return changed

    async def _media_errors(
        self, brand: Brand, media_ids: list[str], where: str
    ) -> list[dict[str, str]]:
        if not media_ids:
            return []
        ids = [uuid.UUID(m) for m in media_ids]
        stmt = scoped_select(MediaAsset, self.subject).where(MediaAsset.id.in_(ids))
        found = {m.id: m for m in (await self.session.execute(stmt)).scalars()}
        errors = []
        for index, media_id in enumerate(ids):
            asset = found.get(media_id)
            if asset is None:
                message = f"no media with id {media_id} in this agency"
            elif asset.brand_id != brand.id:
                message = f"media {media_id} belongs to another brand"
            else:
                continue
            errors.append({"field": f"{where}.media_ids[{index}]", "message": message})
        return errors

    async def _media(self, media_ids: Sequence[str]) -> list[Media]:
        if not media_ids:
            return []
        from agency.media.service import describe_for_validation

        return await describe_for_validation(
            self.session, self.subject, [uuid.UUID(m) for m in media_ids]
        )

    def _version(
        self,
        publication: Publication,
        action: str,
        changes: dict[str, Any],
        variants: Sequence[Variant],
    ) -> None:
        self.session.add(version_row(self.subject, publication, action, changes, variants))


def version_row(
    subject: Subject,
    publication: Publication,
    action: str,
    changes: dict[str, Any],
    variants: Sequence[Variant],
) -> PublicationVersion:
    """The version row of ``publication`` as it is now (its number is its current version)."""
    actor_kind, actor_id = subject.actor
    return PublicationVersion(
        id=new_id(),
        agency_id=subject.agency_id,
        publication_id=publication.id,
        number=publication.version,
        action=action,
        actor_kind=actor_kind,
        actor_id=actor_id,
        at=utcnow(),
        changes=changes,
        snapshot=snapshot(publication, variants),
    )


def new_draft(subject: Subject, brand: Brand, data: PublicationCreate) -> Publication:
    """A new draft of ``brand`` made of ``data`` (its variants are added apart)."""
    return Publication(
        id=new_id(),
        agency_id=subject.agency_id,
        brand_id=brand.id,
        title=data.title,
        status=Status.DRAFT,
        campaign=data.campaign,
        reporting_line=data.reporting_line or brand.reporting_line,
        tags=list(data.tags),
        utm=utm_fields(data.utm),
        recurrence=data.recurrence,
        created_by=subject.user_id,
        created_at=utcnow(),
        version=1,
    )


def snapshot(publication: Publication, variants: Sequence[Variant]) -> dict[str, Any]:
    return {
        "title": publication.title,
        "status": publication.status,
        "scheduled_at": iso(publication.scheduled_at),
        "campaign": publication.campaign,
        "tags": list(publication.tags or []),
        "utm": dict(publication.utm or {}),
        "variants": [
            {"channel_id": str(v.channel_id), **{n: getattr(v, n) for n in CONTENT_FIELDS}}
            for v in variants
        ],
    }


def variant_fields(item: VariantIn) -> dict[str, Any]:
    return {
        "text": item.text,
        "link": item.link,
        "title": item.title,
        "first_comment": item.first_comment,
        "options": dict(item.options),
        "media_ids": [str(m) for m in item.media_ids],
    }


def utm_fields(utm: Any) -> dict[str, str]:
    return {k: v for k, v in msgspec.to_builtins(utm).items() if v}


def _check_recurrence(rule: str | None) -> None:
    if rule is None:
        return
    try:
        rrulestr(rule if rule.startswith("RRULE:") else f"RRULE:{rule}")
    except (ValueError, TypeError) as exc:
        raise InvalidInput(
            f"The recurrence rule is not valid RFC 5545: {exc}.",
            errors=[{"field": "recurrence", "message": str(exc)}],
        ) from exc


def iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > 500:
        return value[:500] + "…"
    return value


@register_usage_check
async def _media_in_use(session: AsyncSession, subject: Subject, media_id: uuid.UUID) -> str | None:
    """A media file still to be published (or publishing) cannot be deleted."""
    count = await VariantRepository(session, subject).using_media(media_id)
    if count:
        return f"{count} publication variant(s) not yet published use this media."
    return None
