"""When a schedule fires and which period each firing covers, in the brand's time zone.

A rule is RFC 5545 (``FREQ=WEEKLY;BYDAY=MO;BYHOUR=8;BYMINUTE=0``: every Monday at 08:00;
``FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1;BYHOUR=8``: the first working day of the
month), expanded in wall-clock time from local midnight of ``starts_on`` by
:mod:`agency.calendar.wallclock`, so 08:00 stays 08:00 across summer time.

The period is read from the local day of the firing: *last week* is the Monday-to-Sunday
week before that day's week, *last month* the calendar month before, *month to date* the
first of the month up to the day before (on the 1st: the whole previous month). Only whole
local days are reported, never a day still under way.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from agency.calendar.wallclock import Rule, parse_rule, utc_to_wall, wall_to_utc
from agency.kernel.errors import InvalidInput

ALLOWED_FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")


class PeriodKind(StrEnum):
    LAST_WEEK = "last_week"
    LAST_MONTH = "last_month"
    MONTH_TO_DATE = "month_to_date"


def period_of(kind: str, day: date) -> tuple[date, date]:
    """The local days (first, last, both included) a firing on local ``day`` reports."""
    if kind == PeriodKind.LAST_WEEK:
        monday = day - timedelta(days=day.weekday())
        return monday - timedelta(days=7), monday - timedelta(days=1)
    if kind == PeriodKind.LAST_MONTH:
        end = day.replace(day=1) - timedelta(days=1)
        return end.replace(day=1), end
    yesterday = day - timedelta(days=1)
    return yesterday.replace(day=1), yesterday


def period_end_instant(end: date, zone: ZoneInfo) -> datetime:
    """The instant the period's last local day ends (next local midnight), in UTC."""
    return wall_to_utc(datetime.combine(end + timedelta(days=1), time()), zone)


def rule_of(rule: str, starts_on: date, zone: ZoneInfo) -> Rule:
    """The schedule's rule, checked: RFC 5545, daily or less often. 422 naming ``rule``."""
    frequency = _frequency(rule)
    if frequency is None:
        raise InvalidInput(
            "The rule is not RFC 5545: it names no FREQ.",
            [{"field": "rule", "message": "FREQ is required (e.g. FREQ=WEEKLY;BYDAY=MO)"}],
        )
    if frequency not in ALLOWED_FREQUENCIES:
        raise InvalidInput(
            "A report is sent at most daily.",
            [{"field": "rule", "message": "FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY"}],
        )
    try:
        return parse_rule(rule, datetime.combine(starts_on, time()), zone)
    except InvalidInput as exc:
        errors = exc.extensions.get("errors") or []
        message = errors[0]["message"] if errors else exc.detail
        raise InvalidInput(exc.detail, [{"field": "rule", "message": message}]) from exc


def _frequency(rule: str) -> str | None:
    text = rule.upper().removeprefix("RRULE:")
    for part in text.split(";"):
        name, _, value = part.partition("=")
        if name.strip() == "FREQ":
            return value.strip()
    return None


def next_firing(rule: Rule, after: datetime, zone: ZoneInfo) -> datetime | None:
    """The first firing strictly after the instant ``after``, in UTC (None: never again)."""
    wall = rule.next_start(utc_to_wall(after, zone), zone)
    return wall_to_utc(wall, zone) if wall is not None else None


def last_firing(rule: Rule, at_or_before: datetime, zone: ZoneInfo) -> datetime | None:
    """The latest firing at or before the instant ``at_or_before``, in UTC."""
    probe = utc_to_wall(at_or_before, zone)
    anchor = probe.replace(tzinfo=zone) if rule.aware else probe
    found = rule.occurrences.before(anchor, inc=True)
    if found is None:
        return None
    return wall_to_utc(found.replace(tzinfo=None), zone)


def first_firing_or_refuse(rule: Rule, now: datetime, zone: ZoneInfo) -> datetime:
    """The next firing after ``now``; a rule that never fires again is a 422 on ``rule``."""
    found = next_firing(rule, now, zone)
    if found is None:
        raise InvalidInput(
            "This rule never fires: no date matches it from now on.",
            [{"field": "rule", "message": "never fires (impossible date, or COUNT/UNTIL past)"}],
        )
    return found


def local_day(instant: datetime, zone: ZoneInfo) -> date:
    return instant.astimezone(zone).date()
