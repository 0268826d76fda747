"""The approval engine as the publication state machine's ``ApprovalPolicy``.

A brand with approval policies has ``approval_policy = "routed"``: submitting or editing one
of its publications asks :class:`agency.approval.engine.Rounds`. The app assembly registers
it (``agency.publication.states.register_policy``); publication never imports approvals.
"""

from __future__ import annotations

from agency.approval.engine import Rounds
from agency.publication.states import CRISIS, Review, Status

ROUTED = "routed"


class RoutedApproval:
    name = ROUTED

    async def on_submit(self, review: Review) -> Status:
        return await Rounds(review.session, review.subject, review.runtime).submitted(review)

    async def on_edit(self, review: Review) -> Status:
        return await Rounds(review.session, review.subject, review.runtime).edited(review)


class CrisisApproval(RoutedApproval):
    """Every brand in crisis, whatever its own policy: the engine routes to the brand's
    decision makers (:func:`agency.approval.routing.crisis_policy`)."""

    name = CRISIS
