from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from agency.access.permissions import Permission
from agency.brand.schemas import ReportingLine
from agency.kernel.deps import IdempotencyGuard, IfMatch, Paging, provide_runtime_service
from agency.kernel.http import etag
from agency.publication.editing import PublicationEditing
from agency.publication.lifecycle import PublicationLifecycle
from agency.publication.models import Publication
from agency.publication.reading import PublicationReading
from agency.publication.scheduling import PublicationScheduling
from agency.publication.schemas import (
    AttemptList,
    AttemptOut,
    PublicationCreate,
    PublicationOut,
    PublicationPage,
    PublicationSummary,
    PublicationUpdate,
    ResolveIn,
    ScheduleIn,
    VersionList,
    VersionOut,
)
from agency.publication.service import PublicationUseCase
from agency.publication.states import Status

READ = {"permission": Permission.PUBLICATIONS_READ}
WRITE = {"permission": Permission.PUBLICATIONS_WRITE}


async def _answer(
    use_case: PublicationUseCase, publication: Publication, status_code: int = 200
) -> Response[PublicationOut]:
    """The publication as it now is, read in the same snapshot as its variants."""
    publication, variants, problems = await use_case.get(publication.id)
    return Response(
        PublicationOut.of(publication, variants, problems),
        status_code=status_code,
        headers={"ETag": etag(publication.version)},
    )


class BrandPublicationController(Controller):
    path = "/brands/{brand_id:uuid}/publications"
    tags = ["Publications"]
    dependencies = {"editing": provide_runtime_service(PublicationEditing)}

    @post(opt=WRITE, summary="Draft a publication with one variant per channel")
    async def create_publication(
        self,
        editing: NamedDependency[PublicationEditing],
        brand_id: FromPath[uuid.UUID],
        data: JSONBody[PublicationCreate],
        idempotency: IdempotencyGuard,
    ) -> Response[PublicationOut]:
        publication = await editing.create(brand_id, data)
        return await _answer(editing, publication, 201)


class PublicationController(Controller):
    path = "/publications"
    tags = ["Publications"]
    dependencies = {
        "reading": provide_runtime_service(PublicationReading),
        "editing": provide_runtime_service(PublicationEditing),
        "scheduling": provide_runtime_service(PublicationScheduling),
        "lifecycle": provide_runtime_service(PublicationLifecycle),
    }

    @get(opt=READ, summary="List publications")
    async def list_publications(
        self,
        reading: NamedDependency[PublicationReading],
        page: Paging,
        brand_id: Annotated[uuid.UUID | None, QueryParameter(description="Of one brand.")] = None,
        status: Annotated[Status | None, QueryParameter(description="In this state.")] = None,
        campaign: Annotated[
            str | None, QueryParameter(max_length=100, description="Of this campaign.")
        ] = None,
    ) -> PublicationPage:
        rows, cursor = await reading.page(page, brand_id, status, campaign)
        return PublicationPage(
            items=[
                PublicationSummary(
                    id=p.id,
                    brand_id=p.brand_id,
                    title=p.title,
                    status=Status(p.status),
                    scheduled_at=p.scheduled_at,
                    campaign=p.campaign,
                    reporting_line=ReportingLine(p.reporting_line) if p.reporting_line else None,
                    tags=list(p.tags),
                    created_at=p.created_at,
                    version=p.version,
                    etag=etag(p.version),
                )
                for p in rows
            ],
            next_cursor=cursor,
        )

    @get(
        "/{publication_id:uuid}",
        # Variants move on (published, failed) without the publication's version.
        opt={**READ, "partial_etag": True},
        summary="A publication, its variants and problems",
    )
    async def get_publication(
        self,
        reading: NamedDependency[PublicationReading],
        publication_id: FromPath[uuid.UUID],
    ) -> Response[PublicationOut]:
        return await _answer(reading, await reading.repo.get(publication_id))

    @patch(
        "/{publication_id:uuid}",
        opt=WRITE,
        summary="Edit a publication (only the fields sent; `variants` replaces the set)",
    )
    async def update_publication(
        self,
        editing: NamedDependency[PublicationEditing],
        publication_id: FromPath[uuid.UUID],
        data: JSONBody[PublicationUpdate],
        if_match: IfMatch,
    ) -> Response[PublicationOut]:
        return await _answer(editing, await editing.update(publication_id, data, if_match))

    @post(
        "/{publication_id:uuid}/submit",
        opt=WRITE,
        summary="Submit for approval (approved at once when the brand needs none)",
        status_code=200,
    )
    async def submit_publication(
        self,
        scheduling: NamedDependency[PublicationScheduling],
        publication_id: FromPath[uuid.UUID],
    ) -> Response[PublicationOut]:
        return await _answer(scheduling, await scheduling.submit(publication_id))

    @post(
        "/{publication_id:uuid}/schedule",
        opt=WRITE,
        summary="Put on the calendar at a time (an instant, or wall-clock in the brand's zone)",
        status_code=200,
    )
    async def schedule_publication(
        self,
        scheduling: NamedDependency[PublicationScheduling],
        publication_id: FromPath[uuid.UUID],
        data: JSONBody[ScheduleIn],
        if_match: IfMatch,
    ) -> Response[PublicationOut]:
        return await _answer(scheduling, await scheduling.schedule(publication_id, data, if_match))

    @post(
        "/{publication_id:uuid}/queue",
        opt=WRITE,
        summary="Add to the queue: each variant takes its channel's next free slot",
        status_code=200,
    )
    async def queue_publication(
        self,
        scheduling: NamedDependency[PublicationScheduling],
        publication_id: FromPath[uuid.UUID],
        if_match: IfMatch,
    ) -> Response[PublicationOut]:
        return await _answer(scheduling, await scheduling.add_to_queue(publication_id, if_match))

    @post(
        "/{publication_id:uuid}/unschedule",
        opt=WRITE,
        summary="Take off the calendar (stays approved)",
        status_code=200,
    )
    async def unschedule_publication(
        self,
        scheduling: NamedDependency[PublicationScheduling],
        publication_id: FromPath[uuid.UUID],
    ) -> Response[PublicationOut]:
        return await _answer(scheduling, await scheduling.unschedule(publication_id))

    @post(
        "/{publication_id:uuid}/cancel",
        opt=WRITE,
        summary="Cancel: nothing of it will be published",
        status_code=200,
    )
    async def cancel_publication(
        self,
        lifecycle: NamedDependency[PublicationLifecycle],
        publication_id: FromPath[uuid.UUID],
    ) -> Response[PublicationOut]:
        return await _answer(lifecycle, await lifecycle.cancel(publication_id))

    @delete(
        "/{publication_id:uuid}",
        opt=WRITE,
        summary="Delete a publication that never reached the calendar (or was canceled)",
    )
    async def delete_publication(
        self,
        lifecycle: NamedDependency[PublicationLifecycle],
        publication_id: FromPath[uuid.UUID],
    ) -> None:
        await lifecycle.delete(publication_id)

    @post(
        "/{publication_id:uuid}/duplicate",
        opt=WRITE,
        summary="Copy into a new draft (same channels and content)",
    )
    async def duplicate_publication(
        self,
        editing: NamedDependency[PublicationEditing],
        publication_id: FromPath[uuid.UUID],
    ) -> Response[PublicationOut]:
        return await _answer(editing, await editing.duplicate(publication_id), 201)

    @post(
        "/{publication_id:uuid}/variants/{variant_id:uuid}/resolve",
        opt=WRITE,
        summary="Settle an unknown outcome after checking the account",
        status_code=200,
    )
    async def resolve_variant(
        self,
        lifecycle: NamedDependency[PublicationLifecycle],
        publication_id: FromPath[uuid.UUID],
        variant_id: FromPath[uuid.UUID],
        data: JSONBody[ResolveIn],
    ) -> Response[PublicationOut]:
        resolved = await lifecycle.resolve(publication_id, variant_id, data)
        return await _answer(lifecycle, resolved)

    @get(
        "/{publication_id:uuid}/attempts",
        operation_id="listPublicationAttempts",
        opt=READ,
        summary="Every call made to the networks, with their answers in plain words",
    )
    async def list_attempts(
        self,
        reading: NamedDependency[PublicationReading],
        publication_id: FromPath[uuid.UUID],
    ) -> AttemptList:
        return AttemptList(items=[AttemptOut.of(a) for a in await reading.attempts(publication_id)])

    @get(
        "/{publication_id:uuid}/versions",
        operation_id="listPublicationVersions",
        opt=READ,
        summary="Every change: who, when, what",
    )
    async def list_versions(
        self,
        reading: NamedDependency[PublicationReading],
        publication_id: FromPath[uuid.UUID],
    ) -> VersionList:
        return VersionList(items=[VersionOut.of(v) for v in await reading.history(publication_id)])


ROUTES: list[Any] = [BrandPublicationController, PublicationController]
