from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from agency.access.permissions import Permission
from agency.approval.deciding import Outcome
from agency.approval.models import ApprovalAssignment, ApprovalDecision, ApprovalStep
from agency.approval.schemas import (
    ApprovalCommentIn,
    ApprovalCommentList,
    ApprovalCommentOut,
    ApprovalHistory,
    ApprovalPolicyCreate,
    ApprovalPolicyList,
    ApprovalPolicyOut,
    ApprovalPolicyUpdate,
    ApprovalRoundOut,
    ApprovalRouteOut,
    ApprovalRouteStepOut,
    ApprovalStepOut,
    ApproverOut,
    BulkApproveIn,
    BulkApproveProblem,
    BulkApproveResult,
    BulkApproveResults,
    DecisionIn,
    DecisionKind,
    DecisionOut,
    DecisionResult,
    PendingStepOut,
    PendingStepPage,
    PersonKind,
    RoundStatus,
    StepRule,
    StepStatus,
)
from agency.approval.service import ApprovalPolicyService, ApprovalService
from agency.kernel.deps import (
    CurrentSubject,
    IfMatch,
    Paging,
    provide_runtime_service,
    provide_service,
)
from agency.kernel.http import etag
from agency.publication.states import Status

READ_BRANDS = {"permission": Permission.BRANDS_READ}
WRITE_BRANDS = {"permission": Permission.BRANDS_WRITE}
# Who decides or comments is the engine's question (the policy's steps), not a role's.
READ = {"permission": Permission.PUBLICATIONS_READ}


def _policy(policy: Any, status_code: int = 200) -> Response[ApprovalPolicyOut]:
    return Response(
        ApprovalPolicyOut.of(policy),
        status_code=status_code,
        headers={"ETag": etag(policy.version)},
    )


class BrandApprovalPolicyController(Controller):
    path = "/brands/{brand_id:uuid}/approval-policies"
    tags = ["Approvals"]
    dependencies = {"policies": provide_service(ApprovalPolicyService)}

    @post(opt=WRITE_BRANDS, summary="Add an approval policy to a brand (steps and routing)")
    async def create_approval_policy(
        self,
        brand_id: FromPath[uuid.UUID],
        data: JSONBody[ApprovalPolicyCreate],
        policies: NamedDependency[ApprovalPolicyService],
    ) -> Response[ApprovalPolicyOut]:
        return _policy(await policies.create(brand_id, data), 201)

    @get(opt=READ_BRANDS, summary="A brand's approval policies, in routing order")
    async def list_approval_policies(
        self, brand_id: FromPath[uuid.UUID], policies: NamedDependency[ApprovalPolicyService]
    ) -> ApprovalPolicyList:
        return ApprovalPolicyList(
            items=[ApprovalPolicyOut.of(p) for p in await policies.list(brand_id)]
        )


class ApprovalPolicyController(Controller):
    path = "/approval-policies"
    tags = ["Approvals"]
    dependencies = {"policies": provide_service(ApprovalPolicyService)}

    @get("/{policy_id:uuid}", opt=READ_BRANDS, summary="An approval policy")
    async def get_approval_policy(
        self, policy_id: FromPath[uuid.UUID], policies: NamedDependency[ApprovalPolicyService]
    ) -> Response[ApprovalPolicyOut]:
        return _policy(await policies.get(policy_id))

    @patch(
        "/{policy_id:uuid}",
        opt=WRITE_BRANDS,
        summary="Change an approval policy (rounds under way keep the steps they started with)",
    )
    async def update_approval_policy(
        self,
        policy_id: FromPath[uuid.UUID],
        data: JSONBody[ApprovalPolicyUpdate],
        policies: NamedDependency[ApprovalPolicyService],
        if_match: IfMatch,
    ) -> Response[ApprovalPolicyOut]:
        return _policy(await policies.update(policy_id, data, if_match))

    @delete("/{policy_id:uuid}", opt=WRITE_BRANDS, summary="Remove an approval policy")
    async def delete_approval_policy(
        self, policy_id: FromPath[uuid.UUID], policies: NamedDependency[ApprovalPolicyService]
    ) -> None:
        await policies.delete(policy_id)


def _decision(d: ApprovalDecision, round_number: int, step: str) -> DecisionOut:
    return DecisionOut(
        id=d.id,
        publication_id=d.publication_id,
        round=round_number,
        step=step,
        decision=DecisionKind(d.decision),
        comment=d.comment,
        content_hash=d.content_hash,
        user_id=d.user_id,
        name=d.name,
        actor_kind=PersonKind(d.actor_kind),
        counted=d.counted,
        via=d.via,
        decided_at=d.created_at,
    )


def _result(outcome: Outcome) -> DecisionResult:
    return DecisionResult(
        decision=_decision(outcome.decision, outcome.round.number, outcome.step.name),
        publication_status=Status(outcome.publication.status),
        round_status=RoundStatus(outcome.round.status),
        current_step=outcome.round.current_step,
    )


def _steps(
    steps: list[ApprovalStep],
    assignments: list[ApprovalAssignment],
    decisions: list[ApprovalDecision],
    round_number: int,
    numbers: dict[uuid.UUID, int],
    kept_rounds: dict[uuid.UUID, uuid.UUID],
) -> list[ApprovalStepOut]:
    return [
        ApprovalStepOut(
            position=s.position,
            name=s.name,
            rule=StepRule(s.rule),
            needed=s.needed,
            approvals=s.approvals,
            status=StepStatus(s.status),
            due_at=s.due_at,
            remind_at=s.remind_at,
            reminded_at=s.reminded_at,
            escalated_at=s.escalated_at,
            opened_at=s.opened_at,
            closed_at=s.closed_at,
            kept_from_round=numbers.get(kept_rounds.get(s.kept_from, uuid.UUID(int=0)))
            if s.kept_from
            else None,
            assignees=[
                ApproverOut(
                    user_id=a.user_id,
                    name=a.name,
                    kind=PersonKind(a.kind),
                    reason=a.reason,
                    escalated=a.escalated,
                )
                for a in assignments
                if a.step_id == s.id
            ],
            decisions=[_decision(d, round_number, s.name) for d in decisions if d.step_id == s.id],
        )
        for s in steps
    ]


class ApprovalController(Controller):
    path = "/approvals"
    tags = ["Approvals"]
    dependencies = {"approvals": provide_runtime_service(ApprovalService)}

    @get(opt=READ, summary="Steps waiting for decisions (mine=true: those asking me), all brands")
    async def list_pending_approvals(
        self,
        approvals: NamedDependency[ApprovalService],
        page: Paging,
        mine: Annotated[
            bool, QueryParameter(description="Only the steps that ask me to decide.")
        ] = False,
        brand_id: Annotated[uuid.UUID | None, QueryParameter(description="Of one brand.")] = None,
    ) -> PendingStepPage:
        rows, cursor = await approvals.pending(page, mine, brand_id)
        return PendingStepPage(
            items=[
                PendingStepOut(
                    publication_id=p.id,
                    brand_id=p.brand_id,
                    title=p.title,
                    scheduled_at=p.scheduled_at,
                    round=r.number,
                    content_hash=r.content_hash,
                    step=s.name,
                    position=s.position,
                    rule=StepRule(s.rule),
                    needed=s.needed,
                    approvals=s.approvals,
                    due_at=s.due_at,
                    opened_at=s.opened_at,
                )
                for s, r, p in rows
            ],
            next_cursor=cursor,
        )

    @post(
        "/bulk-approve",
        operation_id="approveInBulk",
        opt=READ,
        status_code=200,
        summary="Approve several publications at once, each checked as if alone",
    )
    async def bulk_approve(
        self, data: JSONBody[BulkApproveIn], approvals: NamedDependency[ApprovalService]
    ) -> BulkApproveResults:
        items = []
        for publication_id, found in await approvals.bulk_approve(data):
            if isinstance(found, Outcome):
                items.append(
                    BulkApproveResult(publication_id=publication_id, ok=True, result=_result(found))
                )
            else:
                problem = BulkApproveProblem(
                    status=found.status_code, title=found.title, detail=str(found.detail)
                )
                items.append(
                    BulkApproveResult(publication_id=publication_id, ok=False, problem=problem)
                )
        return BulkApproveResults(items=items)


class PublicationApprovalController(Controller):
    path = "/publications/{publication_id:uuid}"
    tags = ["Approvals"]
    dependencies = {"approvals": provide_runtime_service(ApprovalService)}

    @get("/approvals", opt=READ, summary="Every approval round: who, when, which version, what")
    async def get_approval_history(
        self, publication_id: FromPath[uuid.UUID], approvals: NamedDependency[ApprovalService]
    ) -> ApprovalHistory:
        found = await approvals.history(publication_id)
        numbers = {r.id: r.number for r in found["rounds"]}
        kept_rounds = {s.id: s.round_id for s in found["steps"]}
        rounds = [
            ApprovalRoundOut(
                number=r.number,
                status=RoundStatus(r.status),
                policy_id=r.policy_id,
                policy_name=r.policy_name,
                routed_by=r.routed_by,
                content_hash=r.content_hash,
                publication_version=r.publication_version,
                current_step=r.current_step,
                opened_at=r.created_at,
                closed_at=r.closed_at,
                held_at=r.held_at,
                steps=_steps(
                    [s for s in found["steps"] if s.round_id == r.id],
                    found["assignments"],
                    [d for d in found["decisions"] if d.round_id == r.id],
                    r.number,
                    numbers,
                    kept_rounds,
                ),
            )
            for r in found["rounds"]
        ]
        publication = found["publication"]
        return ApprovalHistory(
            publication_id=publication.id,
            status=Status(publication.status),
            content_hash=found["content_hash"],
            rounds=rounds,
        )

    @get(
        "/approval-route",
        opt=READ,
        summary="Which approval policy the publication goes through as it is now, and its steps",
    )
    async def get_approval_route(
        self, publication_id: FromPath[uuid.UUID], approvals: NamedDependency[ApprovalService]
    ) -> ApprovalRouteOut:
        found = await approvals.route_preview(publication_id)
        policy = found["policy"]
        return ApprovalRouteOut(
            policy_id=policy.id if policy else None,
            policy_name=policy.name if policy else "none",
            routed_by=found["routed_by"],
            steps=[
                ApprovalRouteStepOut(position=i, name=n, applies=a) for i, n, a in found["steps"]
            ],
        )

    @post(
        "/decisions",
        opt=READ,
        summary="Approve, request changes or reject the exact version read (content_hash)",
    )
    async def decide(
        self,
        publication_id: FromPath[uuid.UUID],
        data: JSONBody[DecisionIn],
        approvals: NamedDependency[ApprovalService],
        subject: CurrentSubject,
    ) -> Response[DecisionResult]:
        outcome = await approvals.decide(
            subject, publication_id, data.content_hash, data.decision, data.comment, step=data.step
        )
        return Response(_result(outcome), status_code=201)

    @get("/comments", opt=READ, summary="Comments on the publication's versions, oldest first")
    async def list_comments(
        self, publication_id: FromPath[uuid.UUID], approvals: NamedDependency[ApprovalService]
    ) -> ApprovalCommentList:
        return ApprovalCommentList(
            items=[_comment(c) for c in await approvals.comments_of(publication_id)]
        )

    @post("/comments", opt=READ, summary="Comment on the current version (optionally quoting it)")
    async def add_comment(
        self,
        publication_id: FromPath[uuid.UUID],
        data: JSONBody[ApprovalCommentIn],
        approvals: NamedDependency[ApprovalService],
    ) -> Response[ApprovalCommentOut]:
        return Response(_comment(await approvals.comment(publication_id, data)), status_code=201)


def _comment(c: Any) -> ApprovalCommentOut:
    return ApprovalCommentOut(
        id=c.id,
        parent_id=c.parent_id,
        content_hash=c.content_hash,
        publication_version=c.publication_version,
        channel_id=c.channel_id,
        quote=c.quote,
        body=c.body,
        user_id=c.user_id,
        name=c.name,
        actor_kind=PersonKind(c.actor_kind),
        created_at=c.created_at,
    )


ROUTES: list[Any] = [
    BrandApprovalPolicyController,
    ApprovalPolicyController,
    ApprovalController,
    PublicationApprovalController,
]
