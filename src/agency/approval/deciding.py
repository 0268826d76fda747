"""Decisions: approve, request changes, reject; each bound to the exact version decided on.

Every check comes before anything is written, so a refused decision changes nothing: the
publication must be visible to the caller (404 otherwise, like a missing one); the version
must be the current one (409 ``stale``); the decider must be a person (403 for API tokens),
not an author of the content (403: four eyes), asked by the step (403), and not have decided
on it already (409). The publication's row lock serialises decisions: of two approvers
deciding at the same instant, one settles the step and the other's decision is recorded
too, marked ``counted: false`` (one outcome, both recorded).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from agency.approval import notices
from agency.approval.engine import OPEN, Rounds
from agency.approval.models import (
    ApprovalAssignment,
    ApprovalDecision,
    ApprovalRound,
    ApprovalStep,
)
from agency.approval.people import Person
from agency.approval.routing import content_hash
from agency.approval.schemas import DecisionKind
from agency.client.models import ClientMember
from agency.kernel.db import utcnow
from agency.kernel.errors import Conflict, Forbidden, InvalidInput
from agency.kernel.tenancy import Subject
from agency.publication.models import Publication
from agency.publication.repository import PublicationRepository

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime


@dataclass(frozen=True)
class Outcome:
    decision: ApprovalDecision
    step: ApprovalStep
    round: ApprovalRound
    publication: Publication


class Decider:
    def __init__(self, session: AsyncSession, subject: Subject, runtime: Runtime) -> None:
        self.session = session
        self.subject = subject
        self.runtime = runtime
        self.engine = Rounds(session, subject, runtime)
        self.decisions = self.engine.decisions

    async def decide(
        self,
        who: Subject | ClientMember,
        publication_id: uuid.UUID,
        version: str,
        decision: DecisionKind,
        comment: str | None,
        via: str = "api",
        step_position: int | None = None,
    ) -> Outcome:
        """``who`` decides ``decision`` on the publication as it reads at ``version`` (the
        content hash of its current round), on the step at ``step_position`` (the open one
        when None). ``who`` is a signed-in subject, or a client member's place (a decision
        link by e-mail: the caller checked the link)."""
        publication = await PublicationRepository(self.session, self.subject).get_for_update(
            publication_id
        )
        brand = await self.engine._brand(publication.brand_id)
        person = await self.engine.people.of(who, publication.brand_id, brand.locale)
        if decision != DecisionKind.APPROVE and not (comment and comment.strip()):
            raise InvalidInput(
                "Say what should change: a comment is required to request changes or reject.",
                errors=[{"field": "comment", "message": "required for this decision"}],
            )
        latest = await self.engine.rounds.latest(publication.id)
        variants = await self.engine.variants_of(publication)
        current = content_hash(variants)
        if latest is None or latest.status == "superseded":
            raise Conflict(
                "This publication is not waiting for anyone's approval.",
                status=publication.status,
                content_hash=current,
            )
        if version != current or version != latest.content_hash:
            raise Conflict(
                "This version is no longer the current one: the content changed since. "
                "Read it again and decide on what it says now.",
                code="stale_version",
                content_hash=current,
            )
        if str(person.user_id) in latest.authors:
            raise Forbidden("Four eyes: you wrote this content, so someone else must decide on it.")
        steps = await self.engine.steps.of_rounds([latest.id])
        assignments = {
            (a.step_id, a.user_id): a
            for a in await self.engine.assignments.of_steps([s.id for s in steps])
        }
        decided = {
            d.step_id
            for d in await self.decisions.of_rounds([latest.id])
            if d.user_id == person.user_id
        }
        step, assignment = self._step_for(
            latest, steps, assignments, person, step_position, decided
        )
        if step is None:
            if decided:
                raise Conflict("You have already decided on this version.", code="already_decided")
            raise Forbidden("You are not asked to decide on this publication's current step.")
        if step.id in decided:
            raise Conflict("You have already decided on this step.", code="already_decided")
        counted = latest.status == OPEN and step.status == "open"
        if assignment is None:  # eligible now (joined since the step opened): asked from now on
            assignment = self.engine._assign(step, latest, person, False)
            await self.engine.assignments.add(assignment)
        record = ApprovalDecision(
            brand_id=publication.brand_id,
            publication_id=publication.id,
            round_id=latest.id,
            step_id=step.id,
            content_hash=latest.content_hash,
            decision=decision.value,
            comment=comment.strip() if comment else None,
            user_id=person.user_id,
            actor_kind=person.kind,
            client_member_id=person.client_member_id,
            name=person.name,
            counted=counted,
            via=via,
        )
        await self.decisions.add(record, conflict="You have already decided on this step.")
        if counted:
            await self._apply(record, latest, steps, step, assignment, publication, person)
        await self.decisions.flush()
        self.engine.audit.record(
            "approval.decided",
            "publication",
            publication.id,
            {
                "round": latest.number,
                "step": step.name,
                "decision": decision.value,
                "counted": counted,
                "via": via,
            },
        )
        await notices.decided(self.session, self.runtime, publication, latest, step, record)
        return Outcome(record, step, latest, publication)

    def _step_for(
        self,
        round_: ApprovalRound,
        steps: list[ApprovalStep],
        assignments: dict[tuple[uuid.UUID, uuid.UUID], ApprovalAssignment],
        person: Person,
        wanted: int | None,
        decided: set[uuid.UUID],
    ) -> tuple[ApprovalStep | None, ApprovalAssignment | None]:
        """The step this person decides on: the open one (or ``wanted``, the step they read)
        if it asks them, or names them now and they decided no other step of this version;
        else the latest step that asked them and settled a moment before (their decision is
        recorded, not counted)."""
        current = next((s for s in steps if s.status == "open"), None)
        if round_.status == OPEN and current is not None and wanted in (None, current.position):
            assignment = assignments.get((current.id, person.user_id))
            if assignment is not None and self._still_may(assignment, current, person):
                return current, assignment
            named = person.reason_for(current.definition["approvers"]) is not None
            if named and not decided:
                return current, None
        settled = [
            s
            for s in steps
            if s.status in ("approved", "changes_requested", "rejected")
            and (s.id, person.user_id) in assignments
            and self._still_may(assignments[(s.id, person.user_id)], s, person)
            and wanted in (None, s.position)
        ]
        if settled and round_.status != "superseded":
            step = max(settled, key=lambda s: s.position)
            return step, assignments[(step.id, person.user_id)]
        return None, None

    @staticmethod
    def _still_may(assignment: ApprovalAssignment, step: ApprovalStep, person: Person) -> bool:
        """Asked when the step opened, and still what got them asked (a client member who lost
        ``approve``, a member whose role changed, are no longer asked)."""
        if person.kind == "client" and not person.may_approve:
            return False
        if assignment.escalated:
            return True
        return person.reason_for(step.definition["approvers"]) is not None

    async def _apply(
        self,
        record: ApprovalDecision,
        round_: ApprovalRound,
        steps: list[ApprovalStep],
        step: ApprovalStep,
        assignment: ApprovalAssignment,
        publication: Publication,
        person: Person,
    ) -> None:
        now = utcnow()
        variants = await self.engine.variants_of(publication)
        if record.decision == DecisionKind.APPROVE:
            step.approvals += 1
            if step.approvals < step.needed and not assignment.escalated:
                return
            step.status, step.closed_at = "approved", now
            await self.engine.advance(round_, steps, publication, variants, person)
            return
        step.closed_at = now
        if record.decision == DecisionKind.REQUEST_CHANGES:
            step.status = "changes_requested"
            round_.status, round_.current_step = "changes_requested", None
            self.engine._version(
                publication, "changes_requested", {"comment": [None, record.comment]}, variants
            )
            return
        step.status = "rejected"
        round_.status, round_.closed_at, round_.current_step = "rejected", now, None
        for other in steps:
            if other.status == "waiting":
                other.status, other.closed_at = "superseded", now
        await self.engine.back_to_draft(publication, variants, "rejected")
