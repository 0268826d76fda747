"""Times: wall-clock times in a brand's zone (DST included), quotas over rolling windows,
queue slots."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from agency.kernel.errors import InvalidInput

QUOTA_WINDOW = timedelta(hours=24)


def local_display(when: datetime | None, timezone: str) -> str:
    """``when`` as the brand's people read it: its wall-clock time in ``timezone`` ("-" if
    none). E-mails and pages say the zone next to it."""
    return when.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M") if when else "-"


def local_to_utc(local: str, timezone: str, field: str = "local_time") -> datetime:
    """A wall-clock time in ``timezone`` as UTC; a time the clocks skip is refused, and a
    time they pass twice (autumn) is the first of the two."""
    zone = ZoneInfo(timezone)
    naive = datetime.fromisoformat(local)
    aware = naive.replace(tzinfo=zone, fold=0)
    # A skipped time does not survive the round trip through UTC.
    back = aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if back != naive:
        raise InvalidInput(
            f"{local} does not exist in {timezone}: the clocks skip it (daylight saving time).",
            errors=[
                {
                    "field": field,
                    "message": f"{local} is skipped by the change to summer time in {timezone}",
                }
            ],
        )
    return aware.astimezone(UTC)


def busiest_window(times: Iterable[datetime], window: timedelta = QUOTA_WINDOW) -> int:
    """The most items inside any window of length ``window`` (a rolling quota)."""
    ordered = sorted(times)
    best = start = 0
    for end, when in enumerate(ordered):
        while when - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def quota_allows(existing: Sequence[datetime], candidate: datetime, limit: int) -> bool:
    """Whether one more post at ``candidate`` keeps every rolling window within ``limit``."""
    near = [t for t in existing if abs(t - candidate) < QUOTA_WINDOW]
    return busiest_window([*near, candidate]) <= limit


def slot_times(
    slots: Sequence[tuple[int, str]], timezone: str, start: datetime, weeks: int = 8
) -> Iterator[datetime]:
    """Every slot occurrence from ``start`` on (UTC, in order) for ``weeks`` weeks.

    A slot whose wall-clock time the clocks skip that day moves to the same time after the
    change (as calendar programs do); a time passed twice is taken once.
    """
    if not slots:
        return
    zone = ZoneInfo(timezone)
    first_day: date = start.astimezone(zone).date()
    for offset in range(weeks * 7 + 1):
        day = first_day + timedelta(days=offset)
        for weekday, hhmm in sorted(slots, key=lambda s: s[1]):
            if day.weekday() != weekday:
                continue
            hour, minute = (int(x) for x in hhmm.split(":"))
            when = datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(UTC)
            if when > start:
                yield when
