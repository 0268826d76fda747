"""Calendar, queue slots and queue health, iCalendar feeds, series, and CSV import."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, cast

from litestar import Controller, Request, Response, get, post, put
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.enums import MediaType
from litestar.exceptions import HTTPException
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, JSONBody, QueryParameter

from agency.access.permissions import Permission
from agency.brand.schemas import ReportingLine
from agency.calendar.csvfile import COLUMNS, MAX_ROWS
from agency.calendar.importing import ImportService
from agency.calendar.queue import QueueService
from agency.calendar.schemas import (
    CalendarFilter,
    CalendarOut,
    FeedCreate,
    FeedCreated,
    FeedOut,
    FeedPage,
    ImportOut,
    QueueHealthOut,
    SeriesOut,
    SlotOut,
    SlotsIn,
    SlotsOut,
)
from agency.calendar.series import SeriesService
from agency.calendar.service import CalendarService, FeedService, open_feed
from agency.kernel.db import utcnow
from agency.kernel.deps import (
    AppRuntime,
    DbSession,
    IdempotencyGuard,
    Paging,
    provide_runtime_service,
    provide_service,
)
from agency.kernel.problems import problem_spec
from agency.publication.states import Delivery

READ = {"permission": Permission.PUBLICATIONS_READ}
WRITE = {"permission": Permission.PUBLICATIONS_WRITE}
# Reads that check a range or filters answer 422 naming the field.
RANGE_READ = {**READ, "problems": [422]}
ICS = "text/calendar"
CSV_TYPES = ("text/csv", "application/csv", "text/plain")

# Read as text and checked by the service, so that any problem with the range is one 422
# naming ``from`` or ``to``.
From = Annotated[
    str | None,
    QueryParameter(
        name="from",
        required=False,
        max_length=40,
        description="RFC 3339 instant with its offset (included), e.g. 2027-03-01T00:00:00Z.",
    ),
]
To = Annotated[
    str | None,
    QueryParameter(
        name="to",
        required=False,
        max_length=40,
        description="RFC 3339 instant with its offset (excluded).",
    ),
]


async def _slots(service: QueueService, channel_id: uuid.UUID) -> SlotsOut:
    _, brand = await service.channel(channel_id)
    return SlotsOut(
        channel_id=channel_id,
        timezone=brand.timezone,
        slots=[SlotOut(weekday=d, local_time=t) for d, t in await service.weekly(channel_id)],
    )


class QueueController(Controller):
    path = "/channels/{channel_id:uuid}"
    tags = ["Calendar"]
    dependencies = {"queue": provide_service(QueueService)}

    @get("/queue-slots", opt=READ, summary="A channel's weekly posting slots")
    async def get_queue_slots(
        self, channel_id: FromPath[uuid.UUID], queue: NamedDependency[QueueService]
    ) -> SlotsOut:
        """Wall-clock times in the brand's time zone; "add to queue" takes the next free one."""
        return await _slots(queue, channel_id)

    @put(
        "/queue-slots",
        operation_id="replaceQueueSlots",
        opt=WRITE,
        summary="Replace a channel's weekly posting slots",
    )
    async def put_queue_slots(
        self,
        channel_id: FromPath[uuid.UUID],
        data: JSONBody[SlotsIn],
        queue: NamedDependency[QueueService],
    ) -> SlotsOut:
        """The whole weekly set: weekday 0 (Monday) to 6, local_time HH:MM in the brand's
        zone. A bad or repeated item is a 422 naming it, and nothing changes."""
        await queue.replace(channel_id, data.slots)
        return await _slots(queue, channel_id)

    @get("/queue", opt=RANGE_READ, summary="A channel's posts against its slots: gaps and bursts")
    async def get_queue_health(
        self,
        channel_id: FromPath[uuid.UUID],
        queue: NamedDependency[QueueService],
        start: From = None,
        end: To = None,
        min_spacing_minutes: Annotated[
            int,
            QueryParameter(ge=1, le=1440, description="Posts closer than this are a burst."),
        ] = 60,
        slot_tolerance_minutes: Annotated[
            int,
            QueryParameter(ge=0, le=720, description="A post this close to a slot fills it."),
        ] = 30,
    ) -> QueueHealthOut:
        """From now for two weeks unless a range is given (at most 92 days). The timeline
        lists filled slots, gaps (empty slots) and off-slot posts in time order; days and
        bursts summarize the rhythm."""
        return await queue.health(
            channel_id,
            start,
            end,
            timedelta(minutes=min_spacing_minutes),
            timedelta(minutes=slot_tolerance_minutes),
            utcnow(),
        )


@get(
    "/calendar",
    opt=RANGE_READ,
    tags=["Calendar"],
    summary="Variants due in a range",
    dependencies={"calendar": provide_runtime_service(CalendarService)},
)
async def get_calendar(
    calendar: NamedDependency[CalendarService],
    start: From = None,
    end: To = None,
    brand_id: Annotated[
        list[uuid.UUID] | None, QueryParameter(description="Of these brands.")
    ] = None,
    channel_id: Annotated[
        list[uuid.UUID] | None, QueryParameter(description="On these channels.")
    ] = None,
    network: Annotated[
        list[str] | None, QueryParameter(description="On these networks (x, instagram...).")
    ] = None,
    status: Annotated[list[Delivery] | None, QueryParameter(description="In these states.")] = None,
    reporting_line: Annotated[
        ReportingLine | None, QueryParameter(description="Of this reporting line.")
    ] = None,
    campaign: Annotated[
        str | None, QueryParameter(max_length=100, description="Of this campaign.")
    ] = None,
    cursor: Annotated[
        str | None, QueryParameter(max_length=200, description="From next_cursor.")
    ] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=2000, description="Entries per page.")] = 500,
) -> Response[CalendarOut]:
    """One entry per variant (a publication on one channel), by due time, with its time in
    UTC and on the brand's clock. ``from`` and ``to`` are required; at most 92 days."""
    where = CalendarFilter(
        brand_ids=brand_id or (),
        channel_ids=channel_id or (),
        networks=network or (),
        statuses=[str(s) for s in status or ()],
        reporting_line=str(reporting_line) if reporting_line else None,
        campaign=campaign,
    )
    # The answer's JSON as made once and kept (agency.calendar.cache), with its ETag.
    body, tag = await calendar.answer(start, end, where, cursor, limit)
    return cast(
        "Response[CalendarOut]", Response(body, media_type=MediaType.JSON, headers={"ETag": tag})
    )


def _ics_response(slug: str, body: bytes) -> Response[bytes]:
    # Litestar adds "; charset=utf-8" to every text/* type itself.
    return Response(
        body,
        media_type=ICS,
        headers={
            "Content-Disposition": f'inline; filename="{slug}.ics"',
            "Cache-Control": "private, max-age=300",
        },
    )


@dataclass
class ImportOperation(Operation):
    """The import reads its body itself: a CSV file, raw or as the ``file`` form field."""

    def __post_init__(self) -> None:
        columns = "; ".join(f"`{name}`: {about}" for name, about in COLUMNS.items())
        csv = Schema(
            type=OpenAPIType.STRING,
            description=f"UTF-8 CSV with a header row, up to {MAX_ROWS} rows. {columns}.",
        )
        form = Schema(type=OpenAPIType.OBJECT, properties={"file": csv}, required=["file"])
        self.request_body = RequestBody(
            content={
                "text/csv": OpenAPIMediaType(schema=csv),
                "multipart/form-data": OpenAPIMediaType(schema=form),
            },
            required=True,
        )


class BrandCalendarController(Controller):
    path = "/brands/{brand_id:uuid}"
    tags = ["Calendar"]
    dependencies = {
        "calendar": provide_runtime_service(CalendarService),
        "feeds": provide_runtime_service(FeedService),
        "imports": provide_runtime_service(ImportService),
    }

    @get(
        "/calendar.ics",
        operation_id="getBrandCalendarIcs",
        opt=READ,
        media_type=ICS,
        summary="The brand's publications as an iCalendar feed",
    )
    async def get_brand_ics(
        self, brand_id: FromPath[uuid.UUID], calendar: NamedDependency[CalendarService]
    ) -> Response[bytes]:
        """One event per variant scheduled or published, from 92 days back to a year ahead;
        the UID is the variant's, times are UTC, the brand's zone is X-WR-TIMEZONE."""
        brand, body = await calendar.feed(brand_id)
        return _ics_response(brand.slug, body)

    @post(
        "/calendar-feeds",
        opt=WRITE,
        summary="Create a secret feed address for calendar apps (shown once)",
        status_code=201,
    )
    async def create_calendar_feed(
        self,
        brand_id: FromPath[uuid.UUID],
        data: JSONBody[FeedCreate],
        feeds: NamedDependency[FeedService],
        idempotency: IdempotencyGuard,
    ) -> FeedCreated:
        """For apps that cannot send a token: whoever has the address reads the feed, until
        the feed is revoked. Only a hash of its secret is stored."""
        feed, url = await feeds.create(brand_id, data.name)
        return FeedCreated(**_fields(FeedOut.of(feed)), url=url)

    @get("/calendar-feeds", opt=READ, summary="A brand's calendar feed addresses")
    async def list_calendar_feeds(
        self, brand_id: FromPath[uuid.UUID], feeds: NamedDependency[FeedService], page: Paging
    ) -> FeedPage:
        rows, cursor = await feeds.list(brand_id, page)
        return FeedPage(items=[FeedOut.of(f) for f in rows], next_cursor=cursor)

    @post(
        "/publications/import",
        opt=WRITE,
        summary="Import publications from CSV: all rows scheduled, or none",
        status_code=201,
        operation_class=ImportOperation,
        responses={415: problem_spec("The body is not CSV text nor a multipart form.")},
    )
    async def import_publications(
        self,
        request: Request[Any, Any, Any],
        brand_id: FromPath[uuid.UUID],
        imports: NamedDependency[ImportService],
        idempotency: IdempotencyGuard,
        dry_run: Annotated[
            bool, QueryParameter(description="Only check and report; import nothing.")
        ] = False,
    ) -> Response[ImportOut]:
        """Each row is checked (channel of this brand, time to come, the network's rules and
        quota) and reported. One refused row: 422 with the report in ``rows``, nothing
        imported. All accepted: 201, every publication scheduled. ``dry_run``: 200, the
        report only."""
        brand = await imports.brand(brand_id)  # another agency's brand: 404 before all else
        report = await imports.run(brand, await _csv_body(request), dry_run=dry_run)
        return Response(report, status_code=200 if dry_run else 201)


def _fields(out: FeedOut) -> dict[str, Any]:
    return {name: getattr(out, name) for name in out.__struct_fields__}


async def _csv_body(request: Request[Any, Any, Any]) -> bytes:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in CSV_TYPES:
        return await request.body()
    if content_type == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if isinstance(upload, UploadFile):
            return await upload.read()
        if isinstance(upload, str):
            return upload.encode()
        raise HTTPException(
            status_code=400,
            detail="The form needs a `file` field holding the CSV file.",
            extra=[{"key": "file", "message": "missing"}],
        )
    raise HTTPException(
        status_code=415,
        detail="Send the CSV file as text/csv, or as the `file` field of a multipart form.",
    )


class FeedController(Controller):
    path = "/calendar-feeds"
    tags = ["Calendar"]
    dependencies = {"feeds": provide_runtime_service(FeedService)}

    @post(
        "/{feed_id:uuid}/revoke",
        opt=WRITE,
        summary="Revoke a calendar feed address",
        status_code=200,
    )
    async def revoke_calendar_feed(
        self, feed_id: FromPath[uuid.UUID], feeds: NamedDependency[FeedService]
    ) -> FeedOut:
        return FeedOut.of(await feeds.revoke(feed_id))


@get(
    "/feeds/{token:str}/calendar.ics",
    operation_id="getCalendarFeedIcs",
    opt={"public": True},
    media_type=ICS,
    tags=["Calendar"],
    summary="A brand's iCalendar feed through its secret address",
)
async def get_feed_ics(
    runtime: AppRuntime, token: FromPath[str], db_session: DbSession
) -> Response[bytes]:
    """The address is the credential: for calendar apps that cannot send a bearer token."""
    # The subject comes from the feed, so the service is built here rather than provided.
    subject, feed = await open_feed(db_session, token)
    brand, body = await CalendarService(db_session, subject, runtime).feed(feed.brand_id)
    return _ics_response(brand.slug, body)


class SeriesController(Controller):
    path = "/publications/{publication_id:uuid}"
    tags = ["Publications"]
    dependencies = {"series": provide_runtime_service(SeriesService)}

    @get(
        "/series",
        operation_id="getPublicationSeries",
        opt={**READ, "problems": [409]},  # a publication outside any series
        summary="The recurring series a publication belongs to",
    )
    async def get_series(
        self, publication_id: FromPath[uuid.UUID], series: NamedDependency[SeriesService]
    ) -> SeriesOut:
        return await series.of_publication(publication_id)

    @post(
        "/cancel-series",
        opt=WRITE,
        summary="Cancel a recurring series: every occurrence not yet published, and the rule",
        status_code=200,
    )
    async def cancel_series(
        self, publication_id: FromPath[uuid.UUID], series: NamedDependency[SeriesService]
    ) -> SeriesOut:
        """Published occurrences stay as they are; nothing more is created. Canceling a
        canceled series answers it again."""
        return await series.cancel(publication_id)


ROUTES: list[Any] = [
    QueueController,
    get_calendar,
    BrandCalendarController,
    FeedController,
    get_feed_ics,
    SeriesController,
]
