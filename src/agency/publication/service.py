"""What every use case of one agency's publications shares.

The use cases each have their class, built per request with only what they use:

- :class:`~agency.publication.reading.PublicationReading`: a publication with its problems,
  lists, attempts, versions;
- :class:`~agency.publication.editing.PublicationEditing`: create, edit, duplicate;
- :class:`~agency.publication.scheduling.PublicationScheduling`: submit, schedule (at a
  time, in the queue, per channel), take off the calendar;
- :class:`~agency.publication.lifecycle.PublicationLifecycle`: cancel, delete, resolve an
  unknown outcome.

They share :class:`PublicationUseCase`: the brand checked, the moves between editorial
states made one way (:meth:`~PublicationUseCase.enter`, :meth:`~PublicationUseCase.place`,
:meth:`~PublicationUseCase.take_off`), every change versioned and audited, and the content
checked against its networks before it goes on the calendar. Where a submitted or edited
publication goes is the brand's :class:`~agency.publication.states.ApprovalPolicy`'s to
say; the publishing itself is :mod:`agency.publication.claiming` and
:mod:`agency.publication.pipeline`.

Content is adapted per network, never duplicated: a variant may start from another
(``copy_from``), and is then its own text. A variant's problems on its network are shown on
every read; submitting or scheduling refuses a publication while any variant has one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from agency.audit.repository import AuditRepository
from agency.brand.models import Brand
from agency.brand.repository import BrandRepository
from agency.kernel.db import utcnow
from agency.kernel.errors import InvalidInput
from agency.kernel.tenancy import Subject
from agency.media.service import register_usage_check
from agency.publication.composing import Problems, VariantComposer
from agency.publication.drafting import version_row
from agency.publication.models import Publication, Variant
from agency.publication.repository import PublicationRepository, VariantRepository
from agency.publication.states import Delivery, Review, Status

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime


class PublicationUseCase:
    """One agency's publications, in the caller's session (a service never commits)."""

    def __init__(self, session: AsyncSession, subject: Subject, runtime: Runtime) -> None:
        self.session = session
        self.subject = subject
        self.runtime = runtime
        self.repo = PublicationRepository(session, subject)
        self.variants = VariantRepository(session, subject)
        self.audit = AuditRepository(session, subject)
        self.composer = VariantComposer(session, subject, runtime)

    async def get(self, publication_id: uuid.UUID) -> tuple[Publication, list[Variant], Problems]:
        """The publication, its variants (one snapshot) and each variant's problems: what
        every answer about a publication shows."""
        publication, variants = await self.repo.with_variants(publication_id)
        return publication, variants, await self.composer.problems(publication, variants)

    async def brand(self, brand_id: uuid.UUID, *, allow_archived: bool = False) -> Brand:
        brand = await BrandRepository(self.session, self.subject).get(brand_id)
        if brand.archived_at is not None and not allow_archived:
            raise InvalidInput("This brand is archived; restore it to publish for it.")
        return brand

    def record(
        self,
        publication: Publication,
        action: str,
        changes: dict[str, Any],
        variants: Sequence[Variant],
    ) -> None:
        """A version of the publication: who did ``action``, what changed, its variants."""
        self.session.add(version_row(self.subject, publication, action, changes, variants))

    def review(self, publication: Publication, variants: Sequence[Variant]) -> Review:
        """What the brand's approval policy is asked about."""
        return Review(self.session, self.subject, self.runtime, publication, variants)

    async def require_publishable(
        self, publication: Publication, variants: Sequence[Variant]
    ) -> None:
        """At least one channel, and no variant breaking its network's rules or the brand's
        charter (every problem is listed)."""
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

    async def enter(
        self, publication: Publication, variants: Sequence[Variant], target: Status, action: str
    ) -> None:
        """Move to the editorial state ``target`` (``approved`` stamps who approved, and
        the content version each variant was approved at); versioned and audited as
        ``publication.<action>``. The caller checked the move (``check_move``)."""
        publication.status = target
        if target == Status.APPROVED:
            publication.approved_at = utcnow()
            publication.approved_by = self.subject.user_id
            for variant in variants:
                variant.approved_version = variant.content_version
        await self.repo.flush()
        self.record(publication, action, {"status": [None, str(target)]}, variants)
        self.audit.record(f"publication.{action}", "publication", publication.id, {})

    @staticmethod
    def place(variant: Variant, when: datetime) -> None:
        """The variant on the calendar at ``when``, approved as it is now."""
        variant.status = Delivery.SCHEDULED
        variant.due_at = when
        variant.not_before = None
        variant.lease_until = None
        variant.hold_reason = None
        variant.held_at = None  # placed again by a person (the worker holds it again in a crisis)
        variant.approved_version = variant.content_version

    async def take_off(
        self, publication: Publication, variants: Sequence[Variant], target: Status
    ) -> None:
        """Off the calendar, into ``target``; the approval goes unless ``target`` keeps it,
        and the times stay only for ``in_review`` (it is scheduled then once approved)."""
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


@register_usage_check
async def _media_in_use(session: AsyncSession, subject: Subject, media_id: uuid.UUID) -> str | None:
    """A media file still to be published (or publishing) cannot be deleted."""
    count = await VariantRepository(session, subject).using_media(media_id)
    if count:
        return f"{count} publication variant(s) not yet published use this media."
    return None
