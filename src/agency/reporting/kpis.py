"""The formulas of the report, on sums read from the rollups (docs/reporting.md shows each
with a worked example that tests/reporting/test_reporting_kpis.py recomputes).

Everything here is arithmetic on numbers already added up: no database, no clock. ``None``
is "not available" and stays so through every formula; a rate whose denominator is missing
or zero is not available either, never 0 and never infinite.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from agency.reporting.models import POST_MEASURES

SUMMED = (*POST_MEASURES, "interactions", "reach_interactions")

# Which engagement rate a network's row shows, and why (docs/reporting.md, "Engagement").
# By reach where the network counts the people who saw each post (Meta's insights); by
# followers where it gives no reach (counts of likes and views only), so that a rate exists
# and compares the same way over time. Networks not listed: by followers.
ENGAGEMENT_BASIS: Mapping[str, str] = {
    "facebook": "reach",
    "instagram": "reach",
    "x": "followers",
    "linkedin": "followers",
    "threads": "followers",
    "tiktok": "followers",
    "youtube": "followers",
    "pinterest": "followers",
    "bluesky": "followers",
    "mastodon": "followers",
}


def add(a: int | None, b: int | None) -> int | None:
    """A sum where "not available" plus "not available" stays so, and counts otherwise."""
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def ratio(numerator: int | float | None, denominator: int | float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def change(current: int | float | None, previous: int | float | None) -> float | None:
    """Relative change from the previous period (0.25 = +25 %); None without a base."""
    if current is None or previous is None or previous == 0:
        return None
    return (current - previous) / abs(previous)


@dataclass
class Sums:
    """A period's rollup rows added up, for one channel or any set of them."""

    posts: int = 0
    values: dict[str, int | None] = field(default_factory=lambda: dict.fromkeys(SUMMED))
    followers_change: int | None = None
    # Last count known before the period, and at its end (summed over channels that have one).
    followers_start: int | None = None
    followers_end: int | None = None
    # Interactions of the channels whose end count is known: the rate by followers divides
    # only what has a denominator.
    follower_interactions: int | None = None
    gap_days: int = 0

    def __add__(self, other: Sums) -> Sums:
        return Sums(
            posts=self.posts + other.posts,
            values={k: add(self.values.get(k), other.values.get(k)) for k in SUMMED},
            followers_change=add(self.followers_change, other.followers_change),
            followers_start=add(self.followers_start, other.followers_start),
            followers_end=add(self.followers_end, other.followers_end),
            follower_interactions=add(self.follower_interactions, other.follower_interactions),
            gap_days=self.gap_days + other.gap_days,
        )

    def with_followers(self, start: int | None, end: int | None) -> Sums:
        """One channel's sums, with its follower counts at both ends of the period."""
        self.followers_start = start
        self.followers_end = end
        self.follower_interactions = self.values["interactions"] if end is not None else None
        return self


def total(parts: Iterable[Sums]) -> Sums:
    found = Sums()
    for part in parts:
        found = found + part
    return found


@dataclass(frozen=True)
class Figures:
    """The KPIs of a period (see docs/reporting.md for each formula)."""

    posts: int
    impressions: int | None
    reach: int | None
    reactions: int | None
    comments: int | None
    shares: int | None
    saves: int | None
    link_clicks: int | None
    video_views: int | None
    interactions: int | None
    engagement_rate_reach: float | None
    engagement_rate_followers: float | None
    followers: int | None
    audience_growth: int | None
    audience_growth_rate: float | None
    click_through_rate: float | None
    interactions_per_post: float | None
    gap_days: int

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def figures(sums: Sums) -> Figures:
    v = sums.values
    return Figures(
        posts=sums.posts,
        impressions=v["impressions"],
        reach=v["reach"],
        reactions=v["reactions"],
        comments=v["comments"],
        shares=v["shares"],
        saves=v["saves"],
        link_clicks=v["link_clicks"],
        video_views=v["video_views"],
        interactions=v["interactions"],
        engagement_rate_reach=ratio(v["reach_interactions"], v["reach"]),
        engagement_rate_followers=ratio(sums.follower_interactions, sums.followers_end),
        followers=sums.followers_end,
        audience_growth=sums.followers_change,
        audience_growth_rate=ratio(sums.followers_change, sums.followers_start),
        click_through_rate=ratio(v["link_clicks"], v["impressions"]),
        interactions_per_post=ratio(v["interactions"], sums.posts),
        gap_days=sums.gap_days,
    )


def changes(current: Figures, previous: Figures) -> dict[str, float | None]:
    """Each figure's relative change from the previous period (rates too: a rate going
    from 4 % to 5 % is +25 %)."""
    return {
        name: change(getattr(current, name), getattr(previous, name))
        for name in Figures.names()
        if name != "gap_days"
    }


# -- publishing regularity -------------------------------------------------------------------

# A post "keeps" a slot when it goes out this long before the slot at the earliest, or this
# long after at the latest (the queue publishes on the minute; a hand-timed post is close).
SLOT_EARLY = timedelta(minutes=30)
SLOT_LATE = timedelta(hours=2)


@dataclass(frozen=True)
class Regularity:
    posts: int
    weeks: float
    posts_per_week: float | None
    slots_planned: int
    slots_kept: int
    # slots kept / slots planned; None without queue slots (nothing to be regular against)
    regularity: float | None
    # Longest stretch without a post inside the period, in days.
    longest_silence_days: float | None


def slot_times(
    slots: Sequence[tuple[int, str]], start: date, end: date, zone: ZoneInfo
) -> list[datetime]:
    """Every occurrence of weekly ``(weekday, "HH:MM")`` slots from ``start`` to ``end``
    (local days, both included), as aware instants in ``zone``."""
    found = []
    day = start
    while day <= end:
        for weekday, local in slots:
            if day.weekday() == weekday:
                hours, minutes = (int(x) for x in local.split(":"))
                found.append(datetime.combine(day, time(hours, minutes), zone))
        day += timedelta(days=1)
    return sorted(found)


def regularity(
    published: Sequence[datetime],
    slots: Sequence[datetime],
    start: datetime,
    end: datetime,
) -> Regularity:
    """How regularly one channel published between ``start`` and ``end`` (instants).

    Each slot is kept by at most one post and each post keeps at most one slot, matched in
    time order (earliest post that fits the slot's window).
    """
    posts = sorted(published)
    weeks = (end - start) / timedelta(weeks=1)
    kept = 0
    index = 0
    for slot in sorted(slots):
        while index < len(posts) and posts[index] < slot - SLOT_EARLY:
            index += 1
        if index < len(posts) and posts[index] <= slot + SLOT_LATE:
            kept += 1
            index += 1
    moments = [start, *posts, end]
    silence = max((b - a for a, b in itertools.pairwise(moments)), default=None)
    return Regularity(
        posts=len(posts),
        weeks=round(weeks, 4),
        posts_per_week=round(len(posts) / weeks, 4) if weeks > 0 else None,
        slots_planned=len(slots),
        slots_kept=kept,
        regularity=ratio(kept, len(slots)),
        longest_silence_days=round(silence / timedelta(days=1), 2) if silence else None,
    )
