"""Crisis mode: switch it, read its state and timeline, release what it held."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from agency.access.permissions import Permission
from agency.crisis.export import filename, timeline_csv
from agency.crisis.schemas import (
    BrandCrisisOut,
    CrisisEnd,
    CrisisOut,
    CrisisPage,
    CrisisStart,
    HeldList,
    HeldPublicationOut,
    HeldVariantOut,
    ReleasedOut,
    ReleaseIn,
    ReleaseOut,
    TimelineEventOut,
    TimelineOut,
)
from agency.crisis.service import CrisisService
from agency.kernel.deps import IdempotencyGuard, Paging, provide_runtime_service

READ = {"permission": Permission.BRANDS_READ}
SWITCH = {"permission": Permission.CRISIS_MANAGE}
RELEASE = {"permission": Permission.PUBLICATIONS_WRITE}
CSV = "text/csv"


class BrandCrisisController(Controller):
    path = "/brands/{brand_id:uuid}"
    tags = ["Crisis"]
    dependencies = {"crises": provide_runtime_service(CrisisService)}

    @get("/crisis", opt=READ, summary="The brand's crisis state: on or off, and what it holds")
    async def get_crisis_state(
        self, brand_id: FromPath[uuid.UUID], crises: NamedDependency[CrisisService]
    ) -> BrandCrisisOut:
        brand, crisis, held = await crises.state(brand_id)
        return BrandCrisisOut(
            brand_id=brand.id,
            active=crisis is not None,
            crisis=CrisisOut.of(crisis) if crisis else None,
            held_publications=held,
        )

    @post(
        "/crisis",
        opt=SWITCH,
        summary="Switch crisis mode on: the queue is held, the timeline begins",
    )
    async def start_crisis(
        self,
        brand_id: FromPath[uuid.UUID],
        data: JSONBody[CrisisStart],
        crises: NamedDependency[CrisisService],
        idempotency: IdempotencyGuard,
    ) -> Response[CrisisOut]:
        """A manager or a member of the client's general management (reporting line
        `management`, client permission `crisis`) of this brand."""
        return Response(CrisisOut.of(await crises.start(brand_id, data)), status_code=201)

    @post(
        "/crisis/end",
        opt=SWITCH,
        status_code=200,
        summary="Switch crisis mode off (what it held stays held until released)",
    )
    async def end_crisis(
        self,
        brand_id: FromPath[uuid.UUID],
        data: JSONBody[CrisisEnd],
        crises: NamedDependency[CrisisService],
    ) -> CrisisOut:
        return CrisisOut.of(await crises.end(brand_id, data))

    @get("/crises", opt=READ, summary="The brand's crises, the latest first")
    async def list_crises(
        self, brand_id: FromPath[uuid.UUID], crises: NamedDependency[CrisisService], page: Paging
    ) -> CrisisPage:
        rows, cursor = await crises.page(brand_id, page)
        return CrisisPage(items=[CrisisOut.of(c) for c in rows], next_cursor=cursor)

    @get(
        "/held-publications",
        opt={"permission": Permission.PUBLICATIONS_READ},
        summary="Publications a crisis held (posts or first comments), waiting for a person",
    )
    async def list_held_publications(
        self, brand_id: FromPath[uuid.UUID], crises: NamedDependency[CrisisService]
    ) -> HeldList:
        return HeldList(
            items=[
                HeldPublicationOut(
                    publication_id=publication.id,
                    title=publication.title,
                    scheduled_at=publication.scheduled_at,
                    variants=[HeldVariantOut.of(v) for v in variants],
                )
                for publication, variants in await crises.held(brand_id)
            ]
        )

    @post(
        "/held-publications/release",
        opt=RELEASE,
        status_code=200,
        summary="Re-confirm, reschedule or discard what a crisis held, many at once (all or none)",
    )
    async def release_held_publications(
        self,
        brand_id: FromPath[uuid.UUID],
        data: JSONBody[ReleaseIn],
        crises: NamedDependency[CrisisService],
    ) -> ReleaseOut:
        """Once the crisis is over. `reconfirm` keeps each held post's time (or sends it at
        once when that time passed during the crisis) and posts each held first comment at
        once; `reschedule` takes `at` or `local_time` for the held posts; `discard` drops the
        held first comments of posts already out."""
        released = await crises.release(brand_id, data)
        return ReleaseOut(
            items=[
                ReleasedOut(publication_id=item.publication_id, action=item.action, scheduled_at=at)
                for item, at in released
            ]
        )


class CrisisController(Controller):
    path = "/crises"
    tags = ["Crisis"]
    dependencies = {"crises": provide_runtime_service(CrisisService)}

    @get("/{crisis_id:uuid}", opt=READ, summary="A crisis: who switched it, when and why")
    async def get_crisis(
        self, crisis_id: FromPath[uuid.UUID], crises: NamedDependency[CrisisService]
    ) -> CrisisOut:
        return CrisisOut.of(await crises.get(crisis_id))

    @get(
        "/{crisis_id:uuid}/timeline",
        opt=READ,
        summary="The crisis timeline: switched, held, decided, published, and when",
    )
    async def get_crisis_timeline(
        self, crisis_id: FromPath[uuid.UUID], crises: NamedDependency[CrisisService]
    ) -> TimelineOut:
        crisis, events, titles = await crises.timeline(crisis_id)
        return TimelineOut(
            crisis=CrisisOut.of(crisis),
            events=[TimelineEventOut.of(e, titles) for e in events],
        )

    @get(
        "/{crisis_id:uuid}/timeline.csv",
        opt=READ,
        media_type=CSV,
        summary="The crisis timeline as CSV, for the post-mortem",
    )
    async def get_crisis_timeline_csv(
        self, crisis_id: FromPath[uuid.UUID], crises: NamedDependency[CrisisService]
    ) -> Response[bytes]:
        crisis, events, titles = await crises.timeline(crisis_id)
        return Response(
            timeline_csv(crisis, events, titles),
            media_type=CSV,
            headers={"Content-Disposition": f'attachment; filename="{filename(crisis)}"'},
        )


ROUTES: list[Any] = [BrandCrisisController, CrisisController]
