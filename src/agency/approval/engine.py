"""Rounds: a publication's exact version going through its policy's steps.

A round opens when a draft is submitted (or a publication in review, approved or scheduled
is edited: the round before is ``superseded``, never silently, and a new one opens for the
new version, keeping only the approvals of steps the policy marks ``again_after_edit:
false``). Each step opens in turn and asks its people; when the last one is approved the
publication is approved, and goes on the calendar at the time it was given (or stays
approved, held, when that time has passed). A request for changes waits for an edit; a
rejection sends the publication back to draft.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from agency.approval import notices
from agency.approval.models import (
    ApprovalAssignment,
    ApprovalPolicy,
    ApprovalRound,
    ApprovalStep,
)
from agency.approval.people import People, Person, without
from agency.approval.repository import (
    AssignmentRepository,
    DecisionRepository,
    PeopleRepository,
    PolicyRepository,
    RoundRepository,
    StepRepository,
)
from agency.approval.routing import (
    CRISIS_ROUTE,
    applies,
    content_hash,
    crisis_policy,
    facts_of,
    route,
)
from agency.audit.repository import AuditRepository
from agency.auth.repository import CredentialRepository
from agency.brand.models import Brand
from agency.brand.repository import BrandRepository
from agency.kernel.db import utcnow
from agency.kernel.errors import AppError, Conflict, InvalidInput
from agency.kernel.tenancy import Subject
from agency.publication.drafting import version_row
from agency.publication.models import Publication, Variant
from agency.publication.repository import VariantRepository, VersionRepository
from agency.publication.scheduling import PublicationScheduling
from agency.publication.states import Delivery, Review, Status, check_move

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime

OPEN, CHANGES = "open", "changes_requested"
# A round still waiting for something (decisions, or an edit).
UNSETTLED = (OPEN, CHANGES)


def deadlines(step: ApprovalStep, scheduled_at: Any) -> None:
    """The step's due and reminder times, from the publication's time."""
    definition = step.definition
    step.timed_for = scheduled_at
    before = definition.get("due_minutes_before")
    if scheduled_at is None or before is None:
        step.due_at = step.remind_at = None
        return
    step.due_at = scheduled_at - timedelta(minutes=before)
    remind = definition.get("remind_minutes_before")
    step.remind_at = step.due_at - timedelta(minutes=remind) if remind is not None else None


class Rounds:
    """Opening, advancing and closing rounds, in the caller's transaction.

    Reads and writes of approval rows use the agency's own scope (``inside``): a client
    member deciding must open the next step, whose people are agency members they cannot
    see. What the caller may reach was checked before (the publication, by their scope).
    """

    def __init__(self, session: AsyncSession, subject: Subject, runtime: Runtime) -> None:
        self.session = session
        self.subject = subject
        self.runtime = runtime
        self.inside = Subject(subject.agency_id, "system", app_filter=subject.app_filter)
        self.policies = PolicyRepository(session, self.inside)
        self.rounds = RoundRepository(session, self.inside)
        self.steps = StepRepository(session, self.inside)
        self.assignments = AssignmentRepository(session, self.inside)
        self.decisions = DecisionRepository(session, self.inside)
        self.people = People(PeopleRepository(session, self.inside))
        self.audit = AuditRepository(session, subject)

    # -- the plug's two questions ------------------------------------------------------------

    async def submitted(self, review: Review) -> Status:
        latest = await self.rounds.latest(review.publication.id)
        if latest is not None and latest.status == OPEN:
            raise Conflict("This publication is already waiting for approval.", status="in_review")
        if latest is not None and latest.status == CHANGES:  # sent again as it is
            await self.close(latest, "closed")
        return await self.start(review, latest, after_edit=False)

    async def edited(self, review: Review) -> Status:
        publication = review.publication
        latest = await self.rounds.latest(publication.id)
        if latest is not None and latest.status in UNSETTLED:
            await self.close(latest, "superseded")
        elif latest is not None and latest.status == "approved":
            latest.status = "superseded"  # its approval was of the version before the edit
        target = await self.start(review, latest, after_edit=True)
        if target == Status.APPROVED and publication.status != Status.IN_REVIEW:
            return Status(publication.status)  # nothing to ask of this version: stays
        return target

    # -- rounds ------------------------------------------------------------------------------

    async def start(
        self, review: Review, previous: ApprovalRound | None, *, after_edit: bool
    ) -> Status:
        """Open a round for the publication as it is now; ``approved`` when nothing applies."""
        publication, variants = review.publication, review.variants
        brand = await self._brand(publication.brand_id)
        kinds = await self.people.repo.media_kinds([m for v in variants for m in v.media_ids])
        facts = facts_of(publication, variants, kinds)
        policy: ApprovalPolicy | None
        if brand.crisis_id is not None:  # the brand's decision makers, whatever else applies
            policy, routed_by = crisis_policy(brand.id), CRISIS_ROUTE
        else:
            policy, routed_by = route(await self.policies.of_brand(publication.brand_id), facts)
        definitions = [s for s in (policy.steps if policy else []) if applies(s, facts)]
        if policy is None or not definitions:
            return Status.APPROVED
        round_ = ApprovalRound(
            brand_id=publication.brand_id,
            publication_id=publication.id,
            number=previous.number + 1 if previous else 1,
            policy_id=policy.id,
            policy_name=policy.name,
            routed_by=routed_by,
            content_hash=content_hash(variants),
            publication_version=publication.version,
            status=OPEN,
            authors=await self._authors(review, after_edit),
            opened_by=review.subject.user_id,
        )
        await self.rounds.add(round_)
        kept = await self._keepable(previous, policy.id) if after_edit else {}
        steps = []
        for position, definition in enumerate(definitions):
            step = ApprovalStep(
                brand_id=publication.brand_id,
                publication_id=publication.id,
                round_id=round_.id,
                position=position,
                name=definition["name"],
                rule=definition.get("rule", "any"),
                needed=1,
                definition=dict(definition),
                status="waiting",
            )
            earlier = kept.get(step.name) if not definition.get("again_after_edit", True) else None
            if earlier is not None:
                step.status, step.kept_from = "kept", earlier.id
                step.approvals, step.needed = earlier.approvals, earlier.needed
                step.closed_at = utcnow()
            deadlines(step, publication.scheduled_at)
            await self.steps.add(step)
            steps.append(step)
        await self._check_staffed(steps, round_, publication, brand)
        opened = await self._open_next(round_, steps, publication, brand)
        self.audit.record(
            "approval.requested",
            "publication",
            publication.id,
            {"round": round_.number, "policy": policy.name, "routed_by": routed_by},
        )
        if not opened:  # every step kept its approval
            round_.status, round_.closed_at = "approved", utcnow()
            return Status.APPROVED
        return Status.IN_REVIEW

    async def close(self, round_: ApprovalRound, status: str) -> None:
        round_.status, round_.closed_at, round_.current_step = status, utcnow(), None
        for step in await self.steps.of_rounds([round_.id]):
            if step.status in ("open", "waiting"):
                step.status, step.closed_at = "superseded", round_.closed_at
        await self.rounds.flush()

    async def advance(
        self,
        round_: ApprovalRound,
        steps: Sequence[ApprovalStep],
        publication: Publication,
        variants: Sequence[Variant],
        person: Person,
    ) -> None:
        """The current step is approved: open the next, or approve the publication."""
        brand = await self._brand(publication.brand_id)
        if await self._open_next(round_, steps, publication, brand):
            return
        round_.status, round_.closed_at, round_.current_step = "approved", utcnow(), None
        if round_.routed_by == CRISIS_ROUTE:
            publication.crisis_cleared = brand.crisis_id  # may leave during this crisis
        await self.approve(publication, variants, person)

    async def approve(
        self, publication: Publication, variants: Sequence[Variant], person: Person
    ) -> None:
        """Approved: on the calendar at its time if that is still to come; else held."""
        check_move(publication.status, Status.APPROVED, "approved")
        now = utcnow()
        publication.status = Status.APPROVED
        publication.approved_at, publication.approved_by = now, person.user_id
        for variant in variants:
            variant.approved_version = variant.content_version
        await self.rounds.flush()
        self._version(publication, "approved", {"status": ["in_review", "approved"]}, variants)
        self.audit.record("publication.approved", "publication", publication.id, {})
        if publication.scheduled_at is None:
            return
        times = {v.channel_id: v.due_at or publication.scheduled_at for v in variants}
        if min(times.values()) <= now:
            self._hold(
                variants, "Approved after its time: it was not published; choose a new time."
            )
            return
        try:
            async with self.session.begin_nested():
                await PublicationScheduling(
                    self.session, self.subject, self.runtime
                ).schedule_variants(publication.id, times)
        except AppError as exc:
            self._hold(variants, f"Approved, but it could not be scheduled: {exc.detail}")

    async def back_to_draft(
        self, publication: Publication, variants: Sequence[Variant], action: str
    ) -> None:
        check_move(publication.status, Status.DRAFT, "sent back to draft")
        for variant in variants:
            variant.status, variant.due_at, variant.lease_until = Delivery.PENDING, None, None
            variant.approved_version = None
        publication.status, publication.scheduled_at = Status.DRAFT, None
        await self.rounds.flush()
        self._version(publication, action, {"status": ["in_review", "draft"]}, variants)
        self.audit.record(f"publication.{action}", "publication", publication.id, {})

    # -- steps -------------------------------------------------------------------------------

    async def _open_next(
        self,
        round_: ApprovalRound,
        steps: Sequence[ApprovalStep],
        publication: Publication,
        brand: Brand,
    ) -> bool:
        step = next((s for s in steps if s.status == "waiting"), None)
        if step is None:
            return False
        # Other eyes at each step: an author, or someone who decided an earlier step, is not asked.
        deciders = [str(d.user_id) for d in await self.decisions.of_rounds([round_.id])]
        excluded = [*round_.authors, *deciders]
        people = without(
            await self.people.eligible(step.definition["approvers"], brand.id, brand.locale),
            excluded,
        )
        escalated = False
        if not people:  # everyone left since the round opened: straight to escalation
            people = without(
                await self.people.escalation(step.definition, brand.id, brand.locale), excluded
            )
            escalated = True
        step.needed = _needed(step, len(people))
        step.status, step.opened_at = "open", utcnow()
        round_.current_step = step.position
        made = [self._assign(step, round_, p, escalated) for p in people]
        for assignment in made:
            await self.assignments.add(assignment)
        await notices.requested(self.session, self.runtime, publication, round_, step, made)
        return True

    def _assign(
        self, step: ApprovalStep, round_: ApprovalRound, person: Person, escalated: bool
    ) -> ApprovalAssignment:
        approvers = step.definition.get("escalate_to") if escalated else None
        reason = person.reason_for(approvers or step.definition["approvers"])
        return ApprovalAssignment(
            brand_id=step.brand_id,
            publication_id=step.publication_id,
            round_id=round_.id,
            step_id=step.id,
            user_id=person.user_id,
            kind=person.kind,
            client_member_id=person.client_member_id,
            reason=(f"escalation:{reason or person.role or person.reporting_line}")[:60]
            if escalated
            else (reason or "")[:60],
            name=person.name,
            email=person.email,
            locale=person.locale,
            escalated=escalated,
        )

    async def escalate(
        self, round_: ApprovalRound, step: ApprovalStep, publication: Publication, brand: Brand
    ) -> list[ApprovalAssignment]:
        """An overdue step: the next people in the line may decide too (one approval of theirs
        settles it)."""
        present = {a.user_id for a in await self.assignments.of_steps([step.id])}
        people = without(
            await self.people.escalation(step.definition, brand.id, brand.locale), round_.authors
        )
        made = [self._assign(step, round_, p, True) for p in people if p.user_id not in present]
        for assignment in made:
            await self.assignments.add(assignment)
        return made

    async def _check_staffed(
        self,
        steps: Sequence[ApprovalStep],
        round_: ApprovalRound,
        publication: Publication,
        brand: Brand,
    ) -> None:
        """Refuse a round whose steps nobody can decide (the authors excluded): 422, each
        step named."""
        errors = []
        for step in steps:
            if step.status != "waiting":
                continue
            found = without(
                await self.people.eligible(step.definition["approvers"], brand.id, brand.locale),
                round_.authors,
            )
            needed = _needed(step, len(found))
            if not found or len(found) < needed:
                errors.append(
                    {
                        "field": f"steps[{step.position}]",
                        "message": f"'{step.name}' needs {needed} approver(s) and "
                        f"{len(found)} can decide (the content's authors cannot)",
                        "code": "no_approver",
                    }
                )
        if errors:
            raise InvalidInput(
                "Nobody can decide some steps of the brand's approval policy; give people the "
                "roles or the client permission 'approve' it asks for.",
                errors=errors,
            )

    async def _keepable(
        self, previous: ApprovalRound | None, policy_id: uuid.UUID
    ) -> dict[str, ApprovalStep]:
        """Steps approved in the round before, of the same policy, by name."""
        if previous is None or previous.policy_id != policy_id:
            return {}
        steps = await self.steps.of_rounds([previous.id])
        return {s.name: s for s in steps if s.status in ("approved", "kept")}

    async def _authors(self, review: Review, after_edit: bool) -> list[str]:
        """Everyone who wrote any of this content: the creator and every editor of a variant
        (the one editing now included; through an API token, its creator); none of them may
        decide on it."""
        publication = review.publication
        found = {publication.created_by}
        versions = await VersionRepository(self.session, self.inside).of_publication(publication.id)
        tokens = CredentialRepository(self.session, self.inside)
        for version in versions:
            wrote = version.action == "created" or any(
                key.startswith("variants") for key in version.changes
            )
            if not wrote:
                continue
            if version.actor_kind in ("user", "client"):
                found.add(version.actor_id)
            elif version.actor_kind == "api_token" and version.actor_id is not None:
                # Written through an API token: its creator wrote it.
                token = await tokens.find(version.actor_id)
                found.add(token.created_by if token is not None else None)
        if after_edit:
            found.add(review.subject.user_id or review.subject.on_behalf_of)
        return sorted(str(a) for a in found if a is not None)

    async def _brand(self, brand_id: uuid.UUID) -> Brand:
        return await BrandRepository(self.session, self.inside).get(brand_id)

    def _hold(self, variants: Sequence[Variant], reason: str) -> None:
        for variant in variants:
            variant.hold_reason = reason[:500]

    def _version(
        self,
        publication: Publication,
        action: str,
        changes: Mapping[str, Any],
        variants: Sequence[Variant],
    ) -> None:
        self.session.add(version_row(self.subject, publication, action, dict(changes), variants))

    async def variants_of(self, publication: Publication) -> list[Variant]:
        return await VariantRepository(self.session, self.inside).of_publication(
            publication.id, lock=True
        )


def _needed(step: ApprovalStep, available: int) -> int:
    if step.rule == "all":
        return max(available, 1)
    if step.rule == "count":
        return int(step.definition.get("count") or 1)
    return 1
