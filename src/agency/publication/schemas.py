from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec

from agency.brand.schemas import ReportingLine
from agency.kernel.http import etag
from agency.kernel.schemas import Input, Output
from agency.kernel.tenancy import ActorKind
from agency.publication.models import Attempt, Publication, PublicationVersion, Variant
from agency.publication.states import (
    AttemptKind,
    AttemptOutcome,
    Delivery,
    FirstCommentStatus,
    Status,
)

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
PostText = Annotated[str, msgspec.Meta(max_length=100_000)]
Url = Annotated[str, msgspec.Meta(max_length=2000, pattern=r"^https?://[^\s]+$")]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
UtmValue = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Rule = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=500,
        description="An RFC 5545 recurrence rule, e.g. FREQ=WEEKLY;BYDAY=MO;COUNT=10.",
    ),
]


class Utm(Input):
    """UTM parameters added to every link of the publication when it is published."""

    source: UtmValue | None = None
    medium: UtmValue | None = None
    campaign: UtmValue | None = None
    term: UtmValue | None = None
    content: UtmValue | None = None


class VariantIn(Input):
    channel_id: uuid.UUID
    text: PostText = ""
    link: Url | None = None
    title: Annotated[str, msgspec.Meta(max_length=300)] | None = None
    first_comment: Annotated[str, msgspec.Meta(max_length=10_000)] | None = None
    options: dict[str, Any] = {}
    media_ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=35)] = []
    copy_from: (
        Annotated[
            uuid.UUID,
            msgspec.Meta(
                description="Start from this channel's variant in the same request or "
                "publication: its fields are copied where this one sends none, to adapt."
            ),
        ]
        | None
    ) = None


Variants = Annotated[list[VariantIn], msgspec.Meta(min_length=1, max_length=30)]


class PublicationCreate(Input):
    title: Title
    variants: Variants
    campaign: Tag | None = None
    reporting_line: ReportingLine | None = None
    tags: Annotated[list[Tag], msgspec.Meta(max_length=50)] = []
    utm: Utm = msgspec.field(default_factory=Utm)
    recurrence: Rule | None = None


class PublicationUpdate(Input):
    """Only the fields present change; ``variants`` replaces the set (matched by channel)."""

    title: Title | msgspec.UnsetType = msgspec.UNSET
    variants: Variants | msgspec.UnsetType = msgspec.UNSET
    campaign: Tag | msgspec.UnsetType | None = msgspec.UNSET
    reporting_line: ReportingLine | msgspec.UnsetType | None = msgspec.UNSET
    tags: Annotated[list[Tag], msgspec.Meta(max_length=50)] | msgspec.UnsetType = msgspec.UNSET
    utm: Utm | msgspec.UnsetType = msgspec.UNSET
    recurrence: Rule | msgspec.UnsetType | None = msgspec.UNSET


class ScheduleIn(Input):
    """Either an instant with its offset (``at``), or a wall-clock time in the brand's zone."""

    at: Annotated[datetime, msgspec.Meta(description="RFC 3339 with an offset, e.g. Z.")] | None = (
        None
    )
    local_time: (
        Annotated[
            str,
            msgspec.Meta(
                pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$",
                description="Wall-clock time in the brand's time zone, e.g. 2027-03-28T09:30.",
            ),
        ]
        | None
    ) = None


class ResolveIn(Input):
    """What a person found on the account for an unknown outcome."""

    published: Annotated[
        bool,
        msgspec.Meta(
            description="true: the post is there (give its URL); false: it is not, publish it."
        ),
    ]
    post_url: Url | None = None


class ProblemOut(Output):
    field: str
    message: str
    code: str


class VariantOut(Output):
    id: uuid.UUID
    channel_id: uuid.UUID
    network: str
    text: str
    link: str | None
    title: str | None
    first_comment: str | None
    options: dict[str, Any]
    media_ids: list[uuid.UUID]
    status: Delivery
    due_at: datetime | None
    not_before: datetime | None
    hold_reason: str | None
    # Held by a crisis since then: it waits for a person to re-confirm or reschedule it.
    held_at: datetime | None
    attempt_count: int
    post_id: str | None
    post_url: str | None
    published_at: datetime | None
    first_comment_status: FirstCommentStatus | None
    last_error: str | None
    problems: list[ProblemOut]

    @classmethod
    def of(cls, v: Variant, problems: list[ProblemOut]) -> VariantOut:
        return cls(
            id=v.id,
            channel_id=v.channel_id,
            network=v.network,
            text=v.text,
            link=v.link,
            title=v.title,
            first_comment=v.first_comment,
            options=dict(v.options),
            media_ids=[uuid.UUID(m) for m in v.media_ids],
            status=Delivery(v.status),
            due_at=v.due_at,
            not_before=v.not_before,
            hold_reason=v.hold_reason,
            held_at=v.held_at,
            attempt_count=v.attempt_count,
            post_id=v.post_id,
            post_url=v.post_url,
            published_at=v.published_at,
            first_comment_status=(
                FirstCommentStatus(v.first_comment_status) if v.first_comment_status else None
            ),
            last_error=v.last_error,
            problems=problems,
        )


class PublicationOut(Output):
    id: uuid.UUID
    brand_id: uuid.UUID
    title: str
    status: Status
    scheduled_at: datetime | None
    campaign: str | None
    reporting_line: ReportingLine | None
    tags: list[str]
    utm: dict[str, str]
    recurrence: str | None
    series_id: uuid.UUID | None
    variants: list[VariantOut]
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime | None
    approved_at: datetime | None
    canceled_at: datetime | None
    version: int
    # What an edit sends in If-Match (the ETag its GET answers with), so a list can edit.
    etag: str

    @classmethod
    def of(
        cls, p: Publication, variants: list[Variant], problems: dict[uuid.UUID, list[ProblemOut]]
    ) -> PublicationOut:
        return cls(
            id=p.id,
            brand_id=p.brand_id,
            title=p.title,
            status=Status(p.status),
            scheduled_at=p.scheduled_at,
            campaign=p.campaign,
            reporting_line=ReportingLine(p.reporting_line) if p.reporting_line else None,
            tags=list(p.tags),
            utm=dict(p.utm),
            recurrence=p.recurrence,
            series_id=p.series_id,
            variants=[VariantOut.of(v, problems.get(v.id, [])) for v in variants],
            created_by=p.created_by,
            created_at=p.created_at,
            updated_at=p.updated_at,
            approved_at=p.approved_at,
            canceled_at=p.canceled_at,
            version=p.version,
            etag=etag(p.version),
        )


class PublicationSummary(Output):
    """A publication in a list: its variants' channels and states, not their text."""

    id: uuid.UUID
    brand_id: uuid.UUID
    title: str
    status: Status
    scheduled_at: datetime | None
    campaign: str | None
    reporting_line: ReportingLine | None
    tags: list[str]
    created_at: datetime
    version: int
    # What an edit sends in If-Match (the ETag its GET answers with), so a list can edit.
    etag: str


class PublicationPage(Output):
    items: list[PublicationSummary]
    next_cursor: str | None


class AttemptOut(Output):
    id: uuid.UUID
    variant_id: uuid.UUID
    number: int
    kind: AttemptKind
    outcome: AttemptOutcome
    started_at: datetime
    finished_at: datetime | None
    http_status: int | None
    message: str | None
    retry_after_seconds: float | None
    post_id: str | None

    @classmethod
    def of(cls, a: Attempt) -> AttemptOut:
        return cls(
            id=a.id,
            variant_id=a.variant_id,
            number=a.number,
            kind=AttemptKind(a.kind),
            outcome=AttemptOutcome(a.outcome),
            started_at=a.started_at,
            finished_at=a.finished_at,
            http_status=a.http_status,
            message=a.message,
            retry_after_seconds=a.retry_after_seconds,
            post_id=a.post_id,
        )


class AttemptList(Output):
    items: list[AttemptOut]


class VersionOut(Output):
    number: int
    action: str
    actor_kind: ActorKind
    actor_id: uuid.UUID | None
    at: datetime
    changes: dict[str, Any]

    @classmethod
    def of(cls, v: PublicationVersion) -> VersionOut:
        return cls(
            number=v.number,
            action=v.action,
            actor_kind=ActorKind(v.actor_kind),
            actor_id=v.actor_id,
            at=v.at,
            changes=dict(v.changes),
        )


class VersionList(Output):
    items: list[VersionOut]
