"""Submitting and scheduling publications, and taking them off the calendar.

Submitting asks the brand's approval policy where the draft goes (``on_submit``:
``in_review`` or straight to ``approved``). Scheduling a draft submits it first; a
publication in review keeps the time asked and goes out only once approved; an approved
one goes on the calendar, every variant checked against its network's rules and quota
first (nothing is scheduled if one fails). Each scheduled publication is handed to the hooks
(the calendar starts or tops up a recurring publication's series).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from agency.brand.models import Brand
from agency.kernel.db import utcnow
from agency.kernel.errors import Conflict, InvalidInput
from agency.kernel.http import check_if_match
from agency.kernel.tenancy import Subject
from agency.publication import events
from agency.publication.drafting import iso
from agency.publication.hooks import publication_hooks
from agency.publication.models import Publication, Variant
from agency.publication.placement import Placement, schedule_time
from agency.publication.schemas import ScheduleIn
from agency.publication.service import PublicationUseCase
from agency.publication.states import Status, check_move, policy_for

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime


class PublicationScheduling(PublicationUseCase):
    def __init__(self, session: AsyncSession, subject: Subject, runtime: Runtime) -> None:
        super().__init__(session, subject, runtime)
        self.placement = Placement(session, subject, runtime)

    async def submit(self, publication_id: uuid.UUID) -> Publication:
        publication = await self.repo.get_for_update(publication_id)
        brand = await self.brand(publication.brand_id)
        variants = await self.variants.of_publication(publication.id, lock=True)
        if brand.crisis_id is not None and publication.status in (
            Status.APPROVED,
            Status.SCHEDULED,
        ):
            await self._ask_crisis_decision(publication, brand, variants)
        else:
            await self._submit(publication, brand, variants)
        return publication

    async def _ask_crisis_decision(
        self, publication: Publication, brand: Brand, variants: list[Variant]
    ) -> None:
        """Content approved before the crisis, put before the crisis decision makers as it
        is (no edit needed): in review, its times kept; once one of them approves it, it
        is scheduled again and may leave during this crisis."""
        if publication.crisis_cleared == brand.crisis_id:
            raise Conflict(
                "This version is already cleared to leave during this crisis.",
                status=publication.status,
            )
        await self.require_publishable(publication, variants)
        old = publication.status
        target = await policy_for(brand.approval_policy, True).on_submit(
            self.review(publication, variants)
        )
        await self.take_off(publication, variants, target)
        self.record(publication, "submitted", {"status": [old, str(target)]}, variants)
        self.audit.record("publication.submitted", "publication", publication.id, {})

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
        await self.require_publishable(publication, variants)
        target = await policy_for(brand.approval_policy, brand.crisis_id is not None).on_submit(
            self.review(publication, variants)
        )
        await self.enter(publication, variants, target, "submitted")

    async def schedule(
        self, publication_id: uuid.UUID, data: ScheduleIn, if_match: str | None
    ) -> Publication:
        publication = await self.repo.get_for_update(publication_id)
        check_if_match(if_match, publication.version)
        brand = await self.brand(publication.brand_id)
        when = schedule_time(data, brand)
        variants = await self.variants.of_publication(publication.id, lock=True)
        times = {v.id: when for v in variants}
        return await self._schedule_all(publication, brand, variants, times)

    async def add_to_queue(self, publication_id: uuid.UUID, if_match: str | None) -> Publication:
        """Each variant takes the next free weekly slot of its channel."""
        publication = await self.repo.get_for_update(publication_id)
        check_if_match(if_match, publication.version)
        brand = await self.brand(publication.brand_id)
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
        brand = await self.brand(publication.brand_id)
        variants = await self.variants.of_publication(publication.id, lock=True)
        by_variant = {v.id: times[v.channel_id] for v in variants}
        return await self._schedule_all(publication, brand, variants, by_variant)

    async def unschedule(self, publication_id: uuid.UUID) -> Publication:
        publication = await self.repo.get_for_update(publication_id)
        check_move(publication.status, Status.APPROVED, "taken off the calendar")
        if publication.status != Status.SCHEDULED:
            raise Conflict("This publication is not on the calendar.", status=publication.status)
        variants = await self.variants.of_publication(publication.id, lock=True)
        await self.take_off(publication, variants, Status.APPROVED)
        self.record(publication, "unscheduled", {}, variants)
        return publication

    @staticmethod
    def _set_times(
        publication: Publication, variants: list[Variant], times: dict[uuid.UUID, datetime]
    ) -> None:
        publication.scheduled_at = min(times.values())
        for variant in variants:
            variant.due_at = times[variant.id]

    async def _schedule_all(
        self,
        publication: Publication,
        brand: Brand,
        variants: list[Variant],
        times: dict[uuid.UUID, datetime],
    ) -> Publication:
        old = publication.scheduled_at
        if publication.status == Status.DRAFT:
            self._set_times(publication, variants, times)  # the approvers are told the time
            await self._submit(publication, brand, variants)
        if publication.status == Status.IN_REVIEW:
            # Scheduled once approved: the times are kept (on the calendar, not claimed: the
            # variants stay pending), nothing goes out before.
            self._set_times(publication, variants, times)
            self.record(publication, "time_set", {"scheduled_at": [None, "set"]}, variants)
            return publication
        check_move(publication.status, Status.SCHEDULED, "scheduled")
        await self.require_publishable(publication, variants)
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
        for variant in variants:
            self.place(variant, times[variant.id])
        publication.scheduled_at = min(times.values())
        publication.status = Status.SCHEDULED
        publication.updated_at = utcnow()
        await self.repo.flush()
        self.record(
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
        await self.runtime.component(publication_hooks).scheduled(
            self.session, self.subject, self.runtime, publication
        )
        return publication
