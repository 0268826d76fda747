"""What approvals tell the outside: webhook events, and e-mails through the one mail path.

Everything here is written in the caller's transaction (the webhook outbox, the mail rows):
a rolled-back decision tells no one. ``approval.requested`` goes out when a step opens,
``approval.decided`` for every decision (counted or not), ``approval.overdue`` when a step's
due time passes or a publication's time comes before its approval.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from agency.approval.link.mailing import mail_asked
from agency.approval.models import (
    ApprovalAssignment,
    ApprovalDecision,
    ApprovalRound,
    ApprovalStep,
)
from agency.brand.crisis import crisis_event
from agency.brand.repository import BrandRepository
from agency.kernel.tenancy import Subject
from agency.publication.models import Publication
from agency.webhook.events import emit

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def step_data(step: ApprovalStep) -> dict[str, Any]:
    return {
        "position": step.position,
        "name": step.name,
        "rule": step.rule,
        "needed": step.needed,
        "approvals": step.approvals,
        "status": step.status,
        "due_at": _iso(step.due_at),
    }


def round_data(publication: Publication, round_: ApprovalRound) -> dict[str, Any]:
    return {
        "publication_id": str(publication.id),
        "brand_id": str(publication.brand_id),
        "title": publication.title,
        "publication_status": publication.status,
        "scheduled_at": _iso(publication.scheduled_at),
        "round": round_.number,
        "round_status": round_.status,
        "policy": round_.policy_name,
        "content_hash": round_.content_hash,
    }


def people_data(assignments: Sequence[ApprovalAssignment]) -> list[dict[str, Any]]:
    return [
        {"user_id": str(a.user_id), "kind": a.kind, "name": a.name, "escalated": a.escalated}
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
        "approval.requested",
        {
            **round_data(publication, round_),
            "step": step_data(step),
            "approvers": people_data(assignments),
        },
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
        "approval.decided",
        {
            **round_data(publication, round_),
            "step": step_data(step),
            "decision": decision.decision,
            "comment": decision.comment,
            "counted": decision.counted,
            "by": {
                "user_id": str(decision.user_id) if decision.user_id else None,
                "kind": decision.actor_kind,
                "name": decision.name,
                "via": decision.via,
            },
        },
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
        "approval.overdue",
        {
            **round_data(publication, round_),
            "reason": reason,
            "step": step_data(step) if step is not None else None,
            "escalated_to": people_data(assignments),
        },
        runtime.settings.webhooks,
    )
