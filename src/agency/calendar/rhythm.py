"""A channel's posts held against its weekly slots: filled slots, gaps, off-slot posts, bursts.

The guides name an irregular frequency as the classic weakness of an account; this is what
shows it. A slot is *filled* by the nearest post within the tolerance (each post fills one
slot at most); a slot nothing fills is a *gap*; a post on no slot is *off slot*. A *burst*
is either posts closer to each other than the spacing asked for, or a day with more posts
than that weekday has slots (counted only for a channel that has slots, and from two posts
up: one post on a day without slots is off slot, not a burst).
"""

from __future__ import annotations

import bisect
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from agency.calendar.schemas import BurstKind, Moment
from agency.calendar.wallclock import days, utc_to_wall, wall_to_utc


@dataclass(frozen=True)
class SlotTime:
    at: datetime
    weekday: int
    local_time: str
    shifted: bool  # the wall-clock time does not exist that day (summer time)


@dataclass(frozen=True)
class Post:
    variant_id: uuid.UUID
    publication_id: uuid.UUID
    title: str
    status: str
    at: datetime


@dataclass(frozen=True)
class Mark:
    kind: Moment
    at: datetime
    slot: SlotTime | None
    post: Post | None


@dataclass(frozen=True)
class Burst:
    kind: BurstKind
    posts: tuple[Post, ...]
    message: str


@dataclass(frozen=True)
class Day:
    date: datetime
    slots: int
    filled: int
    posts: int

    @property
    def gaps(self) -> int:
        return self.slots - self.filled


@dataclass
class Rhythm:
    marks: list[Mark] = field(default_factory=list)
    days: list[Day] = field(default_factory=list)
    bursts: list[Burst] = field(default_factory=list)


def slot_occurrences(
    slots: Sequence[tuple[int, str]], zone: ZoneInfo, start: datetime, end: datetime
) -> list[SlotTime]:
    """Each weekly slot's instants in ``[start, end)``, in order (once, if DST merges two)."""
    found: dict[datetime, SlotTime] = {}
    for day in days(start, end, zone):
        for weekday, hhmm in sorted(slots, key=lambda s: s[1]):
            if weekday != day.weekday():
                continue
            wall = datetime.combine(day.date(), time.fromisoformat(hhmm))
            at = wall_to_utc(wall, zone)
            if start <= at < end and at not in found:
                shifted = utc_to_wall(at, zone) != wall
                found[at] = SlotTime(at, weekday, hhmm, shifted)
    return sorted(found.values(), key=lambda s: s.at)


def analyse(
    slots: Sequence[tuple[int, str]],
    posts: Sequence[Post],
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    *,
    min_spacing: timedelta,
    tolerance: timedelta,
) -> Rhythm:
    occurrences = slot_occurrences(slots, zone, start, end)
    ordered = sorted(posts, key=lambda p: (p.at, p.variant_id))
    marks, used = _match(occurrences, ordered, tolerance)
    marks.extend(
        Mark(Moment.OFF_SLOT, p.at, None, p) for i, p in enumerate(ordered) if i not in used
    )
    marks.sort(key=lambda m: (m.at, m.kind != Moment.FILLED))
    rhythm = Rhythm(marks=marks)
    rhythm.days = _days(marks, ordered, zone, start, end)
    rhythm.bursts = _too_close(ordered, min_spacing, zone)
    if slots:
        per_weekday = Counter(weekday for weekday, _ in slots)
        rhythm.bursts.extend(_over_daily(ordered, per_weekday, zone))
    rhythm.bursts.sort(key=lambda b: (b.posts[0].at, b.kind))
    return rhythm


def _match(
    occurrences: Sequence[SlotTime], posts: Sequence[Post], tolerance: timedelta
) -> tuple[list[Mark], set[int]]:
    """Each slot takes the nearest free post within the tolerance (earliest on a tie)."""
    times = [p.at for p in posts]
    used: set[int] = set()
    marks: list[Mark] = []
    for slot in occurrences:
        low = bisect.bisect_left(times, slot.at - tolerance)
        high = bisect.bisect_right(times, slot.at + tolerance)
        free = [i for i in range(low, high) if i not in used]
        if not free:
            marks.append(Mark(Moment.GAP, slot.at, slot, None))
            continue
        best = min(free, key=lambda i: (abs(times[i] - slot.at), times[i]))
        used.add(best)
        marks.append(Mark(Moment.FILLED, slot.at, slot, posts[best]))
    return marks, used


def _days(
    marks: Sequence[Mark], posts: Sequence[Post], zone: ZoneInfo, start: datetime, end: datetime
) -> list[Day]:
    slots: Counter[datetime] = Counter()
    filled: Counter[datetime] = Counter()
    for mark in marks:
        if mark.slot is None:
            continue
        day = _day_of(mark.at, zone)
        slots[day] += 1
        filled[day] += mark.kind == Moment.FILLED
    counted = Counter(_day_of(p.at, zone) for p in posts)
    return [Day(d, slots[d], filled[d], counted[d]) for d in days(start, end, zone)]


def _too_close(posts: Sequence[Post], spacing: timedelta, zone: ZoneInfo) -> list[Burst]:
    bursts: list[Burst] = []
    run: list[Post] = []
    for post in [*posts, None]:
        if post is not None and run and post.at - run[-1].at < spacing:
            run.append(post)
            continue
        if len(run) > 1:
            minutes = int((run[-1].at - run[0].at).total_seconds() // 60)
            bursts.append(
                Burst(
                    BurstKind.TOO_CLOSE,
                    tuple(run),
                    f"{len(run)} posts within {minutes} minutes, closer than "
                    f"{int(spacing.total_seconds() // 60)} minutes apart",
                )
            )
        run = [post] if post is not None else []
    return bursts


def _over_daily(posts: Sequence[Post], per_weekday: Counter[int], zone: ZoneInfo) -> list[Burst]:
    by_day: dict[datetime, list[Post]] = {}
    for post in posts:
        by_day.setdefault(_day_of(post.at, zone), []).append(post)
    bursts = []
    for day, day_posts in by_day.items():
        allowed = per_weekday[day.weekday()]
        if len(day_posts) > max(allowed, 1):
            bursts.append(
                Burst(
                    BurstKind.OVER_DAILY_SLOTS,
                    tuple(day_posts),
                    f"{len(day_posts)} posts on {day.date().isoformat()}, which has "
                    f"{allowed} slot{'s' if allowed != 1 else ''}",
                )
            )
    return bursts


def _day_of(when: datetime, zone: ZoneInfo) -> datetime:
    return utc_to_wall(when, zone).replace(hour=0, minute=0, second=0, microsecond=0)
