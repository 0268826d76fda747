"""The SQL of approvals: policies, rounds, steps, assignments, decisions, comments; the
people who may decide; and the scheduler's claim of due reminders, escalations and holds."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select, update
from sqlalchemy.orm import joinedload

from agency.approval.models import (
    ApprovalAssignment,
    ApprovalComment,
    ApprovalDecision,
    ApprovalPolicy,
    ApprovalRound,
    ApprovalStep,
)
from agency.client.models import ClientMember
from agency.kernel.repository import TenantRepository
from agency.kernel.system import SystemRepository
from agency.kernel.tenancy import scoped_select
from agency.media.models import MediaAsset
from agency.member.models import Membership
from agency.publication.models import Publication, Variant
from agency.publication.states import Status


class PolicyRepository(TenantRepository[ApprovalPolicy]):
    model = ApprovalPolicy
    noun = "approval policy"

    async def of_brand(self, brand_id: uuid.UUID) -> list[ApprovalPolicy]:
        stmt = (
            self.select()
            .where(ApprovalPolicy.brand_id == brand_id)
            .order_by(ApprovalPolicy.is_default, ApprovalPolicy.priority, ApprovalPolicy.name)
        )
        return list((await self.session.execute(stmt)).scalars().all())


class RoundRepository(TenantRepository[ApprovalRound]):
    model = ApprovalRound
    noun = "approval round"

    async def of_publication(self, publication_id: uuid.UUID) -> list[ApprovalRound]:
        """Newest first."""
        stmt = (
            self.select()
            .where(ApprovalRound.publication_id == publication_id)
            .order_by(ApprovalRound.number.desc())
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def latest(self, publication_id: uuid.UUID) -> ApprovalRound | None:
        stmt = (
            self.select()
            .where(ApprovalRound.publication_id == publication_id)
            .order_by(ApprovalRound.number.desc())
            .limit(1)
        )
        found: ApprovalRound | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found


class StepRepository(TenantRepository[ApprovalStep]):
    model = ApprovalStep
    noun = "approval step"

    async def of_rounds(self, round_ids: Sequence[uuid.UUID]) -> list[ApprovalStep]:
        if not round_ids:
            return []
        stmt = (
            self.select()
            .where(ApprovalStep.round_id.in_(round_ids))
            .order_by(ApprovalStep.round_id, ApprovalStep.position)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    def pending(
        self,
        brand_id: uuid.UUID | None,
        user_id: uuid.UUID | None,
        named: Sequence[uuid.UUID] = (),
    ) -> Select[ApprovalStep]:
        """Open steps of rounds still open; with ``user_id``, only those asking that person
        (or ``named``: steps that name them now, found by the caller)."""
        stmt = (
            self.select()
            .join(
                ApprovalRound,
                and_(
                    ApprovalRound.id == ApprovalStep.round_id,
                    ApprovalRound.agency_id == ApprovalStep.agency_id,
                ),
            )
            .where(ApprovalStep.status == "open", ApprovalRound.status == "open")
        )
        if brand_id is not None:
            stmt = stmt.where(ApprovalStep.brand_id == brand_id)
        if user_id is not None:
            asked = scoped_select(ApprovalAssignment, self.subject).with_only_columns(
                ApprovalAssignment.step_id
            )
            asked = asked.where(ApprovalAssignment.user_id == user_id)
            mine = ApprovalStep.id.in_(asked)
            stmt = stmt.where(or_(mine, ApprovalStep.id.in_(list(named))) if named else mine)
        return stmt

    async def open_not_asking(
        self, brand_id: uuid.UUID | None, user_id: uuid.UUID
    ) -> list[tuple[ApprovalStep, ApprovalRound]]:
        """Open steps of open rounds that did not ask this person when they opened, with
        their rounds (the caller checks whether they name the person now)."""
        asked = scoped_select(ApprovalAssignment, self.subject).with_only_columns(
            ApprovalAssignment.step_id
        )
        stmt = (
            self.pending(brand_id, None)
            .add_columns(ApprovalRound)
            .where(ApprovalStep.id.not_in(asked.where(ApprovalAssignment.user_id == user_id)))
        )
        return [(row[0], row[1]) for row in (await self.session.execute(stmt)).all()]

    async def context_of(
        self, steps: Sequence[ApprovalStep]
    ) -> dict[uuid.UUID, tuple[ApprovalRound, Publication]]:
        """Each step's round and publication, for a list of pending steps."""
        round_ids = {s.round_id for s in steps}
        if not round_ids:
            return {}
        stmt = (
            scoped_select(ApprovalRound, self.subject)
            .add_columns(Publication)
            .join(
                Publication,
                and_(
                    Publication.id == ApprovalRound.publication_id,
                    Publication.agency_id == ApprovalRound.agency_id,
                ),
            )
            .where(ApprovalRound.id.in_(round_ids))
        )
        rows = (await self.session.execute(stmt)).all()
        return {r[0].id: (r[0], r[1]) for r in rows}


class AssignmentRepository(TenantRepository[ApprovalAssignment]):
    model = ApprovalAssignment
    noun = "approval assignment"

    async def of_steps(self, step_ids: Sequence[uuid.UUID]) -> list[ApprovalAssignment]:
        if not step_ids:
            return []
        stmt = (
            self.select()
            .where(ApprovalAssignment.step_id.in_(step_ids))
            .order_by(ApprovalAssignment.step_id, ApprovalAssignment.id)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def of_publication(self, publication_id: uuid.UUID) -> list[ApprovalAssignment]:
        stmt = self.select().where(ApprovalAssignment.publication_id == publication_id)
        return list((await self.session.execute(stmt)).scalars().all())


class DecisionRepository(TenantRepository[ApprovalDecision]):
    model = ApprovalDecision
    noun = "approval decision"

    async def of_rounds(self, round_ids: Sequence[uuid.UUID]) -> list[ApprovalDecision]:
        if not round_ids:
            return []
        stmt = (
            self.select()
            .where(ApprovalDecision.round_id.in_(round_ids))
            .order_by(ApprovalDecision.created_at, ApprovalDecision.id)
        )
        return list((await self.session.execute(stmt)).scalars().all())


class CommentRepository(TenantRepository[ApprovalComment]):
    model = ApprovalComment
    noun = "comment"

    async def of_publication(self, publication_id: uuid.UUID) -> list[ApprovalComment]:
        stmt = (
            self.select()
            .where(ApprovalComment.publication_id == publication_id)
            .order_by(ApprovalComment.created_at, ApprovalComment.id)
        )
        return list((await self.session.execute(stmt)).scalars().all())


class PeopleRepository:
    """Who may decide: agency members by role, a brand's client members by reporting line."""

    def __init__(self, session: Any, subject: Any) -> None:
        self.session = session
        self.subject = subject

    async def members_with_roles(self, roles: Sequence[str]) -> list[Membership]:
        if not roles:
            return []
        stmt = (
            scoped_select(Membership, self.subject)
            .options(joinedload(Membership.user))
            .where(Membership.role.in_(list(roles)))
            .order_by(Membership.id)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def member(self, user_id: uuid.UUID) -> Membership | None:
        stmt = (
            scoped_select(Membership, self.subject)
            .options(joinedload(Membership.user))
            .where(Membership.user_id == user_id)
        )
        found: Membership | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found

    async def client_members(self, brand_id: uuid.UUID, lines: Sequence[str]) -> list[ClientMember]:
        """Active client members of the brand on these lines (permissions checked by the caller)."""
        if not lines:
            return []
        stmt = (
            scoped_select(ClientMember, self.subject)
            .where(
                ClientMember.brand_id == brand_id,
                ClientMember.reporting_line.in_(list(lines)),
                ClientMember.disabled_at.is_(None),
            )
            .order_by(ClientMember.id)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def client_place(self, brand_id: uuid.UUID, user_id: uuid.UUID) -> ClientMember | None:
        stmt = scoped_select(ClientMember, self.subject).where(
            ClientMember.brand_id == brand_id,
            ClientMember.user_id == user_id,
            ClientMember.disabled_at.is_(None),
        )
        found: ClientMember | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found

    async def media_kinds(self, media_ids: Sequence[str]) -> dict[str, str]:
        if not media_ids:
            return {}
        ids = [uuid.UUID(m) for m in media_ids]
        stmt = (
            scoped_select(MediaAsset, self.subject)
            .with_only_columns(MediaAsset.id, MediaAsset.kind)
            .where(MediaAsset.id.in_(ids))
        )
        return {str(row[0]): row[1] for row in (await self.session.execute(stmt)).all()}


class ApprovalSweepRepository(SystemRepository):
    """The scheduler's statements over every agency: deadlines to compute, reminders and
    escalations due, publications whose time came before their approval."""

    async def untimed(self, limit: int) -> Sequence[Any]:
        """Open or waiting steps whose deadlines were computed for another publication time."""
        stmt = (
            select(ApprovalStep, Publication.scheduled_at)
            .join(ApprovalRound, ApprovalRound.id == ApprovalStep.round_id)
            .join(Publication, Publication.id == ApprovalStep.publication_id)
            .where(
                ApprovalRound.status == "open",
                ApprovalStep.status.in_(("open", "waiting")),
                or_(
                    and_(ApprovalStep.timed_for.is_(None), Publication.scheduled_at.is_not(None)),
                    and_(ApprovalStep.timed_for.is_not(None), Publication.scheduled_at.is_(None)),
                    ApprovalStep.timed_for != Publication.scheduled_at,
                ),
            )
            .limit(limit)
            .with_for_update(of=ApprovalStep, skip_locked=True)
        )
        return (await self.session.execute(stmt)).all()

    async def to_remind(self, now: datetime, limit: int) -> Sequence[ApprovalStep]:
        stmt = (
            select(ApprovalStep)
            .join(ApprovalRound, ApprovalRound.id == ApprovalStep.round_id)
            .where(
                ApprovalRound.status == "open",
                ApprovalStep.status == "open",
                ApprovalStep.remind_at <= now,
                ApprovalStep.reminded_at.is_(None),
                or_(ApprovalStep.due_at.is_(None), ApprovalStep.due_at > now),
            )
            .order_by(ApprovalStep.remind_at)
            .limit(limit)
            .with_for_update(of=ApprovalStep, skip_locked=True)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def overdue(self, now: datetime, limit: int) -> Sequence[ApprovalStep]:
        stmt = (
            select(ApprovalStep)
            .join(ApprovalRound, ApprovalRound.id == ApprovalStep.round_id)
            .where(
                ApprovalRound.status == "open",
                ApprovalStep.status == "open",
                ApprovalStep.due_at <= now,
                ApprovalStep.escalated_at.is_(None),
            )
            .order_by(ApprovalStep.due_at)
            .limit(limit)
            .with_for_update(of=ApprovalStep, skip_locked=True)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def past_their_time(self, now: datetime, limit: int) -> Sequence[ApprovalRound]:
        """Rounds not settled when their publication's time came, not yet held."""
        stmt = (
            select(ApprovalRound)
            .join(Publication, Publication.id == ApprovalRound.publication_id)
            .where(
                ApprovalRound.status.in_(("open", "changes_requested")),
                ApprovalRound.held_at.is_(None),
                Publication.status == Status.IN_REVIEW,
                Publication.scheduled_at <= now,
            )
            .order_by(Publication.scheduled_at)
            .limit(limit)
            .with_for_update(of=ApprovalRound, skip_locked=True)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def held_with_a_new_time(self, now: datetime, limit: int) -> Sequence[ApprovalRound]:
        """Held rounds whose publication was given a time still to come: no longer held."""
        stmt = (
            select(ApprovalRound)
            .join(Publication, Publication.id == ApprovalRound.publication_id)
            .where(
                ApprovalRound.status.in_(("open", "changes_requested")),
                ApprovalRound.held_at.is_not(None),
                Publication.scheduled_at > now,
            )
            .limit(limit)
            .with_for_update(of=ApprovalRound, skip_locked=True)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def clear_hold(self, publication_ids: Sequence[uuid.UUID], reason: str) -> None:
        """Their variants no longer say they are held (only where the hold said so)."""
        if publication_ids:
            await self.session.execute(
                update(Variant)
                .where(
                    Variant.publication_id.in_(list(publication_ids)), Variant.hold_reason == reason
                )
                .values(hold_reason=None)
                .execution_options(synchronize_session=False)
            )
