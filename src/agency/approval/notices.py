"""What approvals tell the outside: webhook events, and e-mails through the one mail path.

Everything here is written in the caller's transaction (the webhook outbox, the mail rows):
a rolled-back decision tells no one. ``approval.requested`` goes out when a step opens,
``approval.decided`` for every decision (counted or not), ``approval.overdue`` when a step's
due time passes or a publication's time comes before its approval.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from agency.approval.link.mailing import mail_asked
from agency.approval.models import (
    ApprovalAssignment,
    ApprovalDecision,
    ApprovalRound,
    ApprovalStep,
)
from agency.approval.schemas import DecisionKind, PersonKind, RoundStatus, StepRule, StepStatus
from agency.brand.crisis import crisis_event
from agency.brand.repository import BrandRepository
from agency.kernel.tenancy import Subject
from agency.publication.models import Publication
from agency.publication.states import Status
from agency.webhook.events import EventType, emit, payload_of

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime


class StepData(msgspec.Struct, kw_only=True):
    position: int
    name: str
    rule: StepRule
    needed: int
    approvals: int
    status: StepStatus
    due_at: datetime | None


class PersonData(msgspec.Struct, kw_only=True):
    user_id: uuid.UUID
    kind: PersonKind
    name: str
    escalated: bool


class DeciderData(msgspec.Struct, kw_only=True):
    user_id: uuid.UUID | None
    kind: PersonKind
    name: str
    via: str


class RoundData(msgspec.Struct, kw_only=True):
    """A publication's approval round: which content version it decides on."""

    publication_id: uuid.UUID
    brand_id: uuid.UUID
    title: str
    publication_status: Status
    scheduled_at: datetime | None
    round: int
    round_status: RoundStatus
    policy_name: str
    content_hash: str


@payload_of(EventType.APPROVAL_REQUESTED)
class ApprovalRequested(RoundData, kw_only=True):
    """A step of an approval round opened: these people are asked."""

    step: StepData
    approvers: list[PersonData]


@payload_of(EventType.APPROVAL_DECIDED)
class ApprovalDecided(RoundData, kw_only=True):
    """Someone approved, asked for changes or rejected (counted or not)."""

    step: StepData
    decision: DecisionKind
    comment: str | None
    counted: bool
    by: DeciderData


class OverdueReason(StrEnum):
    STEP_DUE = "step_due"  # the step's deadline passed: escalated
    HELD = "held"  # the publication's time came before its approval: not published


@payload_of(EventType.APPROVAL_OVERDUE)
class ApprovalOverdue(RoundData, kw_only=True):
    """An approval is late: a step's deadline passed, or the publication's time came."""

    reason: OverdueReason
    step: StepData | None
    escalated_to: list[PersonData]


def step_data(step: ApprovalStep) -> StepData:
    return StepData(
        position=step.position,
        name=step.name,
        rule=StepRule(step.rule),
        needed=step.needed,
        approvals=step.approvals,
        status=StepStatus(step.status),
        due_at=step.due_at,
    )


def round_data(publication: Publication, round_: ApprovalRound) -> dict[str, Any]:
    return {
        "publication_id": publication.id,
        "brand_id": publication.brand_id,
        "title": publication.title,
        "publication_status": Status(publication.status),
        "scheduled_at": publication.scheduled_at,
        "round": round_.number,
        "round_status": RoundStatus(round_.status),
        "policy_name": round_.policy_name,
        "content_hash": round_.content_hash,
    }


def people_data(assignments: Sequence[ApprovalAssignment]) -> list[PersonData]:
    return [
        PersonData(user_id=a.user_id, kind=PersonKind(a.kind), name=a.name, escalated=a.escalated)
        for a in assignments
    ]


async def requested(
    session: AsyncSession,
    runtime: Runtime,
    publication: Publication,
    round_: ApprovalRound,
    step: ApprovalStep,
    assignments: Sequence[ApprovalAssignment],
) -> None:
    await emit(
        session,
        publication.agency_id,
        EventType.APPROVAL_REQUESTED,
        ApprovalRequested(
            **round_data(publication, round_),
            step=step_data(step),
            approvers=people_data(assignments),
        ),
        runtime.settings.webhooks,
    )
    brand = await BrandRepository(session, Subject(publication.agency_id, "system")).get(
        publication.brand_id
    )
    await mail_asked(
        session,
        runtime,
        brand,
        publication,
        round_.content_hash,
        step.position,
        step.name,
        step.due_at,
        assignments,
    )


async def decided(
    session: AsyncSession,
    runtime: Runtime,
    publication: Publication,
    round_: ApprovalRound,
    step: ApprovalStep,
    decision: ApprovalDecision,
) -> None:
    await emit(
        session,
        publication.agency_id,
        EventType.APPROVAL_DECIDED,
        ApprovalDecided(
            **round_data(publication, round_),
            step=step_data(step),
            decision=DecisionKind(decision.decision),
            comment=decision.comment,
            counted=decision.counted,
            by=DeciderData(
                user_id=decision.user_id,
                kind=PersonKind(decision.actor_kind),
                name=decision.name,
                via=decision.via,
            ),
        ),
        runtime.settings.webhooks,
    )
    brand = await BrandRepository(session, Subject(publication.agency_id, "system")).get(
        publication.brand_id
    )
    if brand.crisis_id is not None:  # the post-mortem reads every decision of the crisis
        session.add(
            crisis_event(
                publication.agency_id,
                brand.crisis_id,
                brand.id,
                "decided",
                actor=(decision.actor_kind, decision.user_id),
                actor_name=decision.name,
                publication_id=publication.id,
                decision=decision.decision,
                comment=decision.comment,
                counted=decision.counted,
                via=decision.via,
                policy=round_.policy_name,
            )
        )


async def overdue(
    session: AsyncSession,
    runtime: Runtime,
    publication: Publication,
    round_: ApprovalRound,
    reason: str,
    step: ApprovalStep | None = None,
    assignments: Sequence[ApprovalAssignment] = (),
) -> None:
    """``reason``: ``step_due`` (escalated to ``assignments``) or ``held`` (the
    publication's time came before its approval: not published)."""
    await emit(
        session,
        publication.agency_id,
        EventType.APPROVAL_OVERDUE,
        ApprovalOverdue(
            **round_data(publication, round_),
            reason=OverdueReason(reason),
            step=step_data(step) if step is not None else None,
            escalated_to=people_data(assignments),
        ),
        runtime.settings.webhooks,
    )
