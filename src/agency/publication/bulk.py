"""Many new publications created and scheduled at once (a CSV import), in a few statements.

``PublicationEditing.create`` then ``PublicationScheduling.schedule_variants`` take about 25
statements for one publication: reads of what the caller already holds, a savepoint and a
flush per step, one INSERT per row. Here the same rows (publication, variant, the
``created``, ``submitted`` and ``scheduled`` versions with their audit rows, the
``publication.scheduled`` event and its deliveries) are built in memory, each step as the
per-publication path takes it, then written with one statement per table.
``tests/calendar/test_import.py`` compares the two, table by table.

The caller checks content and quota first (the import checks every row with
``VariantComposer.problems`` and the quota ledger, in the same transaction): this path
does not check them again, and calls no hook (:mod:`agency.publication.hooks`). A brand with
an approval policy other than ``none``, and a recurring publication (its series starts when
it is scheduled, through the hooks), take the per-publication path.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from agency.audit.repository import AuditRepository
from agency.brand.models import Brand
from agency.channel.models import Channel
from agency.kernel.db import new_id, utcnow
from agency.kernel.errors import AppError
from agency.kernel.tenancy import Subject
from agency.publication import events
from agency.publication.content import content_hash
from agency.publication.drafting import iso, new_draft, variant_fields, version_row
from agency.publication.editing import PublicationEditing
from agency.publication.models import Publication, PublicationVersion, Variant
from agency.publication.repository import insert_built
from agency.publication.scheduling import PublicationScheduling
from agency.publication.schemas import PublicationCreate
from agency.publication.states import Delivery, NoApproval, Status, check_move, policy_for

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime


@dataclass(frozen=True)
class Planned:
    """A new publication on one channel at one time, its content and quota checked."""

    data: PublicationCreate  # one variant, on ``channel``
    channel: Channel
    when: datetime


class PlannedRefused(Exception):
    """The ``index``-th publication was refused on the per-publication path."""

    def __init__(self, index: int, error: AppError) -> None:
        super().__init__(error.detail)
        self.index = index
        self.error = error


class BulkScheduler:
    def __init__(self, session: AsyncSession, subject: Subject, runtime: Runtime) -> None:
        self.session = session
        self.subject = subject
        self.editing = PublicationEditing(session, subject, runtime)
        self.scheduling = PublicationScheduling(session, subject, runtime)
        self.webhooks = runtime.settings.webhooks
        self.audit = AuditRepository(session, subject)

    async def create_scheduled(self, brand: Brand, planned: Sequence[Planned]) -> list[uuid.UUID]:
        """Create and schedule each publication, as ``create`` then ``schedule_variants``
        would; their ids, in order. Raises :class:`PlannedRefused` (per-publication path)."""
        # Only the ``none`` policy approves on submit without asking anyone.
        policy = policy_for(brand.approval_policy, brand.crisis_id is not None)
        autonomous = policy.name == NoApproval.name
        if not autonomous or any(p.data.recurrence for p in planned):
            return await self._one_by_one(brand, planned)
        target = Status.APPROVED
        check_move(Status.DRAFT, target, "submitted")
        check_move(target, Status.SCHEDULED, "scheduled")
        built = [self._build(brand, item) for item in planned]
        await insert_built(self.session, [p for p, _, _ in built])
        await insert_built(self.session, [v for _, variants, _ in built for v in variants])
        await insert_built(self.session, [r for _, _, versions in built for r in versions])
        await events.publications_event(
            self.session,
            "publication.scheduled",
            [(p, v) for p, v, _ in built],
            self.webhooks,
        )
        return [p.id for p, _, _ in built]

    async def _one_by_one(self, brand: Brand, planned: Sequence[Planned]) -> list[uuid.UUID]:
        created = []
        for index, item in enumerate(planned):
            try:
                publication = await self.editing.create(brand.id, item.data)
                await self.scheduling.schedule_variants(
                    publication.id, {item.channel.id: item.when}
                )
            except AppError as exc:
                raise PlannedRefused(index, exc) from exc
            created.append(publication.id)
        return created

    def _build(
        self, brand: Brand, item: Planned
    ) -> tuple[Publication, list[Variant], list[PublicationVersion]]:
        """The publication and its variant created, submitted then scheduled, with the
        version and audit rows of each step, as the per-publication path writes them."""
        publication, variants = self._draft(brand, item)
        versions = [version_row(self.subject, publication, "created", {}, variants)]
        self.audit.record("publication.created", "publication", publication.id, {})

        # Scheduling a draft gives it its time before it is submitted (the approvers see it).
        publication.scheduled_at = item.when
        for variant in variants:
            variant.due_at = item.when
        publication.version += 1  # written before the submission, as its own change
        publication.status = Status.APPROVED
        publication.approved_at = utcnow()
        publication.approved_by = self.subject.user_id
        publication.version += 1
        for variant in variants:
            variant.approved_version = variant.content_version
        changes: dict[str, Any] = {"status": [None, str(Status.APPROVED)]}
        versions.append(version_row(self.subject, publication, "submitted", changes, variants))
        self.audit.record("publication.submitted", "publication", publication.id, {})

        for variant in variants:
            variant.status = Delivery.SCHEDULED
        publication.status = Status.SCHEDULED
        publication.updated_at = utcnow()
        publication.version += 1
        changes = {"scheduled_at": [None, iso(item.when)]}
        versions.append(version_row(self.subject, publication, "scheduled", changes, variants))
        self.audit.record(
            "publication.scheduled", "publication", publication.id, {"scheduled_at": iso(item.when)}
        )
        return publication, variants, versions

    def _draft(self, brand: Brand, item: Planned) -> tuple[Publication, list[Variant]]:
        """The publication and its variant as ``create`` builds them."""
        publication = new_draft(self.subject, brand, item.data)
        (fields,) = [variant_fields(v) for v in item.data.variants]
        variant = Variant(
            id=new_id(),
            agency_id=self.subject.agency_id,
            publication_id=publication.id,
            brand_id=brand.id,
            channel_id=item.channel.id,
            network=item.channel.network,
            status=Delivery.PENDING,
            content_version=1,
            attempt_count=0,
            created_at=publication.created_at,
            **fields,
        )
        variant.content_hash = content_hash(variant)
        return publication, [variant]
