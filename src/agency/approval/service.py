"""Approval policies of a brand (brand settings), and what the API reads and asks of
approvals: history, pending steps, routing previews, decisions, comments."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from agency.access.client_permissions import ClientPermission
from agency.access.permissions import Permission
from agency.approval.deciding import Decider, Outcome
from agency.approval.models import ApprovalComment, ApprovalPolicy, ApprovalStep
from agency.approval.people import People, Person
from agency.approval.plug import ROUTED
from agency.approval.repository import (
    AssignmentRepository,
    CommentRepository,
    DecisionRepository,
    PeopleRepository,
    PolicyRepository,
    RoundRepository,
    StepRepository,
)
from agency.approval.routing import applies, content_hash, facts_of, route
from agency.approval.schemas import (
    ApprovalCommentIn,
    ApprovalPolicyCreate,
    ApprovalPolicyUpdate,
    ApprovalStepIn,
    BulkApproveIn,
    DecisionKind,
    RoutingConditions,
)
from agency.audit.repository import AuditRepository
from agency.brand.repository import BrandRepository
from agency.client.models import ClientMember
from agency.kernel.db import utcnow
from agency.kernel.errors import AppError, Forbidden, InvalidInput
from agency.kernel.http import check_if_match
from agency.kernel.pagination import PageRequest
from agency.kernel.tenancy import Subject
from agency.publication.models import Publication, Variant
from agency.publication.repository import PublicationRepository, VariantRepository
from agency.publication.states import NoApproval

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime


def _plain(value: Any) -> Any:
    return msgspec.to_builtins(value)


def _check_policy(
    is_default: bool, conditions: RoutingConditions, steps: Sequence[ApprovalStepIn]
) -> None:
    """Each rule a policy must keep, every problem listed (422)."""
    errors = []
    if is_default and not conditions.empty():
        errors.append(
            {
                "field": "conditions",
                "message": "the default applies when no routed policy does: it has no conditions",
            }
        )
    if not is_default and conditions.empty():
        errors.append(
            {
                "field": "conditions",
                "message": "a routed policy needs a condition (or make it the default)",
            }
        )
    for index, step in enumerate(steps):
        where = f"steps[{index}]"
        if step.approvers.empty():
            errors.append({"field": f"{where}.approvers", "message": "name roles or lines"})
        if (step.rule == "count") != (step.count is not None):
            errors.append(
                {"field": f"{where}.count", "message": "count goes with rule 'count', only"}
            )
        if step.remind_minutes_before is not None and step.due_minutes_before is None:
            errors.append(
                {
                    "field": f"{where}.remind_minutes_before",
                    "message": "a reminder needs a due time",
                }
            )
        if step.escalate_to is not None and step.escalate_to.empty():
            errors.append({"field": f"{where}.escalate_to", "message": "name roles or lines"})
    names = [s.name for s in steps]
    if len(set(names)) != len(names):
        errors.append({"field": "steps", "message": "step names are unique within a policy"})
    if steps and not any(s.again_after_edit for s in steps):
        errors.append(
            {"field": "steps", "message": "after an edit, at least one step decides again"}
        )
    if errors:
        raise InvalidInput("This approval policy cannot be saved as sent.", errors=errors)


class ApprovalPolicyService:
    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.session = session
        self.subject = subject
        self.repo = PolicyRepository(session, subject)
        self.brands = BrandRepository(session, subject)
        self.audit = AuditRepository(session, subject)

    async def list(self, brand_id: uuid.UUID) -> list[ApprovalPolicy]:
        await self.brands.get(brand_id)
        return await self.repo.of_brand(brand_id)

    async def get(self, policy_id: uuid.UUID) -> ApprovalPolicy:
        return await self.repo.get(policy_id)

    async def create(self, brand_id: uuid.UUID, data: ApprovalPolicyCreate) -> ApprovalPolicy:
        brand = await self.brands.get(brand_id)
        _check_policy(data.is_default, data.conditions, data.steps)
        policy = ApprovalPolicy(
            brand_id=brand.id,
            name=data.name,
            description=data.description,
            is_default=data.is_default,
            priority=data.priority,
            conditions=_plain(data.conditions),
            steps=_plain(data.steps),
        )
        await self._no_second_default(policy)
        await self.repo.add(policy, conflict=f"The brand already has a policy named '{data.name}'.")
        if brand.approval_policy != ROUTED:
            brand.approval_policy = ROUTED
        await self.repo.flush()
        self.audit.record(
            "approval_policy.created", "approval_policy", policy.id, {"brand_id": str(brand.id)}
        )
        return policy

    async def update(
        self, policy_id: uuid.UUID, data: ApprovalPolicyUpdate, if_match: str | None
    ) -> ApprovalPolicy:
        policy = await self.repo.get(policy_id)
        check_if_match(if_match, policy.version)
        fields = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        is_default = fields.get("is_default", policy.is_default)
        conditions = fields.get("conditions") or msgspec.convert(
            policy.conditions, RoutingConditions
        )
        steps = fields.get("steps")
        if steps is None:
            steps = msgspec.convert(policy.steps, list[ApprovalStepIn])
        _check_policy(is_default, conditions, steps)
        changed = []
        for name, value in fields.items():
            value = _plain(value)
            if getattr(policy, name) != value:
                setattr(policy, name, value)
                changed.append(name)
        if not changed:
            return policy
        policy.updated_at = utcnow()
        await self._no_second_default(policy)
        await self.repo.flush(conflict="The brand already has a policy with this name.")
        self.audit.record(
            "approval_policy.updated", "approval_policy", policy.id, {"fields": sorted(changed)}
        )
        return policy

    async def delete(self, policy_id: uuid.UUID) -> None:
        """Rounds under way keep going (they copied the steps); new ones route without it."""
        policy = await self.repo.get(policy_id)
        await self.repo.delete(policy.id)
        if not await self.repo.of_brand(policy.brand_id):
            brand = await self.brands.get(policy.brand_id)
            brand.approval_policy = NoApproval.name
            await self.repo.flush()
        self.audit.record("approval_policy.deleted", "approval_policy", policy.id, {})

    async def _no_second_default(self, policy: ApprovalPolicy) -> None:
        if not policy.is_default:
            return
        others = [p for p in await self.repo.of_brand(policy.brand_id) if p.id != policy.id]
        if any(p.is_default for p in others):
            raise InvalidInput(
                "The brand already has a default policy; one default per brand.",
                errors=[{"field": "is_default", "message": "another policy is the default"}],
            )


class ApprovalService:
    def __init__(self, session: AsyncSession, subject: Subject, runtime: Runtime) -> None:
        self.session = session
        self.subject = subject
        self.runtime = runtime
        self.publications = PublicationRepository(session, subject)
        self.rounds = RoundRepository(session, subject)
        self.steps = StepRepository(session, subject)
        self.assignments = AssignmentRepository(session, subject)
        self.decisions = DecisionRepository(session, subject)
        self.comments = CommentRepository(session, subject)

    # -- deciding ----------------------------------------------------------------------------

    async def decide(
        self,
        who: Subject | ClientMember,
        publication_id: uuid.UUID,
        version: str,
        decision: DecisionKind,
        comment: str | None,
        via: str = "api",
        step: int | None = None,
    ) -> Outcome:
        """``who`` (a signed-in subject, or a client member's place) decides on the
        publication as it reads at ``version`` (its content hash). See
        :mod:`agency.approval.deciding` for every refusal."""
        return await Decider(self.session, self.subject, self.runtime).decide(
            who, publication_id, version, decision, comment, via, step
        )

    async def bulk_approve(self, data: BulkApproveIn) -> list[tuple[uuid.UUID, Outcome | AppError]]:
        """Approve each publication as its own decision, all checks included: one refused
        changes nothing of it, and nothing of the others."""
        results: list[tuple[uuid.UUID, Outcome | AppError]] = []
        decider = Decider(self.session, self.subject, self.runtime)
        for item in data.items:
            try:
                async with self.session.begin_nested():
                    outcome = await decider.decide(
                        self.subject,
                        item.publication_id,
                        item.content_hash,
                        DecisionKind.APPROVE,
                        data.comment,
                    )
            except AppError as exc:
                results.append((item.publication_id, exc))
                continue
            results.append((item.publication_id, outcome))
        return results

    # -- reading -----------------------------------------------------------------------------

    async def history(self, publication_id: uuid.UUID) -> dict[str, Any]:
        publication = await self.publications.get(publication_id)
        variants = await VariantRepository(self.session, self.subject).of_publication(
            publication.id
        )
        rounds = await self.rounds.of_publication(publication.id)
        ids = [r.id for r in rounds]
        steps = await self.steps.of_rounds(ids)
        return {
            "publication": publication,
            "content_hash": content_hash(variants),
            "rounds": rounds,
            "steps": steps,
            "assignments": await self.assignments.of_steps([s.id for s in steps]),
            "decisions": await self.decisions.of_rounds(ids),
        }

    async def pending(
        self, page: PageRequest, mine: bool, brand_id: uuid.UUID | None
    ) -> tuple[list[tuple[ApprovalStep, Any, Publication]], str | None]:
        if mine and self.subject.user_id is None:
            raise Forbidden("`mine` needs a person signed in; an API token decides nothing.")
        user_id = self.subject.user_id if mine else None
        named = await self._naming_me_now(brand_id, user_id) if user_id else []
        stmt = self.steps.pending(brand_id, user_id, named)
        steps, cursor = await self.steps.page(page, stmt)
        context = await self.steps.context_of(steps)
        return [(s, *context[s.round_id]) for s in steps if s.round_id in context], cursor

    async def _naming_me_now(
        self, brand_id: uuid.UUID | None, user_id: uuid.UUID
    ) -> list[uuid.UUID]:
        """Open steps that did not ask me when they opened but name me now (I joined, or
        was given the role, line or ``approve`` since): I may decide them, as the decision
        itself allows; not those of content I wrote, nor of a version I decided on."""
        candidates = await self.steps.open_not_asking(brand_id, user_id)
        if not candidates:
            return []
        people = People(
            PeopleRepository(
                self.session,
                Subject(self.subject.agency_id, "system", app_filter=self.subject.app_filter),
            )
        )
        decided = {
            d.round_id
            for d in await self.decisions.of_rounds(list({r.id for _, r in candidates}))
            if d.user_id == user_id
        }
        me: dict[uuid.UUID, Person | None] = {}
        named: list[uuid.UUID] = []
        for step, round_ in candidates:
            if str(user_id) in round_.authors or round_.id in decided:
                continue
            if step.brand_id not in me:
                try:
                    me[step.brand_id] = await people.of(self.subject, step.brand_id, "en")
                except Forbidden:
                    me[step.brand_id] = None
            person = me[step.brand_id]
            if person is not None and person.reason_for(step.definition["approvers"]):
                named.append(step.id)
        return named

    async def route_preview(self, publication_id: uuid.UUID) -> dict[str, Any]:
        publication = await self.publications.get(publication_id)
        variants = await VariantRepository(self.session, self.subject).of_publication(
            publication.id
        )
        inside = Subject(self.subject.agency_id, "system", app_filter=self.subject.app_filter)
        kinds = await PeopleRepository(self.session, inside).media_kinds(
            [m for v in variants for m in v.media_ids]
        )
        facts = facts_of(publication, variants, kinds)
        policies = await PolicyRepository(self.session, inside).of_brand(publication.brand_id)
        policy, why = route(policies, facts)
        return {
            "policy": policy,
            "routed_by": why,
            "steps": [(i, s["name"], applies(s, facts)) for i, s in enumerate(policy.steps)]
            if policy
            else [],
        }

    # -- comments ----------------------------------------------------------------------------

    async def comments_of(self, publication_id: uuid.UUID) -> list[ApprovalComment]:
        await self.publications.get(publication_id)
        return await self.comments.of_publication(publication_id)

    async def comment(self, publication_id: uuid.UUID, data: ApprovalCommentIn) -> ApprovalComment:
        publication = await self.publications.get(publication_id)
        variants = await VariantRepository(self.session, self.subject).of_publication(
            publication.id
        )
        name, kind = await self._commenter(publication)
        errors = []
        if data.parent_id is not None:
            parent = await self.comments.find(data.parent_id)
            if parent is None or parent.publication_id != publication.id:
                errors.append(
                    {"field": "parent_id", "message": "no such comment on this publication"}
                )
        texts = _texts(variants, data.channel_id)
        if data.channel_id is not None and not texts:
            errors.append({"field": "channel_id", "message": "no variant on this channel"})
        elif data.quote is not None and not any(data.quote in t for t in texts):
            errors.append(
                {"field": "quote", "message": "not in the text of this version (quote it exactly)"}
            )
        if errors:
            raise InvalidInput("This comment cannot be saved as sent.", errors=errors)
        assert self.subject.user_id is not None
        comment = ApprovalComment(
            brand_id=publication.brand_id,
            publication_id=publication.id,
            parent_id=data.parent_id,
            content_hash=content_hash(variants),
            publication_version=publication.version,
            channel_id=data.channel_id,
            quote=data.quote,
            body=data.body,
            user_id=self.subject.user_id,
            actor_kind=kind,
            name=name,
        )
        await self.comments.add(comment)
        AuditRepository(self.session, self.subject).record(
            "approval.commented", "publication", publication.id, {"comment_id": str(comment.id)}
        )
        return comment

    async def _commenter(self, publication: Publication) -> tuple[str, str]:
        """Staff who write publications or were asked to decide on this one; client members
        holding ``comment`` or ``approve`` on its brand. Not API tokens: a comment is a
        person's."""
        inside = Subject(self.subject.agency_id, "system", app_filter=self.subject.app_filter)
        people = PeopleRepository(self.session, inside)
        if self.subject.kind == "client" and self.subject.user_id is not None:
            place = await people.client_place(publication.brand_id, self.subject.user_id)
            allowed = {ClientPermission.COMMENT.value, ClientPermission.APPROVE.value}
            if place is None or not allowed & set(place.permissions or ()):
                raise Forbidden("Your place on this brand does not let you comment.")
            return place.name, "client"
        if self.subject.kind != "session" or self.subject.user_id is None:
            raise Forbidden("A comment is a person's: sign in to comment.")
        member = await People(people).repo.member(self.subject.user_id)
        if member is None:
            raise Forbidden("You are no longer a member of this agency.")
        asked = any(
            a.user_id == self.subject.user_id
            for a in await AssignmentRepository(self.session, inside).of_publication(publication.id)
        )
        if not (self.subject.can(Permission.PUBLICATIONS_WRITE) or asked):
            raise Forbidden("Only those who write publications, or were asked to decide, comment.")
        return member.user.name, "staff"


def _texts(variants: Sequence[Variant], channel_id: uuid.UUID | None) -> list[str]:
    chosen = [v for v in variants if channel_id is None or v.channel_id == channel_id]
    return [t for v in chosen for t in (v.text, v.title, v.first_comment) if t]
