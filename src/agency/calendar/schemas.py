from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import msgspec

from agency.brand.schemas import ReportingLine
from agency.calendar.models import CalendarFeed, PublicationSeries
from agency.kernel.schemas import Input, Output
from agency.publication.states import Delivery, Status


@dataclass(frozen=True)
class CalendarFilter:
    """What a calendar read keeps (every list empty: no filter on it)."""

    brand_ids: Sequence[uuid.UUID] = ()
    channel_ids: Sequence[uuid.UUID] = ()
    networks: Sequence[str] = ()
    statuses: Sequence[str] = ()
    reporting_line: str | None = None
    campaign: str | None = None


# -- queue slots ----------------------------------------------------------------------------


class SlotIn(Input):
    """Checked by the service, so that a bad item is a 422 naming it."""

    weekday: Annotated[int, msgspec.Meta(description="0 = Monday ... 6 = Sunday.")]
    local_time: Annotated[
        str, msgspec.Meta(max_length=20, description="HH:MM, in the brand's time zone.")
    ]


class SlotsIn(Input):
    slots: Annotated[list[SlotIn], msgspec.Meta(max_length=200)]


class SlotOut(Output):
    weekday: int
    local_time: str


class SlotsOut(Output):
    channel_id: uuid.UUID
    timezone: str
    slots: list[SlotOut]


# -- queue health ---------------------------------------------------------------------------


class Moment(StrEnum):
    FILLED = "filled"  # a slot with its post
    GAP = "gap"  # a slot nothing fills
    OFF_SLOT = "off_slot"  # a post on no slot


class BurstKind(StrEnum):
    TOO_CLOSE = "too_close"  # posts closer to each other than the spacing asked for
    OVER_DAILY_SLOTS = "over_daily_slots"  # more posts in a day than that day has slots


class PostRef(Output):
    publication_id: uuid.UUID
    variant_id: uuid.UUID
    title: str
    status: Delivery
    at: datetime
    local: str


class MomentOut(Output):
    kind: Moment
    at: datetime
    local: str
    date: str
    slot: SlotOut | None
    # The slot's wall-clock time does not exist that day (summer time): moved forward.
    shifted: bool
    post: PostRef | None


class DayOut(Output):
    date: str
    weekday: int
    slots: int
    filled: int
    gaps: int
    posts: int


class BurstOut(Output):
    kind: BurstKind
    start: datetime
    end: datetime
    date: str
    message: str
    variant_ids: list[uuid.UUID]


class HealthSummary(Output):
    slots: int
    filled: int
    gaps: int
    posts: int
    off_slot: int
    bursts: int
    # filled / slots: 1.0 is the rhythm kept; None when the range holds no slot.
    regularity: float | None


class QueueHealthOut(Output):
    channel_id: uuid.UUID
    brand_id: uuid.UUID
    network: str
    timezone: str
    start: datetime = msgspec.field(name="from")
    end: datetime = msgspec.field(name="to")
    min_spacing_minutes: int
    slot_tolerance_minutes: int
    slots: list[SlotOut]
    summary: HealthSummary
    timeline: list[MomentOut]
    days: list[DayOut]
    bursts: list[BurstOut]


# -- calendar -------------------------------------------------------------------------------


class CalendarEntry(Output):
    """One variant on the calendar: one publication on one channel."""

    variant_id: uuid.UUID
    publication_id: uuid.UUID
    title: str
    brand_id: uuid.UUID
    brand_name: str
    channel_id: uuid.UUID
    channel_name: str
    network: str
    due_at: datetime
    local_time: str
    timezone: str
    status: Delivery
    publication_status: Status
    campaign: str | None
    reporting_line: ReportingLine | None
    series_id: uuid.UUID | None
    published_at: datetime | None
    post_url: str | None


class CalendarOut(Output):
    start: datetime = msgspec.field(name="from")
    end: datetime = msgspec.field(name="to")
    items: list[CalendarEntry]
    next_cursor: str | None


# -- feeds ----------------------------------------------------------------------------------


class FeedCreate(Input):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] = "Calendar feed"


class FeedOut(Output):
    id: uuid.UUID
    brand_id: uuid.UUID
    name: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, feed: CalendarFeed) -> FeedOut:
        return cls(
            id=feed.id,
            brand_id=feed.brand_id,
            name=feed.name,
            created_at=feed.created_at,
            revoked_at=feed.revoked_at,
            last_used_at=feed.last_used_at,
        )


class FeedCreated(FeedOut):
    """Shown once: the secret address to paste into a calendar app."""

    url: str = ""


class FeedPage(Output):
    items: list[FeedOut]
    next_cursor: str | None = None


# -- series ---------------------------------------------------------------------------------


class OccurrenceOut(Output):
    publication_id: uuid.UUID
    status: Status
    scheduled_at: datetime | None


class SeriesOut(Output):
    id: uuid.UUID
    brand_id: uuid.UUID
    rule: str
    dtstart: str
    occurrences_created: int
    next_refill_at: datetime | None
    finished_at: datetime | None
    canceled_at: datetime | None
    last_error: str | None
    publications: list[OccurrenceOut]

    @classmethod
    def of(cls, series: PublicationSeries, occurrences: list[OccurrenceOut]) -> SeriesOut:
        return cls(
            id=series.id,
            brand_id=series.brand_id,
            rule=series.rule,
            dtstart=series.dtstart,
            occurrences_created=series.occurrences,
            next_refill_at=series.refill_at,
            finished_at=series.finished_at,
            canceled_at=series.canceled_at,
            last_error=series.last_error,
            publications=occurrences,
        )


# -- import ---------------------------------------------------------------------------------


class RowProblem(Output):
    column: str
    message: str
    code: str


class RowReport(Output):
    row: int
    accepted: bool
    problems: list[RowProblem]
    publication_id: uuid.UUID | None = None
    due_at: datetime | None = None


class ImportOut(Output):
    dry_run: bool
    accepted: int
    refused: int
    rows: list[RowReport]


def report_dicts(rows: list[RowReport]) -> list[dict[str, Any]]:
    return [msgspec.to_builtins(r) for r in rows]
