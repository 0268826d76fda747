"""A brand's report: rollups kept by the collection's own path, read through the API.

The figures are set exactly (the answers the networks would give) and the report's numbers
are checked one by one: totals, the previous period, per network with its engagement basis,
campaigns, best and worst posts, followers and gaps, the brand's time zone, and bad input.
"""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import bind_system
from agency.reporting.models import POST_MEASURES, ChannelDay, MetricSnapshot, PostMetric
from tests.conftest import Tenant
from tests.helpers import (
    add_client_member,
    assert_problem,
    bearer,
    client_session,
    create_brand,
    insert_channel,
)
from tests.support.metrics import account_answer, post_answer, published_post
from tests.support.reporting import MARCH, PARIS, Maison, report, snapshots, utc
from tests.support.reporting import maison as maison


async def test_brand_report_consolidates_every_network(
    client: httpx.AsyncClient, maison: Maison
) -> None:
    body = await report(client, maison)
    assert body["period"] == {"start": "2027-03-01", "end": "2027-03-31", "days": 31}
    assert body["previous_period"] == {"start": "2027-01-29", "end": "2027-02-28", "days": 31}
    assert body["line"] == "marketing" and body["timezone"] == PARIS
    now = body["current"]
    assert now["posts"] == 3
    assert now["impressions"] == 3000 + 4000 + 5000
    assert now["reach"] == 2000 + 3000  # X gives no reach: its posts add none
    assert now["interactions"] == 200 + 50 + 160
    assert now["reactions"] == 150 + 40 + 100
    assert now["link_clicks"] is None and now["video_views"] is None  # nobody gave them
    assert now["engagement_rate_reach"] == pytest.approx(250 / 5000)
    assert now["engagement_rate_followers"] == pytest.approx(410 / 14_400)
    assert now["followers"] == 14_400
    assert now["audience_growth"] == 500 - 100
    assert now["audience_growth_rate"] == pytest.approx(400 / 14_000)
    assert now["gap_days"] == 1

    before = body["previous"]
    assert before["posts"] == 1 and before["interactions"] == 40 and before["reach"] == 1000
    assert before["followers"] == 14_000 and before["audience_growth"] is None
    assert body["change"]["interactions"] == pytest.approx((410 - 40) / 40)
    assert body["change"]["engagement_rate_reach"] == pytest.approx((0.05 - 0.04) / 0.04)
    assert body["change"]["link_clicks"] is None

    networks = {n["network"]: n for n in body["networks"]}
    assert networks["instagram"]["engagement_basis"] == "reach"
    assert networks["instagram"]["engagement_rate"] == pytest.approx(250 / 5000)
    assert networks["x"]["engagement_basis"] == "followers"
    assert networks["x"]["engagement_rate"] == pytest.approx(160 / 3900)
    assert networks["x"]["current"]["reach"] is None
    assert networks["x"]["current"]["audience_growth"] == -100
    (x_channel,) = networks["x"]["channels"]
    assert x_channel["channel_id"] == maison.x and x_channel["current"]["gap_days"] == 1

    assert [p["variant_id"] for p in body["best_posts"]] == [maison.p1, maison.x1, maison.p2]
    assert [p["variant_id"] for p in body["worst_posts"]] == [maison.p2, maison.x1, maison.p1]
    assert body["best_posts"][0]["title"] == "Spring opening"
    campaigns = {c["campaign"]: c for c in body["campaigns"]}
    assert campaigns["spring"]["posts"] == 1 and campaigns["spring"]["interactions"] == 200
    assert campaigns[None]["posts"] == 2 and campaigns[None]["interactions"] == 210
    assert body["gaps"] == [
        {"channel_id": maison.x, "day": "2027-03-20", "reason": "The channel needs reconnecting."}
    ]


async def test_a_day_is_the_brands_local_day(client: httpx.AsyncClient, maison: Maison) -> None:
    april = await report(client, maison, start="2027-04-01", end="2027-04-01")
    assert april["current"]["posts"] == 1
    assert april["current"]["interactions"] == 9000
    assert april["previous_period"] == {"start": "2027-03-31", "end": "2027-03-31", "days": 1}


async def test_the_same_pull_twice_changes_nothing(
    client: httpx.AsyncClient, runtime: Runtime, maison: Maison
) -> None:
    before = await report(client, maison)
    again = dict(impressions=1, reach=1, reactions=1, comments=1, shares=1, saves=1)
    assert (
        await post_answer(runtime, maison.agency_id, maison.p1, utc(2027, 3, 4, 8), **again)
        == "seen"
    )
    assert (
        await account_answer(
            runtime, maison.agency_id, maison.ig, utc(2027, 3, 31, 6), PARIS, followers=1
        )
        == "seen"
    )
    after = await report(client, maison)
    assert after["current"] == before["current"] and after["networks"] == before["networks"]
    assert len(await snapshots(runtime, maison.p1)) == 2


async def test_a_nonsense_answer_is_recorded_and_kept_out(
    client: httpx.AsyncClient, runtime: Runtime, maison: Maison
) -> None:
    before = await report(client, maison)
    outcome = await post_answer(
        runtime, maison.agency_id, maison.p2, utc(2027, 3, 13, 8), reach=-5, reactions=10**13
    )
    assert outcome == "rejected"
    after = await report(client, maison)
    assert after["current"] == before["current"]
    rejected = (await snapshots(runtime, maison.p2))[-1]
    assert rejected.outcome == "rejected" and "reach is negative" in (rejected.note or "")
    assert rejected.raw == {"reach": -5, "reactions": 10**13}  # what the network said, kept
    assert rejected.reach is None


async def test_an_older_pull_arriving_late_does_not_move_figures_back(
    client: httpx.AsyncClient, runtime: Runtime, maison: Maison
) -> None:
    before = await report(client, maison)
    late = dict(impressions=2000, reach=1500, reactions=90, comments=12, shares=6, saves=8)
    outcome = await post_answer(runtime, maison.agency_id, maison.p1, utc(2027, 3, 3, 14), **late)
    assert outcome == "late"
    assert (await report(client, maison))["current"] == before["current"]


async def test_rollups_equal_a_direct_computation_on_raw_rows(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
) -> None:
    """Random posts, each pulled several times with figures going up and down and measures
    coming and going: every channel day equals the latest raw figures of its posts."""
    rng = random.Random(13)
    brand_id = await create_brand(client, tenant_a, "hasard")
    agency = tenant_a.agency_id
    channels = [await insert_channel(runtime, agency, brand_id, n) for n in ("facebook", "x")]
    posts = []
    for index in range(30):
        channel = rng.choice(channels)
        at = utc(2027, 5, 1) + timedelta(hours=rng.randrange(0, 24 * 20))
        network = "facebook" if channel == channels[0] else "x"
        posts.append(
            (
                await published_post(
                    runtime, agency, brand_id, channel, network, at, PARIS, f"p{index}"
                ),
                at,
            )
        )
    for variant_id, at in posts:
        for step in sorted(rng.sample(range(1, 60), rng.randrange(0, 5))):
            values = {
                name: rng.randrange(0, 5000) if rng.random() < 0.8 else None
                for name in POST_MEASURES
            }
            if rng.random() < 0.1:
                values["comments"] = -1  # nonsense: rejected
            await post_answer(runtime, agency, variant_id, at + timedelta(hours=step), **values)

    async with runtime.session() as session:
        await bind_system(session)
        raw = (
            (await session.execute(select(MetricSnapshot).order_by(MetricSnapshot.due_at)))
            .scalars()
            .all()
        )
        followed = (await session.execute(select(PostMetric))).scalars().all()
        days = (await session.execute(select(ChannelDay))).scalars().all()

    latest: dict[uuid.UUID, dict[str, int | None]] = {}
    for row in raw:
        if row.outcome != "ok":
            continue
        figures = latest.setdefault(row.target_id, dict.fromkeys(POST_MEASURES))
        for name in POST_MEASURES:
            if getattr(row, name) is not None:
                figures[name] = getattr(row, name)
    expected: dict[tuple[uuid.UUID, Any], dict[str, int | None]] = {}
    for post in followed:
        key = (post.channel_id, post.day)
        sums = expected.setdefault(
            key, {"posts": 0} | dict.fromkeys((*POST_MEASURES, "interactions"))
        )
        sums["posts"] = (sums["posts"] or 0) + 1
        figures = latest.get(post.id, dict.fromkeys(POST_MEASURES))
        for name in POST_MEASURES:
            if figures[name] is not None:
                sums[name] = (sums[name] or 0) + figures[name]  # type: ignore[operator]
        parts = [
            figures[n]
            for n in ("reactions", "comments", "shares", "saves")
            if figures[n] is not None
        ]
        if parts:
            sums["interactions"] = (sums["interactions"] or 0) + sum(parts)  # type: ignore[operator]
    found = {
        (d.channel_id, d.day): {"posts": d.posts}
        | {name: getattr(d, name) for name in (*POST_MEASURES, "interactions")}
        for d in days
    }
    assert found == expected
    assert any(row.outcome == "rejected" for row in raw)


async def test_bad_periods_and_other_brands_are_refused(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    brand_id = await create_brand(client, tenant_a, "maison")
    url = f"/brands/{brand_id}/report"
    reversed_ = await client.get(
        url, params={"start": "2027-03-31", "end": "2027-03-01"}, headers=tenant_a.headers
    )
    assert_problem(reversed_, 422, "ends before it starts")
    too_long = await client.get(
        url, params={"start": "2020-01-01", "end": "2027-03-01"}, headers=tenant_a.headers
    )
    assert_problem(too_long, 422, "3 years")
    missing = await client.get(url, params={"start": "2027-03-01"}, headers=tenant_a.headers)
    assert_problem(missing, 422, "end")
    not_a_date = await client.get(
        url, params={"start": "March", "end": "2027-03-01"}, headers=tenant_a.headers
    )
    assert_problem(not_a_date, 422, "start")
    bad_line = await client.get(url, params={**MARCH, "line": "sales"}, headers=tenant_a.headers)
    assert_problem(bad_line, 422, "line")
    unknown = await client.get(
        f"/brands/{uuid.uuid4()}/report", params=MARCH, headers=tenant_a.headers
    )
    assert_problem(unknown, 404)
    other_agency = await client.get(url, params=MARCH, headers=tenant_b.headers)
    assert_problem(other_agency, 404)
    last_month = await client.get(url, headers=tenant_a.headers)
    assert last_month.status_code == 200, last_month.text
    period = last_month.json()["period"]
    assert period["start"][8:] == "01" and 28 <= period["days"] <= 31
    three_years = await client.get(
        url, params={"start": "2024-03-01", "end": "2027-02-28"}, headers=tenant_a.headers
    )
    assert three_years.status_code == 200, three_years.text


async def test_client_members_read_their_brands_report_in_their_line(
    client: httpx.AsyncClient, runtime: Runtime, maison: Maison
) -> None:
    tenant = maison.tenant
    reader = await add_client_member(
        client,
        tenant,
        maison.brand_id,
        "press@maison.example",
        permissions=["reports:read"],
        reporting_line="press_relations",
    )
    token = await client_session(runtime, tenant.agency_id, reader["user_id"])
    own = await client.get(f"/brands/{maison.brand_id}/report", params=MARCH, headers=bearer(token))
    assert own.status_code == 200, own.text
    assert own.json()["line"] == "press_relations"
    assert own.json()["current"]["interactions"] == 410
    asked = await client.get(
        f"/brands/{maison.brand_id}/report",
        params={**MARCH, "line": "management"},
        headers=bearer(token),
    )
    assert asked.json()["line"] == "management"

    other_brand = await create_brand(client, tenant, "voisin")
    assert_problem(
        await client.get(f"/brands/{other_brand}/report", params=MARCH, headers=bearer(token)), 404
    )
    viewer = await add_client_member(
        client, tenant, maison.brand_id, "viewer@maison.example", permissions=["calendar:read"]
    )
    token = await client_session(runtime, tenant.agency_id, viewer["user_id"])
    denied = await client.get(
        f"/brands/{maison.brand_id}/report", params=MARCH, headers=bearer(token)
    )
    assert denied.status_code in (403, 404), denied.text


async def test_publishing_regularity_counts_the_queue_slots_kept(
    client: httpx.AsyncClient, maison: Maison
) -> None:
    """Instagram posts on Wednesdays at 09:00 in Paris: the two March posts keep two of the
    five Wednesday slots; X has no slots, so no regularity."""
    slots = await client.put(
        f"/channels/{maison.ig}/queue-slots",
        json={"slots": [{"weekday": 2, "local_time": "09:00"}]},
        headers=maison.tenant.headers,
    )
    assert slots.status_code == 200, slots.text
    body = await report(client, maison)
    channels = {c["channel_id"]: c for n in body["networks"] for c in n["channels"]}
    instagram = channels[maison.ig]["publishing"]
    assert (instagram["slots_planned"], instagram["slots_kept"]) == (5, 2)
    assert instagram["regularity"] == pytest.approx(0.4)
    assert channels[maison.x]["publishing"]["slots_planned"] == 0
    assert channels[maison.x]["publishing"]["regularity"] is None
    assert body["publishing"]["slots_kept"] == 2
