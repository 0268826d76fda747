from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import msgspec

from agency.brand.models import Crisis, CrisisEvent, TimelineKind
from agency.kernel.schemas import Input, Output
from agency.kernel.tenancy import ActorKind
from agency.publication.models import Variant
from agency.publication.schemas import ScheduleIn
from agency.publication.states import Delivery
from agency.webhook.events import EventType, payload_of

Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class CrisisStart(Input):
    reason: Annotated[Reason, msgspec.Meta(description="Why the brand goes silent (a bad buzz).")]


class CrisisEnd(Input):
    reason: Annotated[Reason, msgspec.Meta(description="Why the brand may speak again.")]


@payload_of(EventType.CRISIS_STARTED, EventType.CRISIS_ENDED)
class CrisisData(msgspec.Struct, kw_only=True):
    """A brand went silent (crisis mode), or may speak again."""

    crisis_id: uuid.UUID
    brand_id: uuid.UUID
    brand: str
    reason: str
    started_at: datetime
    started_by: str | None
    ended_at: datetime | None
    ended_by: str | None
    end_reason: str | None
    # Publications the pause holds until someone releases them.
    held_publications: int


class ActorOut(Output):
    kind: ActorKind
    id: uuid.UUID | None
    name: str | None


class CrisisOut(Output):
    id: uuid.UUID
    brand_id: uuid.UUID
    active: bool
    reason: str
    started_at: datetime
    started_by: ActorOut
    ended_at: datetime | None
    ended_by: ActorOut | None
    end_reason: str | None

    @classmethod
    def of(cls, c: Crisis) -> CrisisOut:
        ended = (
            ActorOut(kind=ActorKind(c.ended_by_kind), id=c.ended_by, name=c.ended_by_name)
            if c.ended_by_kind
            else None
        )
        return cls(
            id=c.id,
            brand_id=c.brand_id,
            active=c.ended_at is None,
            reason=c.reason,
            started_at=c.started_at,
            started_by=ActorOut(
                kind=ActorKind(c.started_by_kind), id=c.started_by, name=c.started_by_name
            ),
            ended_at=c.ended_at,
            ended_by=ended,
            end_reason=c.end_reason,
        )


class BrandCrisisOut(Output):
    """A brand's crisis state: the crisis under way, if any, and how much it holds."""

    brand_id: uuid.UUID
    active: bool
    crisis: CrisisOut | None
    held_publications: int


class CrisisPage(Output):
    items: list[CrisisOut]
    next_cursor: str | None


class TimelineEventOut(Output):
    at: datetime
    kind: TimelineKind
    actor: ActorOut
    publication_id: uuid.UUID | None
    publication_title: str | None
    variant_id: uuid.UUID | None
    detail: dict[str, Any]

    @classmethod
    def of(cls, e: CrisisEvent, titles: dict[uuid.UUID, str]) -> TimelineEventOut:
        return cls(
            at=e.at,
            kind=TimelineKind(e.kind),
            actor=ActorOut(kind=ActorKind(e.actor_kind), id=e.actor_id, name=e.actor_name),
            publication_id=e.publication_id,
            publication_title=titles.get(e.publication_id) if e.publication_id else None,
            variant_id=e.variant_id,
            detail=dict(e.detail),
        )


class TimelineOut(Output):
    crisis: CrisisOut
    events: list[TimelineEventOut]


class HeldPart(StrEnum):
    POST = "post"  # the post itself is held
    FIRST_COMMENT = "first_comment"  # the post is out; its first comment is held


def post_held(v: Variant) -> bool:
    """The variant's post itself waits (else it is its first comment, the post being out)."""
    return v.held_at is not None and v.status == Delivery.SCHEDULED


class HeldVariantOut(Output):
    variant_id: uuid.UUID
    channel_id: uuid.UUID
    network: str
    due_at: datetime | None
    held_at: datetime
    waiting: HeldPart

    @classmethod
    def of(cls, v: Variant) -> HeldVariantOut:
        post = post_held(v)
        return cls(
            variant_id=v.id,
            channel_id=v.channel_id,
            network=v.network,
            due_at=v.due_at,
            # A first comment is held the moment its post is out (finished_at).
            held_at=(v.held_at if post else v.finished_at) or v.created_at,
            waiting=HeldPart.POST if post else HeldPart.FIRST_COMMENT,
        )


class HeldPublicationOut(Output):
    publication_id: uuid.UUID
    title: str
    scheduled_at: datetime | None
    variants: list[HeldVariantOut]


class HeldList(Output):
    items: list[HeldPublicationOut]


class ReleaseAction(StrEnum):
    RECONFIRM = "reconfirm"
    RESCHEDULE = "reschedule"
    DISCARD = "discard"


class ReleaseItem(Input):
    """``reconfirm``: each held post keeps its time, or goes at once if that time has passed,
    and each held first comment goes at once under its post; ``reschedule``: every held post
    at ``at`` or ``local_time`` (as when scheduling); ``discard``: the held first comments
    never go (a held post is canceled as a publication instead)."""

    publication_id: uuid.UUID
    action: ReleaseAction
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

    def when(self) -> ScheduleIn:
        return ScheduleIn(at=self.at, local_time=self.local_time)


class ReleaseIn(Input):
    items: Annotated[list[ReleaseItem], msgspec.Meta(min_length=1, max_length=200)]


class ReleasedOut(Output):
    publication_id: uuid.UUID
    action: ReleaseAction
    # The publication's time; for first comments released alone, the moment they were.
    scheduled_at: datetime


class ReleaseOut(Output):
    items: list[ReleasedOut]
