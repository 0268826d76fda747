"""The publication state machine, and the approval policy it consults.

Editorial states belong to the publication; delivery states to each variant (one per
channel), because networks succeed and fail independently. Once scheduled, the
publication's status is the summary of its variants'.

Approvals plug in through :class:`ApprovalPolicy`: the state machine asks the brand's
policy where a submitted publication goes and where an edit sends an approved one. Until
the approvals issue lands every brand has the ``none`` policy: approved on submit, and an
edit keeps the approval (re-approved by the editor).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from agency.kernel.errors import Conflict


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


EDITABLE = frozenset({Status.DRAFT, Status.IN_REVIEW, Status.APPROVED, Status.SCHEDULED})
DELETABLE = frozenset({Status.DRAFT, Status.IN_REVIEW, Status.APPROVED, Status.CANCELED})
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


class ApprovalPolicy(Protocol):
    name: str

    def on_submit(self) -> Status:
        """Where a submitted draft goes: ``in_review`` or straight to ``approved``."""

    def on_edit(self, current: Status) -> Status:
        """Where an edit sends a publication that is approved or scheduled."""


class NoApproval:
    """No validation step: content is approved when submitted; an edit stays approved."""

    name = "none"

    def on_submit(self) -> Status:
        return Status.APPROVED

    def on_edit(self, current: Status) -> Status:
        return current


POLICIES: dict[str, ApprovalPolicy] = {"none": NoApproval()}


def policy_for(name: str) -> ApprovalPolicy:
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
