"""The worked example of docs/reporting.md, computed by the report's own formulas.

Each result line of the example is recomputed here with ``agency.reporting.kpis`` and the
page must show the same text, so the documentation cannot drift from the code.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from agency.reporting import kpis, measures
from agency.reporting.kpis import Sums

DOC = (Path(__file__).resolve().parents[2] / "docs" / "reporting.md").read_text()
PARIS = ZoneInfo("Europe/Paris")


def post(**values: int | None) -> dict[str, int | None]:
    return measures.contribution(values)


def channel(posts: list[dict[str, int | None]], start: int, end: int) -> Sums:
    sums = Sums(posts=len(posts))
    for found in posts:
        sums.values = {k: kpis.add(sums.values[k], found[k]) for k in kpis.SUMMED}
    sums.followers_change = end - start
    return sums.with_followers(start, end)


def percent(value: float | None) -> str:
    assert value is not None
    return f"{value * 100:.2f} %"


def shown(line: str) -> None:
    assert line in DOC, f"docs/reporting.md should show: {line}"


def test_the_worked_example_of_the_docs() -> None:
    a = post(impressions=3000, reach=2000, reactions=150, comments=20, shares=10, saves=20)
    b = post(impressions=4000, reach=3000, reactions=40, comments=5, shares=3, saves=2)
    c = post(impressions=5000, reach=None, reactions=100, comments=20, shares=30, saves=10)
    f = post(impressions=1200, reach=1000, reactions=30, comments=10, shares=0, saves=0)
    instagram = channel([a, b], 10_000, 10_500)
    x = channel([c], 4_000, 3_900)
    march = kpis.figures(kpis.total([instagram, x]))
    february = kpis.figures(Sums(posts=1, values=dict(f)))

    assert march.posts == 3
    assert march.impressions == 12_000
    shown("impressions                  = 3,000 + 4,000 + 5,000 = 12,000")
    assert march.reach == 5_000
    assert march.interactions == 410
    shown("interactions                 = 200 + 50 + 160 = 410")
    shown(
        "engagement rate by reach     = (200 + 50) / 5,000 = "
        f"{percent(march.engagement_rate_reach)}"
    )
    shown(
        "engagement rate by followers = 410 / (10,500 + 3,900) = "
        f"{percent(march.engagement_rate_followers)}"
    )
    ig = kpis.figures(instagram)
    shown(f"Instagram (by reach)         = 250 / 5,000 = {percent(ig.engagement_rate_reach)}")
    on_x = kpis.figures(x)
    assert on_x.reach is None and on_x.engagement_rate_reach is None
    shown(f"X (by followers)             = 160 / 3,900 = {percent(on_x.engagement_rate_followers)}")
    assert march.audience_growth == 400
    shown(f"audience growth rate         = 400 / 14,000 = {percent(march.audience_growth_rate)}")
    assert march.interactions_per_post is not None
    shown(f"interactions per post        = 410 / 3 = {march.interactions_per_post:.2f}")
    assert march.link_clicks is None and march.click_through_rate is None
    shown(f"previous engagement by reach = 40 / 1,000 = {percent(february.engagement_rate_reach)}")
    change = kpis.changes(march, february)
    shown(f"change in interactions       = (410 - 40) / 40 = +{percent(change['interactions'])}")
    shown(
        "change in engagement (reach) = (5.00 % - 4.00 %) / 4.00 % = "
        f"+{percent(change['engagement_rate_reach'])}"
    )


def test_the_worked_example_of_regularity() -> None:
    slots = kpis.slot_times(
        [(0, "09:00"), (3, "09:00")], date(2027, 3, 1), date(2027, 3, 31), PARIS
    )
    assert len(slots) == 9
    posts = [datetime(2027, 3, 4, 9, 0, tzinfo=PARIS), datetime(2027, 3, 11, 9, 45, tzinfo=PARIS)]
    start = datetime(2027, 3, 1, tzinfo=PARIS)
    end = datetime(2027, 4, 1, tzinfo=PARIS)
    found = kpis.regularity(posts, slots, start, end)
    assert (found.slots_planned, found.slots_kept) == (9, 2)
    shown(f"Instagram regularity         = 2 / 9 = {percent(found.regularity)}")
    shown(f"Instagram posts per week     = 2 / (31 / 7) = {found.posts_per_week:.2f}")
    shown(
        "Instagram longest silence    = 11 March 09:45 to 1 April 00:00 = "
        f"{found.longest_silence_days:.2f} days"
    )


def test_a_post_keeps_one_slot_and_a_slot_one_post() -> None:
    slots = kpis.slot_times([(0, "09:00")], date(2027, 3, 1), date(2027, 3, 8), PARIS)
    assert len(slots) == 2
    burst = [datetime(2027, 3, 1, 9, m, tzinfo=PARIS) for m in (0, 5, 10)]
    found = kpis.regularity(
        burst, slots, datetime(2027, 3, 1, tzinfo=PARIS), datetime(2027, 3, 9, tzinfo=PARIS)
    )
    assert (found.slots_kept, found.regularity) == (1, 0.5)
    late = [datetime(2027, 3, 8, 11, 1, tzinfo=PARIS)]  # 2 h 01 after the slot: not kept
    found = kpis.regularity(
        late, slots, datetime(2027, 3, 1, tzinfo=PARIS), datetime(2027, 3, 9, tzinfo=PARIS)
    )
    assert found.slots_kept == 0
    assert (
        kpis.regularity(
            [], [], datetime(2027, 3, 1, tzinfo=PARIS), datetime(2027, 3, 9, tzinfo=PARIS)
        ).regularity
        is None
    )


def test_not_available_stays_not_available() -> None:
    nothing = kpis.figures(Sums(posts=2))
    assert nothing.reach is None and nothing.interactions is None
    assert nothing.engagement_rate_reach is None and nothing.engagement_rate_followers is None
    assert nothing.interactions_per_post is None
    zero_reach = kpis.figures(Sums(posts=1, values=post(reach=0, reactions=0)))
    assert zero_reach.reach == 0 and zero_reach.engagement_rate_reach is None  # no division by 0
    assert kpis.change(5, 0) is None and kpis.change(None, 3) is None and kpis.change(3, 4) == -0.25
    assert measures.interactions({"reactions": None, "comments": 3}) == 3
    assert measures.interactions({}) is None
    assert measures.delta({"reach": None}, {"reach": None}) == {"reach": None}
    assert measures.delta({"reach": 5}, {"reach": 7}) == {"reach": 2}
