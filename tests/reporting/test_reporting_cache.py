"""A brand's report served again while its rows do not change, recomputed when they do.

The API keeps computed reports per process (``agency.reporting.cache``); a kept report
carries the ``generated_at`` of its computation, so these tests tell a kept report from a
fresh one by it, and check that every kind of change the report reads shows at once.
"""

from __future__ import annotations

import httpx

from agency.kernel.runtime import Runtime
from agency.reporting.cache import ReportCache, report_cache
from tests.helpers import (
    add_client_member,
    assert_problem,
    bearer,
    client_session,
    create_brand,
    post_json,
)
from tests.support.metrics import post_answer, published_post
from tests.support.reporting import MARCH, PARIS, Maison, report, utc
from tests.support.reporting import maison as maison

__all__ = ["maison"]


async def test_an_unchanged_report_is_served_again(
    client: httpx.AsyncClient, maison: Maison
) -> None:
    first = await report(client, maison)
    again = await report(client, maison)
    assert again == first  # the same computation, generated_at included
    other_line = await report(client, maison, **MARCH, line="management")
    assert other_line["line"] == "management"
    assert other_line["generated_at"] != first["generated_at"]


async def test_a_pull_landing_shows_at_once(
    client: httpx.AsyncClient, runtime: Runtime, maison: Maison
) -> None:
    before = await report(client, maison)
    # The 6 h pull of the X post adds 40 interactions to its day's rollups.
    x = dict(impressions=6000, reactions=120, comments=30, shares=40, saves=10)
    assert await post_answer(runtime, maison.agency_id, maison.x1, utc(2027, 3, 7, 12), **x) == "ok"
    after = await report(client, maison)
    assert after["generated_at"] != before["generated_at"]
    assert after["current"]["interactions"] == before["current"]["interactions"] + 40


async def test_entries_slots_and_new_posts_show_at_once(
    client: httpx.AsyncClient, runtime: Runtime, maison: Maison
) -> None:
    tenant, brand = maison.tenant, maison.brand_id
    before = await report(client, maison)
    assert before["lines"]["marketing"]["money"]["cost"] is None
    cost = {"day": "2027-03-01", "kind": "production", "amount": "1500.00"}
    await post_json(client, tenant, f"/brands/{brand}/costs", cost)
    costed = await report(client, maison)
    assert costed["lines"]["marketing"]["money"]["cost"] == 1500

    slot = await client.put(
        f"/channels/{maison.ig}/queue-slots",
        json={"slots": [{"weekday": 2, "local_time": "09:00"}]},
        headers=tenant.headers,
    )
    assert slot.status_code == 200, slot.text
    slotted = await report(client, maison)
    assert (costed["publishing"]["slots_planned"], slotted["publishing"]["slots_planned"]) == (0, 5)

    await published_post(
        runtime, maison.agency_id, brand, maison.ig, "instagram", utc(2027, 3, 20, 9), PARIS, "New"
    )
    posted = await report(client, maison)
    assert posted["current"]["posts"] == slotted["current"]["posts"] + 1


async def test_a_kept_report_is_not_shown_to_another_brands_member(
    client: httpx.AsyncClient, runtime: Runtime, maison: Maison
) -> None:
    tenant = maison.tenant
    await report(client, maison)  # kept, read by the agency's staff
    other_brand = await create_brand(client, tenant, "voisin")
    outsider = await add_client_member(
        client, tenant, other_brand, "reader@voisin.example", permissions=["reports:read"]
    )
    token = await client_session(runtime, tenant.agency_id, outsider["user_id"])
    url = f"/brands/{maison.brand_id}/report"
    assert_problem(await client.get(url, params=MARCH, headers=bearer(token)), 404)


def test_the_cache_keeps_the_most_recently_used_reports() -> None:
    kept = ReportCache(2)
    report_a, report_b, report_c = object(), object(), object()
    kept.put("a", ("1",), report_a)  # type: ignore[arg-type]
    kept.put("b", ("1",), report_b)  # type: ignore[arg-type]
    assert kept.get("a", ("1",)) is report_a  # a used: b is now the oldest
    kept.put("c", ("1",), report_c)  # type: ignore[arg-type]
    assert kept.get("b", ("1",)) is None
    assert kept.get("a", ("1",)) is report_a and kept.get("c", ("1",)) is report_c
    assert kept.get("a", ("2",)) is None  # another stamp: its rows changed
    assert report_cache(0) is None and report_cache(8) is report_cache(8)
