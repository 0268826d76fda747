"""A channel's weekly queue slots, and its posts held against them (gaps and bursts)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from agency.audit.repository import AuditRepository
from agency.brand.models import Brand
from agency.brand.repository import BrandRepository
from agency.calendar.repository import CalendarRepository
from agency.calendar.rhythm import Mark, Post, Rhythm, analyse
from agency.calendar.schemas import (
    BurstOut,
    DayOut,
    HealthSummary,
    Moment,
    MomentOut,
    PostRef,
    QueueHealthOut,
    SlotIn,
    SlotOut,
)
from agency.calendar.wallclock import instant_range, local_iso, utc_to_wall
from agency.channel.models import Channel
from agency.channel.repository import ChannelRepository
from agency.kernel.errors import InvalidInput
from agency.kernel.tenancy import Subject
from agency.publication.repository import QueueSlotRepository
from agency.publication.states import Delivery

HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DEFAULT_SPAN = timedelta(days=14)


class QueueService:
    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.session = session
        self.subject = subject
        self.slots = QueueSlotRepository(session, subject)

    async def channel(self, channel_id: uuid.UUID) -> tuple[Channel, Brand]:
        channel = await ChannelRepository(self.session, self.subject).get(channel_id)
        brand = await BrandRepository(self.session, self.subject).get(channel.brand_id)
        return channel, brand

    async def weekly(self, channel_id: uuid.UUID) -> list[tuple[int, str]]:
        return [(s.weekday, s.local_time) for s in await self.slots.of_channel(channel_id)]

    async def replace(self, channel_id: uuid.UUID, items: Sequence[SlotIn]) -> None:
        """Replace the channel's weekly slots; every bad or repeated item is named."""
        await self.channel(channel_id)
        errors: list[dict[str, str]] = []
        seen: dict[tuple[int, str], int] = {}
        for index, item in enumerate(items):
            where = f"slots[{index}]"
            bad = False
            if not 0 <= item.weekday <= 6:
                errors.append({"field": f"{where}.weekday", "message": "0 (Monday) to 6 (Sunday)"})
                bad = True
            if not HHMM.match(item.local_time):
                errors.append(
                    {"field": f"{where}.local_time", "message": "HH:MM, from 00:00 to 23:59"}
                )
                bad = True
            if bad:
                continue
            key = (item.weekday, item.local_time)
            if key in seen:
                errors.append(
                    {
                        "field": where,
                        "message": f"{WEEKDAYS[item.weekday]} {item.local_time} is already "
                        f"slots[{seen[key]}]",
                    }
                )
            seen.setdefault(key, index)
        if errors:
            raise InvalidInput("Some queue slots are not valid; nothing was changed.", errors)
        ordered = sorted(seen)
        await self.slots.replace(channel_id, ordered)
        AuditRepository(self.session, self.subject).record(
            "queue_slots.replaced",
            "channel",
            channel_id,
            {"slots": [f"{WEEKDAYS[d][:3]} {t}" for d, t in ordered]},
        )

    async def health(
        self,
        channel_id: uuid.UUID,
        start: str | None,
        end: str | None,
        min_spacing: timedelta,
        tolerance: timedelta,
        now: datetime,
    ) -> QueueHealthOut:
        """The channel's posts in the range against its slots (from now for two weeks when
        no range is given)."""
        channel, brand = await self.channel(channel_id)
        if not start and not end:
            first, last = now, now + DEFAULT_SPAN
        else:
            first, last = instant_range(start, end)
        slots = await self.weekly(channel_id)
        rows = await CalendarRepository(self.session, self.subject).channel_posts(
            channel_id, first, last
        )
        posts = [Post(r.id, r.publication_id, r.title, r.status, r.due_at) for r in rows]
        zone = ZoneInfo(brand.timezone)
        rhythm = analyse(
            slots, posts, zone, first, last, min_spacing=min_spacing, tolerance=tolerance
        )
        return _out(channel, brand, slots, rhythm, first, last, min_spacing, tolerance)


def _out(
    channel: Channel,
    brand: Brand,
    slots: list[tuple[int, str]],
    rhythm: Rhythm,
    start: datetime,
    end: datetime,
    min_spacing: timedelta,
    tolerance: timedelta,
) -> QueueHealthOut:
    zone = ZoneInfo(brand.timezone)
    marks = rhythm.marks
    count = {kind: sum(m.kind == kind for m in marks) for kind in Moment}
    with_slot = count[Moment.FILLED] + count[Moment.GAP]
    return QueueHealthOut(
        channel_id=channel.id,
        brand_id=brand.id,
        network=channel.network,
        timezone=brand.timezone,
        start=start,
        end=end,
        min_spacing_minutes=int(min_spacing.total_seconds() // 60),
        slot_tolerance_minutes=int(tolerance.total_seconds() // 60),
        slots=[SlotOut(weekday=d, local_time=t) for d, t in slots],
        summary=HealthSummary(
            slots=with_slot,
            filled=count[Moment.FILLED],
            gaps=count[Moment.GAP],
            posts=count[Moment.FILLED] + count[Moment.OFF_SLOT],
            off_slot=count[Moment.OFF_SLOT],
            bursts=len(rhythm.bursts),
            regularity=round(count[Moment.FILLED] / with_slot, 3) if with_slot else None,
        ),
        timeline=[_moment(m, zone) for m in marks],
        days=[
            DayOut(
                date=d.date.date().isoformat(),
                weekday=d.date.weekday(),
                slots=d.slots,
                filled=d.filled,
                gaps=d.gaps,
                posts=d.posts,
            )
            for d in rhythm.days
        ],
        bursts=[
            BurstOut(
                kind=b.kind,
                start=b.posts[0].at,
                end=b.posts[-1].at,
                date=utc_to_wall(b.posts[0].at, zone).date().isoformat(),
                message=b.message,
                variant_ids=[p.variant_id for p in b.posts],
            )
            for b in rhythm.bursts
        ],
    )


def _moment(mark: Mark, zone: ZoneInfo) -> MomentOut:
    post = mark.post
    return MomentOut(
        kind=mark.kind,
        at=mark.at,
        local=local_iso(mark.at, zone),
        date=utc_to_wall(mark.at, zone).date().isoformat(),
        slot=SlotOut(weekday=mark.slot.weekday, local_time=mark.slot.local_time)
        if mark.slot
        else None,
        shifted=bool(mark.slot and mark.slot.shifted),
        post=PostRef(
            publication_id=post.publication_id,
            variant_id=post.variant_id,
            title=post.title,
            status=Delivery(post.status),
            at=post.at,
            local=local_iso(post.at, zone),
        )
        if post
        else None,
    )
