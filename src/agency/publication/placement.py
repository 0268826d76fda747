"""When a variant goes: the instant a schedule request names, the network's quota, the queue.

A time is `at` (an instant with its offset) or `local_time` in the brand's IANA zone (a DST
gap is refused, a repeated hour takes its first occurrence: :mod:`agency.publication.timing`);
a network's rolling 24-hour quota (Instagram's 50 posts) is checked against the channel's
other posts; "add to queue" takes the channel's next free weekly slot.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from agency.brand.models import Brand
from agency.kernel.db import utcnow
from agency.kernel.errors import InvalidInput
from agency.kernel.tenancy import Subject
from agency.publication.models import Variant
from agency.publication.repository import QueueSlotRepository, VariantRepository
from agency.publication.schemas import ScheduleIn
from agency.publication.timing import QUOTA_WINDOW, local_to_utc, quota_allows, slot_times

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime

# A publication due sooner than this is "now": the scheduler takes it at its next tick.
MIN_LEAD = timedelta(seconds=0)


def schedule_time(data: ScheduleIn, brand: Brand) -> datetime:
    """The instant ``data`` names: ``at`` with its offset, or ``local_time`` in the brand's zone."""
    if (data.at is None) == (data.local_time is None):
        raise InvalidInput(
            "Send either `at` (an instant with its offset) or `local_time` (in the brand's "
            "time zone), not both and not neither.",
            errors=[{"field": "at", "message": "exactly one of at and local_time"}],
        )
    if data.at is not None:
        if data.at.tzinfo is None:
            raise InvalidInput(
                "`at` needs an offset (e.g. Z or +01:00); or send `local_time`.",
                errors=[{"field": "at", "message": "no time zone offset"}],
            )
        when = data.at
        field = "at"
    else:
        assert data.local_time is not None
        when = local_to_utc(data.local_time, brand.timezone)
        field = "local_time"
    if when < utcnow() + MIN_LEAD:
        raise InvalidInput(
            "This time is in the past; choose a time to come.",
            errors=[{"field": field, "message": f"{when.isoformat()} is in the past"}],
        )
    return when


class Placement:
    """Quota and queue checks for one agency, in the caller's session."""

    def __init__(self, session: AsyncSession, subject: Subject, runtime: Runtime) -> None:
        self.session = session
        self.subject = subject
        self.runtime = runtime
        self.variants = VariantRepository(session, subject)

    async def check_quota(self, variant: Variant, when: datetime) -> None:
        cls = self.runtime.connectors.get(variant.network)
        limit = cls.limits.max_posts_per_day if cls else None
        if not limit:
            return
        existing = await self.variants.channel_times(
            variant.channel_id, when - QUOTA_WINDOW, when + QUOTA_WINDOW, exclude=[variant.id]
        )
        if not quota_allows(existing, when, limit):
            raise InvalidInput(
                f"{cls.display_name if cls else variant.network} allows {limit} posts per "
                "24 hours on this account; that window is full.",
                errors=[
                    {
                        "field": "due_at",
                        "message": f"the channel already has {limit} posts within 24 hours "
                        f"of {when.isoformat()}",
                        "code": "quota_exhausted",
                    }
                ],
            )

    async def next_free_slot(self, variant: Variant, brand: Brand) -> datetime:
        slots = await QueueSlotRepository(self.session, self.subject).of_channel(variant.channel_id)
        if not slots:
            raise InvalidInput(
                "This channel has no queue slots; add weekly slots or pick a time.",
                errors=[
                    {
                        "field": "channel_id",
                        "message": f"channel {variant.channel_id} has no queue slots",
                    }
                ],
            )
        now = utcnow()
        taken = await self.variants.taken_times(variant.channel_id, now)
        for when in slot_times([(s.weekday, s.local_time) for s in slots], brand.timezone, now):
            if when in taken:
                continue
            try:
                await self.check_quota(variant, when)
            except InvalidInput:
                continue
            return when
        raise InvalidInput(
            "Every queue slot of the next eight weeks is taken on this channel.",
            errors=[{"field": "channel_id", "message": "queue full"}],
        )
