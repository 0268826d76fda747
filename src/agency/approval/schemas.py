"""Request and response bodies of approvals: policies, decisions, comments, history."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import msgspec

from agency.access.permissions import Role
from agency.approval.models import ApprovalPolicy
from agency.brand.schemas import NetworkName, ReportingLine, Word
from agency.kernel.http import etag
from agency.kernel.schemas import Input, Output
from agency.publication.states import Status

PolicyName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
StepName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Minutes = Annotated[int, msgspec.Meta(ge=0, le=43200, description="Minutes (at most 30 days).")]
ContentHash = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[0-9a-f]{64}$",
        description="The exact version decided on: the `content_hash` of the publication's "
        "current approval round (GET /publications/{id}/approvals).",
    ),
]
Comment = Annotated[str, msgspec.Meta(min_length=1, max_length=5000)]


class StepRule(StrEnum):
    ANY = "any"  # one approval settles the step
    ALL = "all"  # every person asked when the step opened
    COUNT = "count"  # ``count`` of them


class RoundStatus(StrEnum):
    OPEN = "open"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"  # the content was edited: a new round decides
    CLOSED = "closed"


class StepStatus(StrEnum):
    WAITING = "waiting"
    OPEN = "open"
    APPROVED = "approved"
    CHANGES_REQUESTED = "changes_requested"
    REJECTED = "rejected"
    SKIPPED = "skipped"
    KEPT = "kept"  # approved in an earlier round, and not asked again after an edit
    SUPERSEDED = "superseded"


class PersonKind(StrEnum):
    """Who is asked or decides: agency staff, or a client member of the brand."""

    STAFF = "staff"
    CLIENT = "client"


class DecisionKind(StrEnum):
    APPROVE = "approve"
    REQUEST_CHANGES = "request_changes"
    REJECT = "reject"


class RoutingConditions(Input):
    """Each condition given must hold; a list holds when any one of its values does."""

    reporting_lines: Annotated[list[ReportingLine], msgspec.Meta(max_length=4)] = []
    networks: Annotated[list[NetworkName], msgspec.Meta(max_length=20)] = []
    campaigns: Annotated[list[Word], msgspec.Meta(max_length=50)] = []
    tags: Annotated[list[Word], msgspec.Meta(max_length=50)] = []
    has_video: bool | None = None
    has_link: bool | None = None
    is_reply: bool | None = None

    def empty(self) -> bool:
        return self == RoutingConditions()


class StepApprovers(Input):
    """Agency members by role, and the brand's client members by reporting line (those
    holding the client permission ``approve``)."""

    roles: Annotated[list[Role], msgspec.Meta(max_length=5)] = []
    reporting_lines: Annotated[list[ReportingLine], msgspec.Meta(max_length=4)] = []

    def empty(self) -> bool:
        return not self.roles and not self.reporting_lines


class ApprovalStepIn(Input):
    name: StepName
    approvers: StepApprovers
    rule: StepRule = StepRule.ANY
    count: Annotated[int, msgspec.Meta(ge=1, le=50)] | None = None
    applies_when: Annotated[
        RoutingConditions | None,
        msgspec.Meta(description="Only when the publication matches (else the step is skipped)."),
    ] = None
    due_minutes_before: Annotated[
        Minutes | None,
        msgspec.Meta(description="Decided this long before the publication's time, at the latest."),
    ] = None
    remind_minutes_before: Annotated[
        Minutes | None, msgspec.Meta(description="A reminder this long before the step's due time.")
    ] = None
    escalate_to: Annotated[
        StepApprovers | None,
        msgspec.Meta(
            description="Who may decide once the step is overdue (default: the brand's general "
            "management, or the agency's managers when the step was theirs)."
        ),
    ] = None
    again_after_edit: Annotated[
        bool,
        msgspec.Meta(
            description="After an edit, this step decides again (true), or keeps its approval "
            "of the earlier version (false: the history says so)."
        ),
    ] = True


Steps = Annotated[list[ApprovalStepIn], msgspec.Meta(max_length=10)]
Priority = Annotated[int, msgspec.Meta(ge=0, le=10000)]


class ApprovalPolicyCreate(Input):
    name: PolicyName
    description: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    is_default: bool = False
    priority: Priority = 100
    conditions: RoutingConditions = msgspec.field(default_factory=RoutingConditions)
    steps: Steps = []


class ApprovalPolicyUpdate(Input):
    name: PolicyName | msgspec.UnsetType = msgspec.UNSET
    description: Annotated[str, msgspec.Meta(max_length=2000)] | msgspec.UnsetType = msgspec.UNSET
    is_default: bool | msgspec.UnsetType = msgspec.UNSET
    priority: Priority | msgspec.UnsetType = msgspec.UNSET
    conditions: RoutingConditions | msgspec.UnsetType = msgspec.UNSET
    steps: Steps | msgspec.UnsetType = msgspec.UNSET


class ApprovalPolicyOut(Output):
    id: uuid.UUID
    brand_id: uuid.UUID
    name: str
    description: str
    is_default: bool
    priority: int
    conditions: dict[str, Any]
    steps: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime | None
    version: int
    # What an edit sends in If-Match (the ETag its GET answers with), so a list can edit.
    etag: str

    @classmethod
    def of(cls, p: ApprovalPolicy) -> ApprovalPolicyOut:
        return cls(
            etag=etag(p.version),
            id=p.id,
            brand_id=p.brand_id,
            name=p.name,
            description=p.description,
            is_default=p.is_default,
            priority=p.priority,
            conditions=dict(p.conditions),
            steps=[dict(s) for s in p.steps],
            created_at=p.created_at,
            updated_at=p.updated_at,
            version=p.version,
        )


class ApprovalPolicyList(Output):
    items: list[ApprovalPolicyOut]


class DecisionIn(Input):
    decision: DecisionKind
    content_hash: ContentHash
    step: (
        Annotated[
            int,
            msgspec.Meta(
                ge=0,
                le=9,
                description="The step decided on (its position, as read). A decision for a "
                "step settled in the meantime is recorded, not counted. Default: the open step.",
            ),
        ]
        | None
    ) = None
    comment: Annotated[
        Comment | None, msgspec.Meta(description="Required to request changes or to reject.")
    ] = None


class BulkApproveItem(Input):
    publication_id: uuid.UUID
    content_hash: ContentHash


class BulkApproveIn(Input):
    items: Annotated[list[BulkApproveItem], msgspec.Meta(min_length=1, max_length=100)]
    comment: Comment | None = None


class ApprovalCommentIn(Input):
    body: Comment
    parent_id: uuid.UUID | None = None
    channel_id: Annotated[
        uuid.UUID | None, msgspec.Meta(description="The variant (by channel) the quote is in.")
    ] = None
    quote: (
        Annotated[
            str,
            msgspec.Meta(
                min_length=1, max_length=2000, description="The passage of the text commented on."
            ),
        ]
        | None
    ) = None


# -- answers ---------------------------------------------------------------------------------


class ApproverOut(Output):
    user_id: uuid.UUID
    name: str
    kind: PersonKind
    reason: str
    escalated: bool


class DecisionOut(Output):
    id: uuid.UUID
    publication_id: uuid.UUID
    round: int
    step: str
    decision: DecisionKind
    comment: str | None
    content_hash: str
    user_id: uuid.UUID | None
    name: str
    actor_kind: PersonKind
    counted: bool
    via: str
    decided_at: datetime


class ApprovalStepOut(Output):
    position: int
    name: str
    rule: StepRule
    needed: int
    approvals: int
    status: StepStatus
    due_at: datetime | None
    remind_at: datetime | None
    reminded_at: datetime | None
    escalated_at: datetime | None
    opened_at: datetime | None
    closed_at: datetime | None
    kept_from_round: int | None
    assignees: list[ApproverOut]
    decisions: list[DecisionOut]


class ApprovalRoundOut(Output):
    number: int
    status: RoundStatus
    policy_id: uuid.UUID | None
    policy_name: str
    routed_by: str
    content_hash: str
    publication_version: int
    current_step: int | None
    opened_at: datetime
    closed_at: datetime | None
    held_at: datetime | None
    steps: list[ApprovalStepOut]


class ApprovalHistory(Output):
    """Every round of a publication, newest first: who, when, which version, what was said."""

    publication_id: uuid.UUID
    status: Status
    content_hash: str
    rounds: list[ApprovalRoundOut]


class DecisionResult(Output):
    decision: DecisionOut
    publication_status: Status
    round_status: RoundStatus
    current_step: int | None


class BulkApproveProblem(Output):
    status: int
    title: str
    detail: str


class BulkApproveResult(Output):
    publication_id: uuid.UUID
    ok: bool
    result: DecisionResult | None = None
    problem: BulkApproveProblem | None = None


class BulkApproveResults(Output):
    items: list[BulkApproveResult]


class PendingStepOut(Output):
    """A step waiting for decisions."""

    publication_id: uuid.UUID
    brand_id: uuid.UUID
    title: str
    scheduled_at: datetime | None
    round: int
    content_hash: str
    step: str
    position: int
    rule: StepRule
    needed: int
    approvals: int
    due_at: datetime | None
    opened_at: datetime | None


class PendingStepPage(Output):
    items: list[PendingStepOut]
    next_cursor: str | None


class ApprovalRouteStepOut(Output):
    position: int
    name: str
    applies: bool


class ApprovalRouteOut(Output):
    """Which policy the publication would go through now, and which of its steps apply."""

    policy_id: uuid.UUID | None
    policy_name: str
    routed_by: str
    steps: list[ApprovalRouteStepOut]


class ApprovalCommentOut(Output):
    id: uuid.UUID
    parent_id: uuid.UUID | None
    content_hash: str
    publication_version: int
    channel_id: uuid.UUID | None
    quote: str | None
    body: str
    user_id: uuid.UUID | None
    name: str
    actor_kind: PersonKind
    created_at: datetime


class ApprovalCommentList(Output):
    items: list[ApprovalCommentOut]
