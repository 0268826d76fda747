"""When a report schedule fires and which local days each firing reports (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from agency.kernel.errors import InvalidInput
from agency.report_mail.timing import (
    first_firing_or_refuse,
    last_firing,
    next_firing,
    period_end_instant,
    period_of,
    rule_of,
)

PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("kind", "day", "expected"),
    [
        # Monday 2027-03-15: the week before, Monday to Sunday.
        ("last_week", date(2027, 3, 15), (date(2027, 3, 8), date(2027, 3, 14))),
        ("last_week", date(2027, 3, 21), (date(2027, 3, 8), date(2027, 3, 14))),  # Sunday
        ("last_month", date(2027, 3, 1), (date(2027, 2, 1), date(2027, 2, 28))),
        ("last_month", date(2028, 3, 31), (date(2028, 2, 1), date(2028, 2, 29))),  # leap
        ("last_month", date(2027, 1, 4), (date(2026, 12, 1), date(2026, 12, 31))),
        ("month_to_date", date(2027, 3, 15), (date(2027, 3, 1), date(2027, 3, 14))),
        # On the 1st, month to date is the whole month before: never an empty period.
        ("month_to_date", date(2027, 3, 1), (date(2027, 2, 1), date(2027, 2, 28))),
    ],
)
def test_each_firing_reports_whole_local_days(
    kind: str, day: date, expected: tuple[date, date]
) -> None:
    assert period_of(kind, day) == expected


def test_every_monday_at_eight_stays_at_eight_across_summer_time() -> None:
    rule = rule_of("FREQ=WEEKLY;BYDAY=MO;BYHOUR=8;BYMINUTE=0", date(2027, 3, 1), PARIS)
    before = next_firing(rule, datetime(2027, 3, 20, tzinfo=UTC), PARIS)
    after = next_firing(rule, datetime(2027, 3, 27, tzinfo=UTC), PARIS)
    # Paris changes to summer time on Sunday 28 March 2027: 08:00 is 07:00 UTC, then 06:00.
    assert before == datetime(2027, 3, 22, 7, tzinfo=UTC)
    assert after == datetime(2027, 3, 29, 6, tzinfo=UTC)
    assert last_firing(rule, datetime(2027, 3, 29, 6, 30, tzinfo=UTC), PARIS) == after


def test_the_first_working_day_of_the_month() -> None:
    rule = rule_of(
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1;BYHOUR=8;BYMINUTE=0", date(2027, 1, 1), PARIS
    )
    # 1 May 2027 is a Saturday: the first working day is Monday 3 May.
    found = next_firing(rule, datetime(2027, 4, 30, tzinfo=UTC), PARIS)
    assert found == datetime(2027, 5, 3, 6, tzinfo=UTC)


def test_the_period_ends_at_the_next_local_midnight() -> None:
    assert period_end_instant(date(2027, 3, 14), PARIS) == datetime(2027, 3, 14, 23, tzinfo=UTC)
    assert period_end_instant(date(2027, 7, 31), PARIS) == datetime(2027, 7, 31, 22, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "never fires"),
        ("FREQ=WEEKLY;COUNT=2", "never fires"),  # both firings were in 2020
        ("FREQ=HOURLY", "at most daily"),
        ("FREQ=WEEKLY;BYDAY=XX", "cannot be expanded"),
        ("NOT A RULE", "names no FREQ"),
    ],
)
def test_a_rule_that_never_fires_is_refused(text: str, words: str) -> None:
    now = datetime(2027, 3, 1, tzinfo=UTC)
    with pytest.raises(InvalidInput) as refused:
        first_firing_or_refuse(rule_of(text, date(2020, 1, 1), PARIS), now, PARIS)
    assert words in refused.value.detail
    assert refused.value.extensions["errors"][0]["field"] == "rule"
