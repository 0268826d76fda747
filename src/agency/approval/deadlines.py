"""Deadlines: reminders before a step is due, escalation once it is overdue, and the hold
of a publication whose time came before its approval. The scheduler claims what is due
(:mod:`agency.approval.tasks`); each job here runs in the agency's own transaction.

A reminder goes once per step to the people it asks who have not decided. An overdue step
asks the next people in the line too (``escalate_to``, or the brand's general management,
or the agency's managers), tells them by e-mail and the team by ``approval.overdue``. A
publication in review when its time comes is never published: its variants say why
(``hold_reason``, on the calendar at that time), the team is told, and once approved it
waits for a new time.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from agency.approval import notices
from agency.approval.engine import OPEN, UNSETTLED, Rounds
from agency.approval.link.mailing import decision_url, issue
from agency.approval.models import ApprovalAssignment, ApprovalRound, ApprovalStep
from agency.brand.models import Brand
from agency.kernel.tenancy import Subject
from agency.mail.service import queue_mail
from agency.publication.models import Publication
from agency.publication.repository import PublicationRepository
from agency.publication.states import Status
from agency.publication.timing import local_display

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime

HELD = (
    "Held: not approved at its time; it will not be published until approved and given a new time."
)


class Deadlines:
    def __init__(self, session: AsyncSession, agency_id: uuid.UUID, runtime: Runtime) -> None:
        self.session = session
        self.runtime = runtime
        self.subject = Subject(agency_id, "system")
        self.engine = Rounds(session, self.subject, runtime)

    async def remind(self, step_id: uuid.UUID) -> int:
        """E-mail the people the open step still waits for; how many were told."""
        found = await self._open_step(step_id)
        if found is None:
            return 0
        _, step, publication, brand = found
        waiting = await self._undecided(step)
        await self._mail(waiting, "approval_reminder", publication, brand, step)
        return len(waiting)

    async def escalate(self, step_id: uuid.UUID) -> int:
        """The step is overdue: the next people in the line may decide; how many were added."""
        found = await self._open_step(step_id)
        if found is None:
            return 0
        round_, step, publication, brand = found
        added = await self.engine.escalate(round_, step, publication, brand)
        await self._mail(added, "approval_escalated", publication, brand, step)
        await notices.overdue(
            self.session, self.runtime, publication, round_, "step_due", step, added
        )
        self.engine.audit.record(
            "approval.escalated",
            "publication",
            publication.id,
            {"round": round_.number, "step": step.name, "to": [str(a.user_id) for a in added]},
        )
        return len(added)

    async def hold(self, round_id: uuid.UUID) -> bool:
        """The publication's time came and it is not approved: held, and the team told."""
        round_ = await self.engine.rounds.find(round_id)
        if round_ is None or round_.status not in UNSETTLED:
            return False
        publications = PublicationRepository(self.session, self.subject)
        publication = await publications.get_for_update(round_.publication_id)
        if publication.status != Status.IN_REVIEW or publication.scheduled_at is None:
            return False
        variants = await self.engine.variants_of(publication)
        for variant in variants:
            variant.hold_reason = HELD
        brand = await self.engine._brand(publication.brand_id)
        steps = await self.engine.steps.of_rounds([round_.id])
        waiting_at = next(
            (s for s in steps if s.status in ("open", "changes_requested")), steps[-1]
        )
        team = await self._team(round_, waiting_at)
        await self._mail(team, "approval_held", publication, brand, waiting_at)
        await notices.overdue(self.session, self.runtime, publication, round_, "held", waiting_at)
        self.engine.audit.record(
            "approval.held", "publication", publication.id, {"round": round_.number}
        )
        return True

    # -- internals ---------------------------------------------------------------------------

    async def _open_step(
        self, step_id: uuid.UUID
    ) -> tuple[ApprovalRound, ApprovalStep, Publication, Brand] | None:
        step = await self.engine.steps.find(step_id)
        if step is None or step.status != "open":
            return None
        round_ = await self.engine.rounds.get(step.round_id)
        if round_.status != OPEN:
            return None
        publication = await PublicationRepository(self.session, self.subject).get(
            step.publication_id
        )
        return round_, step, publication, await self.engine._brand(publication.brand_id)

    async def _undecided(self, step: ApprovalStep) -> list[ApprovalAssignment]:
        decided = {
            d.user_id
            for d in await self.engine.decisions.of_rounds([step.round_id])
            if d.step_id == step.id
        }
        return [
            a for a in await self.engine.assignments.of_steps([step.id]) if a.user_id not in decided
        ]

    async def _team(
        self, round_: ApprovalRound, step: ApprovalStep
    ) -> list[ApprovalAssignment | tuple[str, str, str]]:
        """Who is told of a hold: the content's authors, and the people still asked."""
        team: list[ApprovalAssignment | tuple[str, str, str]] = []
        brand_locale = (await self.engine._brand(round_.brand_id)).locale
        for author in round_.authors:
            member = await self.engine.people.repo.member(uuid.UUID(author))
            if member is not None:
                team.append((member.user.email, member.user.name, brand_locale))
        if step.status == "open":
            team.extend(await self._undecided(step))
        return team

    async def _mail(
        self,
        people: Sequence[ApprovalAssignment | tuple[str, str, str]],
        template: str,
        publication: Publication,
        brand: Brand,
        step: ApprovalStep,
    ) -> None:
        context: dict[str, Any] = {
            "title": publication.title,
            "brand": brand.name,
            "step": step.name,
            "due_at": local_display(step.due_at, brand.timezone),
            "scheduled_at": local_display(publication.scheduled_at, brand.timezone),
            "timezone": brand.timezone,
        }
        sent: set[str] = set()
        for person in people:
            email, name, locale = (
                person if isinstance(person, tuple) else (person.email, person.name, person.locale)
            )
            if email in sent:
                continue
            sent.add(email)
            await queue_mail(
                self.session,
                self.subject,
                self.runtime.secrets,
                email,
                template,
                locale,
                {**context, "name": name, "link": await self._link(person, publication, step)},
                settings=self.runtime.settings.mail,
            )

    async def _link(
        self,
        person: ApprovalAssignment | tuple[str, str, str],
        publication: Publication,
        step: ApprovalStep,
    ) -> str | None:
        """A client approver asked on this step decides from the e-mail, like the first one."""
        if isinstance(person, tuple) or person.kind != "client" or step.status != "open":
            return None
        round_ = await self.engine.rounds.get(step.round_id)
        ttl = timedelta(hours=self.runtime.settings.mail.decision_link_ttl_hours)
        token = await issue(
            self.session,
            self.subject,
            person,
            publication,
            round_.content_hash,
            step.position,
            step.name,
            ttl,
        )
        return decision_url(self.runtime.settings, token)
