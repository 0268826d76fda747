"""Crisis mode per brand (*bad buzz*): switched on and off, the queue held and released.

While a brand is in crisis nothing of it leaves on its own: switching on holds every variant
waiting on the calendar, and the publishing worker holds any other it meets (it reads the
brand's crisis state, locked, in the transaction that prepares each call). Held is not
missed: a held variant is never claimed until a person re-confirms or reschedules it, many in
one call, once the crisis is over. Staying silent is a valid choice: nothing is sent
automatically. Every step goes to the crisis timeline (:class:`agency.brand.models.CrisisEvent`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from agency.access.permissions import Permission
from agency.audit.repository import AuditRepository
from agency.brand.crisis import crisis_event
from agency.brand.models import Brand, Crisis, CrisisEvent
from agency.brand.repository import BrandRepository, CrisisEventRepository, CrisisRepository
from agency.crisis.notify import tell_decision_makers
from agency.crisis.repository import DecisionMakerRepository, HeldQueueRepository
from agency.crisis.schemas import (
    CrisisData,
    CrisisEnd,
    CrisisStart,
    ReleaseAction,
    ReleaseIn,
    ReleaseItem,
    post_held,
)
from agency.kernel.db import utcnow
from agency.kernel.errors import Conflict, Forbidden, InvalidInput
from agency.kernel.pagination import PageRequest
from agency.kernel.tenancy import Subject
from agency.member.repository import UserRepository
from agency.publication.drafting import iso, version_row
from agency.publication.models import Publication, Variant
from agency.publication.placement import Placement, schedule_time
from agency.publication.repository import PublicationRepository, VariantRepository
from agency.publication.states import FirstCommentStatus
from agency.webhook.events import emit

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime

HELD = "Held: the brand is in crisis mode."
ONLY_COMMENTS = (
    "only first comments are held here (their posts are out): re-confirm them to post them "
    "now, or discard them"
)
NOT_DISCARDED = (
    "a held post is not discarded: re-confirm or reschedule it, or cancel the publication"
)
_NOT_ALLOWED = (
    "Only the agency's managers and the client's general management may switch this "
    "brand's crisis mode."
)


class CrisisService:
    def __init__(self, session: AsyncSession, subject: Subject, runtime: Runtime) -> None:
        self.session = session
        self.subject = subject
        self.runtime = runtime
        self.brands = BrandRepository(session, subject)
        self.crises = CrisisRepository(session, subject)
        self.events = CrisisEventRepository(session, subject)
        self.queue = HeldQueueRepository(session, subject)
        self.audit = AuditRepository(session, subject)

    # -- reading -----------------------------------------------------------------------------

    async def state(self, brand_id: uuid.UUID) -> tuple[Brand, Crisis | None, int]:
        brand = await self.brands.get(brand_id)
        crisis = await self.crises.get(brand.crisis_id) if brand.crisis_id else None
        return brand, crisis, await self.queue.held_count(brand.id)

    async def page(
        self, brand_id: uuid.UUID, page: PageRequest
    ) -> tuple[Sequence[Crisis], str | None]:
        await self.brands.get(brand_id)
        return await self.crises.page(page, self.crises.of_brand(brand_id))

    async def get(self, crisis_id: uuid.UUID) -> Crisis:
        return await self.crises.get(crisis_id)

    async def timeline(
        self, crisis_id: uuid.UUID
    ) -> tuple[Crisis, Sequence[CrisisEvent], dict[uuid.UUID, str]]:
        """The crisis, its lines in order, and the titles of the publications they name."""
        crisis = await self.crises.get(crisis_id)
        events = await self.events.of_crisis(crisis.id)
        titles = await self.queue.titles({e.publication_id for e in events if e.publication_id})
        return crisis, events, titles

    async def held(self, brand_id: uuid.UUID) -> list[tuple[Publication, list[Variant]]]:
        await self.brands.get(brand_id)
        grouped: dict[uuid.UUID, tuple[Publication, list[Variant]]] = {}
        for publication, variant in await self.queue.held(brand_id):
            grouped.setdefault(publication.id, (publication, []))[1].append(variant)
        return list(grouped.values())

    # -- switching ---------------------------------------------------------------------------

    async def start(self, brand_id: uuid.UUID, data: CrisisStart) -> Crisis:
        """Switch crisis mode on: the brand's queue is held at once, the timeline begins."""
        brand = await self.brands.get(brand_id)
        await self._require_may_switch(brand)
        if brand.crisis_id is not None:
            raise Conflict("This brand is already in crisis mode.", crisis_id=str(brand.crisis_id))
        now = utcnow()
        actor_name = await self._actor_name()
        kind, actor_id = self.subject.actor
        # The variants first, then the brand: a worker locks its variants, then reads the
        # brand FOR SHARE; taking the locks in the same order means neither waits on the
        # other in a circle (docs/crisis.md).
        held = await self.queue.hold_scheduled(brand.id, now, HELD)
        brand = await self.brands.lock(brand.id)
        if brand.crisis_id is not None:  # switched on meanwhile by someone else
            raise Conflict("This brand is already in crisis mode.", crisis_id=str(brand.crisis_id))
        crisis = Crisis(
            brand_id=brand.id,
            started_at=now,
            started_by_kind=kind,
            started_by=actor_id,
            started_by_name=actor_name,
            reason=data.reason,
        )
        await self.crises.add(crisis, conflict="This brand is already in crisis mode.")
        brand.crisis_id = crisis.id
        await self.brands.flush()
        actor = (kind, actor_id)
        lines = [
            crisis_event(
                self.subject.agency_id,
                crisis.id,
                brand.id,
                "started",
                actor=actor,
                actor_name=actor_name,
                reason=data.reason,
            )
        ]
        lines += [
            crisis_event(
                self.subject.agency_id,
                crisis.id,
                brand.id,
                "held",
                actor=actor,
                actor_name=actor_name,
                publication_id=publication_id,
                variant_id=variant_id,
                network=network,
                due_at=iso(due_at),
            )
            for variant_id, publication_id, network, due_at in held
        ]
        self.session.add_all(lines)
        self.audit.record(
            "crisis.started", "brand", brand.id, {"crisis_id": str(crisis.id), "held": len(held)}
        )
        await self._emit("crisis.started", crisis, brand, held=len(held))
        await self._notify(brand, crisis, len(held))
        return crisis

    async def end(self, brand_id: uuid.UUID, data: CrisisEnd) -> Crisis:
        """Switch crisis mode off. What it held stays held until a person releases it."""
        brand = await self.brands.lock(brand_id)
        await self._require_may_switch(brand)
        if brand.crisis_id is None:
            raise Conflict("This brand is not in crisis mode.")
        crisis = await self.crises.get(brand.crisis_id)
        now = utcnow()
        kind, actor_id = self.subject.actor
        actor_name = await self._actor_name()
        crisis.ended_at = now
        crisis.ended_by_kind = kind
        crisis.ended_by = actor_id
        crisis.ended_by_name = actor_name
        crisis.end_reason = data.reason
        brand.crisis_id = None
        await self.brands.flush()
        held = await self.queue.held_count(brand.id)
        self.session.add(
            crisis_event(
                self.subject.agency_id,
                crisis.id,
                brand.id,
                "ended",
                actor=(kind, actor_id),
                actor_name=actor_name,
                reason=data.reason,
                still_held=held,
            )
        )
        self.audit.record("crisis.ended", "brand", brand.id, {"crisis_id": str(crisis.id)})
        await self._emit("crisis.ended", crisis, brand, held=held)
        await self._notify(brand, crisis, held)
        return crisis

    async def _notify(self, brand: Brand, crisis: Crisis, held: int) -> None:
        told = await tell_decision_makers(
            self.session, self.subject, self.runtime, brand, crisis, held
        )
        self.session.add(
            crisis_event(
                self.subject.agency_id,
                crisis.id,
                brand.id,
                "notified",
                people=told,
                about="ended" if crisis.ended_at else "started",
            )
        )

    async def _require_may_switch(self, brand: Brand) -> None:
        """A manager (the route asks ``crisis:manage``), or the client's general management
        of this very brand; whoever may not start a crisis may not end one either."""
        if not self.subject.can(Permission.CRISIS_MANAGE):
            raise Forbidden(_NOT_ALLOWED)
        if self.subject.kind != "client":
            return
        assert self.subject.user_id is not None
        place = await DecisionMakerRepository(self.session, self.subject).management_place(
            brand.id, self.subject.user_id
        )
        if place is None:
            raise Forbidden(_NOT_ALLOWED)

    async def _actor_name(self) -> str:
        if self.subject.user_id is not None:
            user = await UserRepository(self.session).by_id(self.subject.user_id)
            if user is not None:
                return user.name or user.email
        if self.subject.kind == "api_token":
            return f"API token {self.subject.credential_id}"
        return "system"

    async def _emit(self, event_type: str, crisis: Crisis, brand: Brand, held: int) -> None:
        await emit(
            self.session,
            self.subject.agency_id,
            event_type,
            CrisisData(
                crisis_id=crisis.id,
                brand_id=brand.id,
                brand=brand.name,
                reason=crisis.reason,
                started_at=crisis.started_at,
                started_by=crisis.started_by_name,
                ended_at=crisis.ended_at,
                ended_by=crisis.ended_by_name,
                end_reason=crisis.end_reason,
                held_publications=held,
            ),
            self.runtime.settings.webhooks,
        )

    # -- releasing what was held -------------------------------------------------------------

    async def release(
        self, brand_id: uuid.UUID, data: ReleaseIn
    ) -> list[tuple[ReleaseItem, datetime]]:
        """Re-confirm or reschedule held publications, all or none: every item is checked
        first and each problem named; then each one goes back on the calendar."""
        brand = await self.brands.get(brand_id)
        if brand.crisis_id is not None:
            raise Conflict(
                "This brand is still in crisis mode: held publications are released once it ends.",
                crisis_id=str(brand.crisis_id),
            )
        problems: list[dict[str, str]] = []
        seen: set[uuid.UUID] = set()
        times: dict[uuid.UUID, datetime | None] = {}
        for index, item in enumerate(data.items):
            field = f"items[{index}]"
            if item.publication_id in seen:
                problems.append({"field": f"{field}.publication_id", "message": "named twice"})
            seen.add(item.publication_id)
            times[item.publication_id] = self._item_time(item, brand, field, problems)
        publications = {
            p.id: p
            for p in await PublicationRepository(self.session, self.subject).lock_many(seen)
            if p.brand_id == brand.id
        }
        variants = await self.queue.held_variants_of(brand.id, list(publications))
        by_publication: dict[uuid.UUID, list[Variant]] = {}
        for variant in variants:
            by_publication.setdefault(variant.publication_id, []).append(variant)
        for index, item in enumerate(data.items):
            if item.publication_id not in by_publication:
                problems.append(
                    {
                        "field": f"items[{index}].publication_id",
                        "message": f"no publication {item.publication_id} of this brand is held",
                    }
                )
                continue
            posts = [v for v in by_publication[item.publication_id] if post_held(v)]
            if item.action == ReleaseAction.RESCHEDULE and not posts:
                problems.append({"field": f"items[{index}].action", "message": ONLY_COMMENTS})
            if item.action == ReleaseAction.DISCARD and posts:
                problems.append({"field": f"items[{index}].action", "message": NOT_DISCARDED})
        if problems:
            raise InvalidInput("Nothing was released; every problem is listed.", errors=problems)
        now = utcnow()
        placement = Placement(self.session, self.subject, self.runtime)
        for index, item in enumerate(data.items):
            for variant in filter(post_held, by_publication[item.publication_id]):
                when = times[item.publication_id] or max(variant.due_at or now, now)
                try:
                    await placement.check_quota(variant, when)
                except InvalidInput as exc:
                    problems.extend(
                        {**e, "field": f"items[{index}].{e['field']}"}
                        for e in exc.extensions["errors"]
                    )
                variant.due_at = when
        if problems:
            raise InvalidInput(
                "A network's publishing quota would be exceeded; nothing was released.",
                errors=problems,
            )
        return await self._put_back(brand, data.items, publications, by_publication)

    def _item_time(
        self, item: ReleaseItem, brand: Brand, field: str, problems: list[dict[str, str]]
    ) -> datetime | None:
        timed = item.at is not None or item.local_time is not None
        if item.action != ReleaseAction.RESCHEDULE:
            if timed:
                problems.append(
                    {
                        "field": f"{field}.at",
                        "message": (
                            "a re-confirmation keeps its time"
                            if item.action == ReleaseAction.RECONFIRM
                            else "a discard takes no time"
                        ),
                    }
                )
            return None
        try:
            return schedule_time(item.when(), brand)
        except InvalidInput as exc:
            problems.extend(
                {**e, "field": f"{field}.{e['field']}"} for e in exc.extensions["errors"]
            )
            return None

    async def _put_back(
        self,
        brand: Brand,
        items: Sequence[ReleaseItem],
        publications: dict[uuid.UUID, Publication],
        by_publication: dict[uuid.UUID, list[Variant]],
    ) -> list[tuple[ReleaseItem, datetime]]:
        latest = await self._latest_crisis(brand.id)
        actor_name = await self._actor_name()
        now = utcnow()
        released: list[tuple[ReleaseItem, datetime]] = []
        for item in items:
            publication = publications[item.publication_id]
            posts = [v for v in by_publication[item.publication_id] if post_held(v)]
            comments = [
                v
                for v in by_publication[item.publication_id]
                if v.first_comment_status == FirstCommentStatus.HELD
            ]
            lines: list[tuple[str, Variant]] = []
            if posts:
                action = await self._put_posts_back(item, publication, posts)
                lines += [(action, v) for v in posts]
            if comments and item.action != ReleaseAction.RESCHEDULE:
                action = self._settle_comments(item, publication, comments)
                lines += [(action, v) for v in comments]
            if latest is not None:
                self.session.add_all(
                    crisis_event(
                        self.subject.agency_id,
                        latest,
                        brand.id,
                        kind,
                        actor=self.subject.actor,
                        actor_name=actor_name,
                        publication_id=publication.id,
                        variant_id=variant.id,
                        network=variant.network,
                        due_at=iso(variant.due_at),
                    )
                    for kind, variant in lines
                )
            when = publication.scheduled_at if posts else None
            released.append((item, when or now))
        return released

    async def _put_posts_back(
        self, item: ReleaseItem, publication: Publication, held: list[Variant]
    ) -> str:
        """Held posts back on the calendar at their (new) times; the timeline's word for it."""
        for variant in held:
            variant.held_at = None
            variant.hold_reason = None
            variant.not_before = None
            variant.lease_until = None
        old = publication.scheduled_at
        every = await VariantRepository(self.session, self.subject).of_publication(publication.id)
        due = [v.due_at for v in every if v.due_at is not None]
        publication.scheduled_at = min(due) if due else None
        publication.updated_at = utcnow()
        await self.brands.flush()
        action = "released" if item.action == ReleaseAction.RECONFIRM else "rescheduled"
        self.session.add(
            version_row(
                self.subject,
                publication,
                action,
                {"scheduled_at": [iso(old), iso(publication.scheduled_at)]},
                every,
            )
        )
        self.audit.record(
            f"publication.{action}",
            "publication",
            publication.id,
            {"scheduled_at": iso(publication.scheduled_at)},
        )
        return action

    def _settle_comments(
        self, item: ReleaseItem, publication: Publication, held: list[Variant]
    ) -> str:
        """Held first comments let go (the scheduler hands each to a worker at once) or
        dropped; the timeline's word for it."""
        discard = item.action == ReleaseAction.DISCARD
        for variant in held:
            variant.first_comment_status = (
                FirstCommentStatus.DISCARDED if discard else FirstCommentStatus.PENDING
            )
            variant.lease_until = None
        action = "first_comment_discarded" if discard else "first_comment_released"
        self.audit.record(
            f"publication.{action}",
            "publication",
            publication.id,
            {"variants": [str(v.id) for v in held]},
        )
        return action

    async def _latest_crisis(self, brand_id: uuid.UUID) -> uuid.UUID | None:
        rows, _ = await self.crises.page(
            PageRequest(after_id=None, limit=1), self.crises.of_brand(brand_id)
        )
        return rows[0].id if rows else None
