"""Wall-clock times in a brand's zone, ranges of instants, and RFC 5545 rules.

A rule is expanded in wall-clock time, then each start is converted to UTC: "every Monday
at 09:00" stays at 09:00 in Paris across a change of summer time. A wall-clock time the
clocks skip moves forward by the gap (02:30 on the spring Sunday is 03:30), as calendar
programs and :func:`agency.publication.timing.slot_times` do; one they pass twice (autumn)
is the first of the two.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rruleset, rrulestr

from agency.kernel.errors import InvalidInput

MAX_RANGE = timedelta(days=92)
# A rule more frequent than this floods a channel: refused when a series starts.
TOO_FREQUENT = {"SECONDLY", "MINUTELY"}
WALL_FORMAT = "%Y-%m-%dT%H:%M:%S"


def wall_to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """A naive wall-clock time in ``zone`` as UTC (skipped: moved forward; repeated: first)."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def utc_to_wall(when: datetime, zone: ZoneInfo) -> datetime:
    return when.astimezone(zone).replace(tzinfo=None)


def wall_text(wall: datetime) -> str:
    return wall.strftime(WALL_FORMAT)


def parse_wall(text: str) -> datetime:
    return datetime.strptime(text, WALL_FORMAT)


def local_iso(when: datetime, zone: ZoneInfo) -> str:
    """An instant as the brand reads it: wall-clock time with its offset."""
    return when.astimezone(zone).isoformat()


def instant_range(
    start: str | datetime | None,
    end: str | datetime | None,
    *,
    maximum: timedelta = MAX_RANGE,
) -> tuple[datetime, datetime]:
    """Check a ``from``/``to`` query: both given, RFC 3339 with offsets, in order, not too
    long. Every problem is a 422 naming ``from`` or ``to``."""
    errors: list[dict[str, str]] = []
    first = _instant("from", start, errors)
    last = _instant("to", end, errors)
    if errors:
        raise InvalidInput("Give the range as two RFC 3339 instants, from and to.", errors)
    assert first is not None and last is not None
    if last <= first:
        raise InvalidInput(
            "The range ends before it starts.",
            [{"field": "to", "message": f"{last.isoformat()} is not after {first.isoformat()}"}],
        )
    if last - first > maximum:
        raise InvalidInput(
            f"A range covers at most {maximum.days} days; ask for several.",
            [{"field": "to", "message": f"more than {maximum.days} days after from"}],
        )
    return first.astimezone(UTC), last.astimezone(UTC)


def _instant(
    name: str, value: str | datetime | None, errors: list[dict[str, str]]
) -> datetime | None:
    if value is None or value == "":
        errors.append({"field": name, "message": "required (RFC 3339, e.g. 2027-03-01T00:00:00Z)"})
        return None
    try:
        when = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    except ValueError:
        errors.append({"field": name, "message": f"{value!r} is not an RFC 3339 date-time"})
        return None
    if when.tzinfo is None:
        errors.append({"field": name, "message": "needs an offset (e.g. Z or +01:00)"})
        return None
    return when


@dataclass(frozen=True)
class Rule:
    """An RFC 5545 rule anchored at a wall-clock DTSTART in a zone."""

    occurrences: rruleset
    aware: bool

    def next_start(self, after: datetime, zone: ZoneInfo) -> datetime | None:
        """The first wall-clock start strictly after the wall-clock ``after``, or None."""
        probe = after.replace(tzinfo=zone) if self.aware else after
        found = self.occurrences.after(probe, inc=False)
        return found.replace(tzinfo=None) if found is not None else None


def parse_rule(rule: str, dtstart: datetime, zone: ZoneInfo) -> Rule:
    """The rule anchored at the wall-clock ``dtstart``.

    RFC 5545 wants UNTIL in UTC when DTSTART has a zone, but a date alone is common in
    hand-written rules: both are read (the second as wall-clock time).
    """
    text = rule if rule.upper().startswith("RRULE:") else f"RRULE:{rule}"
    if any(f"FREQ={freq}" in text.upper() for freq in TOO_FREQUENT):
        raise InvalidInput(
            "A publication cannot repeat more often than hourly.",
            [{"field": "recurrence", "message": "FREQ must be HOURLY or less frequent"}],
        )
    problem = ""
    for aware in (True, False):
        anchor = dtstart.replace(tzinfo=zone) if aware else dtstart
        try:
            parsed = rrulestr(text, dtstart=anchor, forceset=True)
            parsed.after(anchor)  # a bad UNTIL only shows when the rule is expanded
        except (ValueError, TypeError) as exc:
            problem = str(exc)
            continue
        assert isinstance(parsed, rruleset)
        return Rule(parsed, aware)
    raise InvalidInput(
        f"The recurrence rule cannot be expanded: {problem}.",
        [{"field": "recurrence", "message": problem}],
    )


def days(start: datetime, end: datetime, zone: ZoneInfo) -> Iterator[datetime]:
    """Each wall-clock midnight of the local days that ``[start, end)`` touches."""
    day = utc_to_wall(start, zone).replace(hour=0, minute=0, second=0, microsecond=0)
    last = utc_to_wall(end - timedelta(microseconds=1), zone)
    while day <= last:
        yield day
        day += timedelta(days=1)
