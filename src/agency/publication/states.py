"""The publication state machine, and the approval policy it consults.

Editorial states belong to the publication; delivery states to each variant (one per
channel), because networks succeed and fail independently. Once scheduled, the
publication's status is the summary of its variants'.

Approvals plug in through :class:`ApprovalPolicy`: the state machine asks the brand's
policy where a submitted publication goes and where a content edit sends one in review,
approved or scheduled. ``none`` (autonomous brands) approves on submit and keeps the
approval through an edit (re-approved by the editor); the approval engine
(``agency.approval``, installed by the app assembly with :func:`register_policy`) routes
the publication through its brand's steps. The policy is asked in two places:
``on_submit`` by :mod:`agency.publication.scheduling` (submit, and scheduling a draft),
``on_edit`` by :mod:`agency.publication.editing` (content of a publication in review,
approved or scheduled changed). The moves themselves go through
:class:`agency.publication.service.PublicationUseCase` (``enter``, ``place``,
``take_off``), so that they are versioned and audited as every other move.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from agency.kernel.errors import Conflict

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from agency.kernel.runtime import Runtime
    from agency.kernel.tenancy import Subject
    from agency.publication.models import Publication, Variant


class Status(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    FAILED = "failed"
    UNKNOWN = "unknown"
    MISSED = "missed"
    CANCELED = "canceled"


class Delivery(StrEnum):
    """A variant's own state on its channel."""

    PENDING = "pending"  # not on the calendar (publication not scheduled)
    SCHEDULED = "scheduled"
    PUBLISHING = "publishing"  # an attempt is committed; the network is being called
    PUBLISHED = "published"
    FAILED = "failed"
    UNKNOWN = "unknown"  # the call may have published: reconcile before anything else
    MISSED = "missed"  # later than the brand's grace after downtime
    CANCELED = "canceled"


class AttemptKind(StrEnum):
    PUBLISH = "publish"
    FIRST_COMMENT = "first_comment"
    RECONCILE = "reconcile"  # asking the network whether an unknown call published
    STAGE_MEDIA = "stage_media"  # uploading the media ahead of the post


class AttemptOutcome(StrEnum):
    PENDING = "pending"  # committed before the call; the network is being called
    PUBLISHED = "published"
    FAILED = "failed"
    RETRY = "retry"
    RATE_LIMITED = "rate_limited"
    HELD = "held"  # the channel needs reconnecting
    UNKNOWN = "unknown"  # timed out or crashed mid-call: reconciled next
    FOUND = "found"  # reconciliation found the post
    NOT_FOUND = "not_found"
    STAGED = "staged"  # the media were uploaded ahead; the post names them at its time


class Staging(StrEnum):
    """Where a variant's media uploaded ahead of its post are."""

    CLAIMED = "claimed"  # the scheduler handed it to a worker
    UPLOADING = "uploading"  # a worker is uploading (committed before the calls)
    STAGED = "staged"  # uploaded: the post names them, until they expire
    FAILED = "failed"  # tried again later, or reported: uploaded with the post then


class FirstCommentStatus(StrEnum):
    """Where a variant's first comment is, once its post is out."""

    HELD = "held"  # the brand went into crisis: it waits for a person's word
    PENDING = "pending"  # released by a person: the scheduler hands it to a worker
    POSTING = "posting"  # its call is on the wire (if the worker dies now: never re-sent)
    POSTED = "posted"
    FAILED = "failed"
    DISCARDED = "discarded"  # a person decided it should not go out


EDITABLE = frozenset({Status.DRAFT, Status.IN_REVIEW, Status.APPROVED, Status.SCHEDULED})
DELETABLE = frozenset({Status.DRAFT, Status.IN_REVIEW, Status.APPROVED, Status.CANCELED})
# Where a content edit asks the approval policy what becomes of the publication.
REVIEWED = frozenset({Status.IN_REVIEW, Status.APPROVED, Status.SCHEDULED})
CANCELABLE = frozenset({Status.DRAFT, Status.IN_REVIEW, Status.APPROVED, Status.SCHEDULED})
FINISHED = frozenset(
    {Delivery.PUBLISHED, Delivery.FAILED, Delivery.MISSED, Delivery.CANCELED, Delivery.UNKNOWN}
)

# Publication-level moves a user asks for; the pipeline moves the rest.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.DRAFT: frozenset({Status.IN_REVIEW, Status.APPROVED, Status.CANCELED}),
    Status.IN_REVIEW: frozenset({Status.DRAFT, Status.APPROVED, Status.CANCELED}),
    Status.APPROVED: frozenset({Status.DRAFT, Status.IN_REVIEW, Status.SCHEDULED, Status.CANCELED}),
    Status.SCHEDULED: frozenset(
        {Status.APPROVED, Status.IN_REVIEW, Status.DRAFT, Status.PUBLISHING, Status.CANCELED}
    ),
    Status.PUBLISHING: frozenset(
        {Status.PUBLISHED, Status.FAILED, Status.UNKNOWN, Status.MISSED, Status.CANCELED}
    ),
    Status.UNKNOWN: frozenset({Status.PUBLISHING, Status.PUBLISHED, Status.FAILED}),
    Status.PUBLISHED: frozenset(),
    Status.FAILED: frozenset(),
    Status.MISSED: frozenset(),
    Status.CANCELED: frozenset(),
}


def check_move(current: str, target: Status, what: str) -> None:
    if target not in TRANSITIONS[Status(current)]:
        raise Conflict(
            f"A publication that is {current.replace('_', ' ')} cannot be {what}.",
            status=current,
        )


@dataclass(frozen=True)
class Review:
    """What a policy is asked about: the publication (locked) and its variants, as they
    are now, in the caller's transaction."""

    session: AsyncSession
    subject: Subject
    runtime: Runtime
    publication: Publication
    variants: Sequence[Variant]


class ApprovalPolicy(Protocol):
    name: str

    async def on_submit(self, review: Review) -> Status:
        """Where a submitted draft goes: ``in_review`` or straight to ``approved``."""

    async def on_edit(self, review: Review) -> Status:
        """Where a content edit sends a publication that is in review, approved or scheduled
        (its status is still the one before the edit)."""


class NoApproval:
    """No validation step: content is approved when submitted; an edit stays approved."""

    name = "none"

    async def on_submit(self, review: Review) -> Status:
        return Status.APPROVED

    async def on_edit(self, review: Review) -> Status:
        return Status(review.publication.status)


POLICIES: dict[str, ApprovalPolicy] = {"none": NoApproval()}


def register_policy(policy: ApprovalPolicy) -> None:
    """Make ``policy`` available to brands whose ``approval_policy`` names it."""
    POLICIES[policy.name] = policy


# While a brand is in crisis, whatever its policy, the one registered under this name decides
# (agency.approval routes everything to the brand's decision makers; docs/crisis.md).
CRISIS = "crisis"


def policy_for(name: str, in_crisis: bool = False) -> ApprovalPolicy:
    if in_crisis and CRISIS in POLICIES:
        return POLICIES[CRISIS]
    return POLICIES.get(name, POLICIES["none"])


def summarize(deliveries: list[str]) -> Status:
    """A scheduled publication's status from its variants' states (the worst one wins)."""
    states = set(deliveries)
    if not states:
        return Status.SCHEDULED
    if states <= {Delivery.CANCELED}:
        return Status.CANCELED
    if Delivery.UNKNOWN in states:
        return Status.UNKNOWN
    if states & {Delivery.SCHEDULED, Delivery.PUBLISHING}:
        return (
            Status.PUBLISHING
            if Delivery.PUBLISHING in states or _some_done(states)
            else (Status.SCHEDULED)
        )
    if Delivery.FAILED in states:
        return Status.FAILED
    if Delivery.MISSED in states:
        return Status.MISSED
    return Status.PUBLISHED


def _some_done(states: set[str]) -> bool:
    return bool(states & {Delivery.PUBLISHED, Delivery.FAILED, Delivery.MISSED})
