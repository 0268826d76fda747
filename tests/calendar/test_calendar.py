"""The calendar and the queue through the API, on the harness's real PostgreSQL: weekly
slots in the brand's zone (DST included), gaps and bursts against them, the calendar across
brands with its filters, the iCalendar feed, and recurring publications."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from icalendar import Calendar

from agency.calendar.series import SeriesService
from agency.calendar.tasks import REFILL_JOB, claim_series, refill_series
from agency.kernel.jobs import JobBuffer, collecting
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import Subject, bind_system, bind_tenant
from tests.conftest import Tenant, count_rows
from tests.helpers import assert_problem
from tests.support.desk import Desk

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def desk(client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant) -> Desk:
    return Desk(client, runtime, tenant_a)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def z(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


# -- queue slots ------------------------------------------------------------------------------


async def test_queue_slots_are_replaced_whole_and_bad_items_named(desk: Desk) -> None:
    brand = await desk.brand("maison")
    channel = await desk.channel(brand, "mastodon")
    url = f"/channels/{channel}/queue-slots"
    put = await desk.client.put(
        url,
        json={
            "slots": [{"weekday": 4, "local_time": "18:00"}, {"weekday": 0, "local_time": "09:30"}]
        },
        headers=desk.headers,
    )
    assert put.status_code == 200, put.text
    assert put.json()["timezone"] == "Europe/Paris"
    assert put.json()["slots"] == [
        {"weekday": 0, "local_time": "09:30"},
        {"weekday": 4, "local_time": "18:00"},
    ]

    bad = await desk.client.put(
        url,
        json={
            "slots": [
                {"weekday": 7, "local_time": "09:00"},
                {"weekday": 1, "local_time": "25:00"},
                {"weekday": 1, "local_time": "9:30"},
                {"weekday": 2, "local_time": "12:00"},
                {"weekday": 2, "local_time": "12:00"},
            ]
        },
        headers=desk.headers,
    )
    body = assert_problem(bad, 422)
    assert {e["field"] for e in body["errors"]} == {
        "slots[0].weekday",
        "slots[1].local_time",
        "slots[2].local_time",
        "slots[4]",
    }
    assert "slots[3]" in next(e["message"] for e in body["errors"] if e["field"] == "slots[4]")
    kept = await desk.get(url)
    assert kept.json()["slots"] == put.json()["slots"], "a refused set changes nothing"

    # A slot kept across a replacement does not trip the unique index.
    again = await desk.client.put(
        url,
        json={
            "slots": [{"weekday": 0, "local_time": "09:30"}, {"weekday": 2, "local_time": "12:00"}]
        },
        headers=desk.headers,
    )
    assert again.status_code == 200, again.text
    assert [s["weekday"] for s in again.json()["slots"]] == [0, 2]


async def test_add_to_queue_takes_the_next_slot_set_here(desk: Desk) -> None:
    brand = await desk.brand("maison")
    channel = await desk.channel(brand, "mastodon")
    await desk.client.put(
        f"/channels/{channel}/queue-slots",
        json={"slots": [{"weekday": 2, "local_time": "11:15"}]},
        headers=desk.headers,
    )
    draft = await desk.draft(brand, [channel])
    queued = await desk.client.post(
        f"/publications/{draft['id']}/queue",
        headers={**desk.headers, "If-Match": f'"{draft["version"]}"'},
    )
    assert queued.status_code == 200, queued.text
    due = utc(queued.json()["variants"][0]["due_at"]).astimezone(PARIS)
    assert (due.weekday(), due.strftime("%H:%M")) == (2, "11:15")
    assert timedelta(0) < due - datetime.now(UTC) <= timedelta(days=7)


async def test_slots_across_summer_time_changes(desk: Desk) -> None:
    """02:30 does not exist on the spring Sunday (moved to 03:30 CEST) and happens twice on
    the autumn Sunday (taken once, the first)."""
    brand = await desk.brand("maison")
    channel = await desk.channel(brand, "mastodon")
    await desk.client.put(
        f"/channels/{channel}/queue-slots",
        json={"slots": [{"weekday": 6, "local_time": "02:30"}]},
        headers=desk.headers,
    )
    spring = await desk.get(
        f"/channels/{channel}/queue",
        **{"from": "2027-03-20T00:00:00Z", "to": "2027-03-29T00:00:00Z"},
    )
    assert spring.status_code == 200, spring.text
    moments = spring.json()["timeline"]
    assert [(m["at"], m["local"], m["shifted"]) for m in moments] == [
        ("2027-03-21T01:30:00Z", "2027-03-21T02:30:00+01:00", False),
        ("2027-03-28T01:30:00Z", "2027-03-28T03:30:00+02:00", True),
    ]
    assert all(m["kind"] == "gap" for m in moments)

    autumn = await desk.get(
        f"/channels/{channel}/queue",
        **{"from": "2027-10-30T00:00:00Z", "to": "2027-11-01T00:00:00Z"},
    )
    moments = autumn.json()["timeline"]
    assert [(m["at"], m["local"]) for m in moments] == [
        ("2027-10-31T00:30:00Z", "2027-10-31T02:30:00+02:00")
    ]
    day = next(d for d in autumn.json()["days"] if d["date"] == "2027-10-31")
    assert (day["weekday"], day["slots"], day["gaps"]) == (6, 1, 1)


async def test_gaps_bursts_and_off_slot_posts(desk: Desk) -> None:
    brand = await desk.brand("maison")
    channel = await desk.channel(brand, "mastodon")
    slots = [{"weekday": d, "local_time": "09:00"} for d in (0, 2, 4)]  # Mon, Wed, Fri
    await desk.client.put(
        f"/channels/{channel}/queue-slots", json={"slots": slots}, headers=desk.headers
    )
    # The week of Monday 11 January 2027 in Paris (UTC+1).
    on_slot = await desk.post(brand, [channel], "2027-01-11T09:00", "Monday tip")
    await desk.post(brand, [channel], "2027-01-12T15:00", "Tuesday extra")
    near = await desk.post(brand, [channel], "2027-01-15T09:10", "Friday tip")
    await desk.post(brand, [channel], "2027-01-15T09:30", "Friday again")
    await desk.post(brand, [channel], "2027-01-15T09:45", "Friday once more")

    response = await desk.get(
        f"/channels/{channel}/queue",
        **{"from": "2027-01-10T23:00:00Z", "to": "2027-01-17T23:00:00Z"},
    )
    assert response.status_code == 200, response.text
    health = response.json()
    assert health["summary"] == {
        "slots": 3,
        "filled": 2,
        "gaps": 1,
        "posts": 5,
        "off_slot": 3,
        "bursts": 2,
        "regularity": 0.667,
    }
    kinds = [(m["kind"], m["local"][:16]) for m in health["timeline"]]
    assert kinds == [
        ("filled", "2027-01-11T09:00"),
        ("off_slot", "2027-01-12T15:00"),
        ("gap", "2027-01-13T09:00"),
        ("filled", "2027-01-15T09:00"),
        ("off_slot", "2027-01-15T09:30"),
        ("off_slot", "2027-01-15T09:45"),
    ]
    filled = [m for m in health["timeline"] if m["kind"] == "filled"]
    assert [m["post"]["publication_id"] for m in filled] == [on_slot["id"], near["id"]]
    assert filled[1]["post"]["local"].startswith("2027-01-15T09:10")

    bursts = {b["kind"]: b for b in health["bursts"]}
    assert set(bursts) == {"too_close", "over_daily_slots"}
    assert len(bursts["too_close"]["variant_ids"]) == 3
    assert "3 posts within 35 minutes" in bursts["too_close"]["message"]
    assert bursts["over_daily_slots"]["date"] == "2027-01-15"
    assert bursts["over_daily_slots"]["message"] == "3 posts on 2027-01-15, which has 1 slot"
    friday = next(d for d in health["days"] if d["date"] == "2027-01-15")
    assert friday == {
        "date": "2027-01-15",
        "weekday": 4,
        "slots": 1,
        "filled": 1,
        "gaps": 0,
        "posts": 3,
    }

    # A wider spacing threshold of 10 minutes: the Friday posts are no longer too close.
    relaxed = await desk.get(
        f"/channels/{channel}/queue",
        **{"from": "2027-01-10T23:00:00Z", "to": "2027-01-17T23:00:00Z", "min_spacing_minutes": 10},
    )
    assert [b["kind"] for b in relaxed.json()["bursts"]] == ["over_daily_slots"]


async def test_queue_range_is_checked(desk: Desk) -> None:
    brand = await desk.brand("maison")
    channel = await desk.channel(brand, "mastodon")
    url = f"/channels/{channel}/queue"
    default = await desk.get(url)
    assert default.status_code == 200, default.text
    assert utc(default.json()["to"]) - utc(default.json()["from"]) == timedelta(days=14)
    inverted = await desk.get(url, **{"from": "2027-02-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"})
    assert_problem(inverted, 422, "to")
    too_long = await desk.get(url, **{"from": "2027-01-01T00:00:00Z", "to": "2027-06-01T00:00:00Z"})
    assert_problem(too_long, 422, "92 days")


# -- the calendar -----------------------------------------------------------------------------


async def test_calendar_across_brands_with_filters(desk: Desk) -> None:
    paris = await desk.brand("maison", reporting_line="marketing")
    montreal = await desk.brand("erable", timezone="America/Montreal")
    masto = await desk.channel(paris, "mastodon")
    x = await desk.channel(paris, "x")
    bsky = await desk.channel(montreal, "bluesky")
    both = await desk.post(paris, [masto, x], "2027-02-01T10:00", "Soldes", campaign="soldes")
    await desk.post(
        paris, [masto], "2027-02-03T10:00", "Press day", reporting_line="press_relations"
    )
    maple = await desk.post(montreal, [bsky], "2027-02-02T08:00", "Sirop")
    outside = await desk.post(paris, [masto], "2027-03-15T10:00", "Later")
    canceled = await desk.post(paris, [x], "2027-02-04T10:00", "Dropped")
    response = await desk.client.post(
        f"/publications/{canceled['id']}/cancel", headers=desk.headers
    )
    assert response.status_code == 200, response.text

    window = {"from": "2027-02-01T00:00:00+01:00", "to": "2027-03-01T00:00:00+01:00"}
    everything = await desk.get("/calendar", **window)
    assert everything.status_code == 200, everything.text
    items = everything.json()["items"]
    assert [(i["title"], i["network"]) for i in items] == [
        ("Soldes", "mastodon"),
        ("Soldes", "x"),
        ("Sirop", "bluesky"),
        ("Press day", "mastodon"),
        ("Dropped", "x"),
    ]
    assert outside["id"] not in {i["publication_id"] for i in items}
    sirop = items[2]
    assert sirop["publication_id"] == maple["id"]
    assert sirop["due_at"] == "2027-02-02T13:00:00Z"
    assert sirop["local_time"] == "2027-02-02T08:00:00-05:00"
    assert sirop["timezone"] == "America/Montreal"
    assert (sirop["brand_name"], sirop["status"], sirop["publication_status"]) == (
        "Erable",
        "scheduled",
        "scheduled",
    )
    assert items[0]["variant_id"] == both["variants"][0]["id"] or items[0]["variant_id"] in {
        v["id"] for v in both["variants"]
    }

    async def titles(**params: Any) -> list[str]:
        answer = await desk.get("/calendar", **window, **params)
        assert answer.status_code == 200, answer.text
        return [f"{i['title']}/{i['network']}" for i in answer.json()["items"]]

    assert await titles(brand_id=montreal) == ["Sirop/bluesky"]
    assert await titles(network="x") == ["Soldes/x", "Dropped/x"]
    assert await titles(network=["x", "bluesky"], status="scheduled") == [
        "Soldes/x",
        "Sirop/bluesky",
    ]
    assert await titles(status="canceled") == ["Dropped/x"]
    assert await titles(campaign="soldes") == ["Soldes/mastodon", "Soldes/x"]
    assert await titles(reporting_line="press_relations") == ["Press day/mastodon"]
    assert await titles(reporting_line="marketing") == ["Soldes/mastodon", "Soldes/x", "Dropped/x"]
    assert await titles(channel_id=[masto, bsky]) == [
        "Soldes/mastodon",
        "Sirop/bluesky",
        "Press day/mastodon",
    ]

    # Pages of two, then the cursor, until the end.
    seen: list[str] = []
    params: dict[str, Any] = {**window, "limit": 2}
    while True:
        page = (await desk.get("/calendar", **params)).json()
        seen.extend(i["variant_id"] for i in page["items"])
        if not page["next_cursor"]:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == [i["variant_id"] for i in items]


async def test_calendar_refuses_bad_ranges(desk: Desk) -> None:
    missing = await desk.get("/calendar", **{"from": "2027-02-01T00:00:00Z"})
    body = assert_problem(missing, 422)
    assert [e["field"] for e in body["errors"]] == ["to"]
    neither = assert_problem(await desk.get("/calendar"), 422)
    assert {e["field"] for e in neither["errors"]} == {"from", "to"}
    inverted = await desk.get(
        "/calendar", **{"from": "2027-02-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"}
    )
    assert_problem(inverted, 422, "ends before it starts")
    too_long = await desk.get(
        "/calendar", **{"from": "2027-01-01T00:00:00Z", "to": "2027-04-04T00:00:00Z"}
    )
    assert_problem(too_long, 422, "92 days")
    naive = await desk.get(
        "/calendar", **{"from": "2027-01-01T00:00:00", "to": "2027-01-05T00:00:00Z"}
    )
    assert_problem(naive, 422, "offset")
    garbled = await desk.get("/calendar", **{"from": "yesterday", "to": "2027-01-05T00:00:00Z"})
    assert [e["field"] for e in assert_problem(garbled, 422)["errors"]] == ["from"]
    cursor = await desk.get(
        "/calendar",
        **{"from": "2027-01-01T00:00:00Z", "to": "2027-01-05T00:00:00Z", "cursor": "zzz"},
    )
    assert_problem(cursor, 400, "cursor")


# -- the iCalendar feed -----------------------------------------------------------------------


def _events(body: bytes) -> tuple[Calendar, dict[str, Any]]:
    calendar = Calendar.from_ical(body)
    return calendar, {str(e["UID"]): e for e in calendar.walk("VEVENT")}


async def test_ics_feed_parses_back_with_stable_uids(desk: Desk) -> None:
    brand = await desk.brand("maison")
    other = await desk.brand("erable", timezone="America/Montreal")
    masto = await desk.channel(brand, "mastodon")
    x = await desk.channel(brand, "x")
    elsewhere = await desk.channel(other, "mastodon")
    launch = await desk.post(brand, [masto, x], "2027-03-28T09:30", "Lancement")
    draft = await desk.draft(brand, [masto], "Not yet")
    await desk.post(other, [elsewhere], "2027-03-28T09:30", "Other brand")

    response = await desk.get(f"/brands/{brand}/calendar.ics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    calendar, events = _events(response.content)
    assert str(calendar["X-WR-TIMEZONE"]) == "Europe/Paris"
    expected = {f"variant-{v['id']}@agency": v for v in launch["variants"]}
    assert set(events) == set(expected), "one event per scheduled variant, this brand only"
    assert draft["id"] not in response.text
    for uid in expected:
        start = events[uid].decoded("DTSTART")
        assert start == datetime(2027, 3, 28, 7, 30, tzinfo=UTC)  # 09:30 CEST
        assert start.utcoffset() == timedelta(0)
        assert events[uid]["DTSTART"].to_ical() == b"20270328T073000Z"
    summaries = sorted(str(e["SUMMARY"]) for e in events.values())
    assert summaries == ["[Mastodon] Lancement", "[X] Lancement"]

    # Moved: the same UID, the new time, a higher SEQUENCE.
    moved = await desk.client.post(f"/publications/{launch['id']}/unschedule", headers=desk.headers)
    assert moved.status_code == 200, moved.text
    await desk.schedule(moved.json(), local_time="2027-03-29T18:00")
    _, after = _events((await desk.get(f"/brands/{brand}/calendar.ics")).content)
    assert set(after) == set(events)
    uid = next(iter(expected))
    assert after[uid].decoded("DTSTART") == datetime(2027, 3, 29, 16, 0, tzinfo=UTC)
    assert int(after[uid]["SEQUENCE"]) > int(events[uid]["SEQUENCE"])

    canceled = await desk.client.post(f"/publications/{launch['id']}/cancel", headers=desk.headers)
    assert canceled.status_code == 200
    _, gone = _events((await desk.get(f"/brands/{brand}/calendar.ics")).content)
    assert gone == {}


async def test_feed_address_works_without_a_token_until_revoked(
    desk: Desk, runtime: Runtime
) -> None:
    brand = await desk.brand("maison")
    channel = await desk.channel(brand, "mastodon")
    await desk.post(brand, [channel], "2027-03-28T09:30", "Lancement")
    created = await desk.client.post(
        f"/brands/{brand}/calendar-feeds", json={"name": "Marie's phone"}, headers=desk.headers
    )
    assert created.status_code == 201, created.text
    url = created.json()["url"]
    path = "/" + url.split("/", 3)[3]
    assert path.startswith("/feeds/acf_") and path.endswith("/calendar.ics")
    secret = path.split("/")[2].split(".", 1)[1]
    async with runtime.session() as session:
        await bind_system(session)
        from sqlalchemy import text

        stored = (await session.execute(text("SELECT secret_hash FROM calendar_feeds"))).scalar()
    assert stored and secret not in stored, "only a hash of the secret is stored"

    anonymous = await desk.client.get(path)
    assert anonymous.status_code == 200, anonymous.text
    _, events = _events(anonymous.content)
    assert [str(e["SUMMARY"]) for e in events.values()] == ["[Mastodon] Lancement"]
    listed = await desk.get(f"/brands/{brand}/calendar-feeds")
    assert listed.json()["items"][0]["last_used_at"] is not None
    assert "url" not in listed.json()["items"][0]

    tampered = path.replace(secret, "x" * len(secret))
    assert_problem(await desk.client.get(tampered), 404)
    revoked = await desk.client.post(
        f"/calendar-feeds/{created.json()['id']}/revoke", headers=desk.headers
    )
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert_problem(await desk.client.get(path), 404)


# -- recurring publications -------------------------------------------------------------------


async def _series(desk: Desk, publication_id: str) -> dict[str, Any]:
    response = await desk.get(f"/publications/{publication_id}/series")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _refill(runtime: Runtime, tenant: Tenant, series_id: str, now: datetime) -> None:
    async with runtime.session() as session:
        await bind_tenant(session, tenant.agency_id)
        subject = Subject(agency_id=tenant.agency_id, kind="system")
        with collecting(JobBuffer()):
            await SeriesService(session, subject, runtime).refill(uuid.UUID(series_id), now)
        await session.commit()


async def test_weekly_series_keeps_its_wall_clock_time_across_spring(
    desk: Desk, runtime: Runtime
) -> None:
    brand = await desk.brand("maison")
    masto = await desk.channel(brand, "mastodon")
    x = await desk.channel(brand, "x")
    draft = await desk.draft(brand, [masto, x], "Weekly tip", recurrence="FREQ=WEEKLY;COUNT=4")
    first = await desk.schedule(draft, local_time="2027-03-21T09:30")
    assert first["series_id"]

    series = await _series(desk, first["id"])
    assert series["dtstart"] == "2027-03-21T09:30:00"
    times = [p["scheduled_at"] for p in series["publications"]]
    # 09:30 in Paris: UTC+1 before the change, UTC+2 after.
    assert times == ["2027-03-21T08:30:00Z", "2027-03-28T07:30:00Z"]
    second_id = series["publications"][1]["publication_id"]
    second = (await desk.get(f"/publications/{second_id}")).json()
    assert second["series_id"] == first["series_id"]
    assert second["status"] == "scheduled"
    assert sorted(v["text"] for v in second["variants"]) == ["Weekly tip on 0", "Weekly tip on 1"]
    assert {v["due_at"] for v in second["variants"]} == {"2027-03-28T07:30:00Z"}
    assert series["next_refill_at"] == "2027-03-21T08:30:00Z"

    # The first one falls due and is published: the scheduler's claim sends a job, which
    # makes the next.
    await _published(runtime, first["id"])
    async with runtime.session() as session:
        await bind_system(session)
        buffer = JobBuffer()
        with collecting(buffer):
            assert await claim_series(session, runtime, utc("2027-03-21T08:30:01Z")) == 1
        await session.commit()
    assert buffer.messages == [(REFILL_JOB, (str(desk.tenant.agency_id), series["id"]), {})]
    async with runtime.session() as session:
        with collecting(JobBuffer()):
            await refill_series(session, runtime, *buffer.messages[0][1])
        await session.commit()
    series = await _series(desk, first["id"])
    assert [p["scheduled_at"] for p in series["publications"]] == [
        "2027-03-21T08:30:00Z",
        "2027-03-28T07:30:00Z",
        "2027-04-04T07:30:00Z",
    ]
    # Not claimed again before it runs short again.
    async with runtime.session() as session:
        await bind_system(session)
        with collecting(JobBuffer()):
            assert await claim_series(session, runtime, utc("2027-03-21T08:30:02Z")) == 0
        await session.rollback()

    # COUNT=4: the fourth is the last; then the series is finished.
    await _refill(runtime, desk.tenant, series["id"], utc("2027-03-28T07:30:01Z"))
    await _refill(runtime, desk.tenant, series["id"], utc("2027-04-04T07:30:01Z"))
    series = await _series(desk, first["id"])
    assert len(series["publications"]) == 4
    assert series["publications"][3]["scheduled_at"] == "2027-04-11T07:30:00Z"
    assert series["finished_at"] is not None and series["next_refill_at"] is None


async def test_daily_series_through_a_skipped_hour(desk: Desk, runtime: Runtime) -> None:
    """02:30 every day: on the spring Sunday that time does not exist, so it is 03:30."""
    brand = await desk.brand("maison")
    masto = await desk.channel(brand, "mastodon")
    draft = await desk.draft(brand, [masto], "Night owl", recurrence="FREQ=DAILY")
    first = await desk.schedule(draft, local_time="2027-03-27T02:30")
    series = await _series(desk, first["id"])
    await _refill(runtime, desk.tenant, series["id"], utc("2027-03-27T01:30:01Z"))
    series = await _series(desk, first["id"])
    assert [p["scheduled_at"] for p in series["publications"]] == [
        "2027-03-27T01:30:00Z",  # 02:30 CET
        "2027-03-28T01:30:00Z",  # 03:30 CEST: 02:30 is skipped that night
        "2027-03-29T00:30:00Z",  # 02:30 CEST
    ]


async def test_canceling_the_series_stops_future_occurrences(desk: Desk, runtime: Runtime) -> None:
    brand = await desk.brand("maison")
    masto = await desk.channel(brand, "mastodon")
    draft = await desk.draft(brand, [masto], "Weekly", recurrence="FREQ=WEEKLY;BYDAY=MO")
    first = await desk.schedule(draft, local_time="2027-05-03T10:00")
    series = await _series(desk, first["id"])
    second_id = series["publications"][1]["publication_id"]

    canceled = await desk.client.post(
        f"/publications/{second_id}/cancel-series", headers=desk.headers
    )
    assert canceled.status_code == 200, canceled.text
    body = canceled.json()
    assert body["canceled_at"] and body["next_refill_at"] is None
    assert {p["status"] for p in body["publications"]} == {"canceled"}
    again = await desk.client.post(
        f"/publications/{first['id']}/cancel-series", headers=desk.headers
    )
    assert again.status_code == 200 and again.json()["canceled_at"] == body["canceled_at"]

    before = await count_rows(runtime, "publications")
    await _refill(runtime, desk.tenant, series["id"], utc("2027-05-10T09:00:00Z"))
    async with runtime.session() as session:
        await bind_system(session)
        with collecting(JobBuffer()):
            assert await claim_series(session, runtime, utc("2027-06-01T00:00:00Z")) == 0
        await session.rollback()
    assert await count_rows(runtime, "publications") == before, "nothing after cancel-series"
    calendar = await desk.get(
        "/calendar",
        **{"from": "2027-05-01T00:00:00Z", "to": "2027-06-01T00:00:00Z", "status": "scheduled"},
    )
    assert calendar.json()["items"] == []

    plain = await desk.post(brand, [masto], "2027-05-04T10:00", "One-off")
    assert_problem(
        await desk.client.post(f"/publications/{plain['id']}/cancel-series", headers=desk.headers),
        409,
        "not part of a series",
    )


async def test_an_occurrence_that_cannot_be_scheduled_is_skipped_and_said(
    desk: Desk, runtime: Runtime
) -> None:
    """Threads allows 250 posts a day: with the window full, the occurrence is skipped."""
    brand = await desk.brand("maison")
    threads = await desk.channel(brand, "threads")
    draft = await desk.draft(brand, [threads], "Daily", recurrence="FREQ=DAILY")
    first = await desk.schedule(draft, local_time="2027-06-01T12:00")
    series = await _series(desk, first["id"])
    assert len(series["publications"]) == 2
    # Fill the window of the third occurrence (3 June 12:00) straight in the database.
    await _fill_quota(runtime, desk.tenant, threads, utc("2027-06-03T11:00:00+02:00"), 250)
    await _refill(runtime, desk.tenant, series["id"], utc("2027-06-01T10:00:01Z"))
    series = await _series(desk, first["id"])
    assert len(series["publications"]) == 2
    assert "2027-06-03T12:00:00 was skipped" in series["last_error"]
    assert "already has 250 posts within 24 hours" in series["last_error"]
    assert series["next_refill_at"] == "2027-06-02T10:00:00Z"


async def _published(runtime: Runtime, publication_id: str) -> None:
    """As the pipeline leaves a publication it has published."""
    from sqlalchemy import update

    from agency.publication.models import Publication, Variant

    async with runtime.session() as session:
        await bind_system(session)
        pid = uuid.UUID(publication_id)
        await session.execute(
            update(Publication).where(Publication.id == pid).values(status="published")
        )
        await session.execute(
            update(Variant).where(Variant.publication_id == pid).values(status="published")
        )
        await session.commit()


async def _fill_quota(
    runtime: Runtime, tenant: Tenant, channel_id: str, at: datetime, count: int
) -> None:
    """``count`` posts on the channel from ``at`` on, one publication each."""
    from agency.channel.models import Channel
    from agency.publication.models import Publication, Variant

    channel = uuid.UUID(channel_id)
    async with runtime.session() as session:
        await bind_tenant(session, tenant.agency_id)
        found = await session.get(Channel, channel)
        assert found is not None
        for i in range(count):
            publication = Publication(
                agency_id=tenant.agency_id,
                brand_id=found.brand_id,
                title=f"filler {i}",
                status="scheduled",
            )
            session.add(publication)
            await session.flush()
            session.add(
                Variant(
                    agency_id=tenant.agency_id,
                    publication_id=publication.id,
                    brand_id=found.brand_id,
                    channel_id=channel,
                    network="threads",
                    status="scheduled",
                    due_at=at + timedelta(seconds=i),
                )
            )
        await session.commit()


async def test_scheduling_answers_even_when_the_next_occurrence_is_skipped(
    desk: Desk, runtime: Runtime
) -> None:
    """The user's own schedule succeeds; the next occurrence, which cannot be, is said."""
    brand = await desk.brand("maison")
    threads = await desk.channel(brand, "threads")
    await _fill_quota(runtime, desk.tenant, threads, utc("2027-06-08T11:00:00+02:00"), 250)
    draft = await desk.draft(brand, [threads], "Weekly", recurrence="FREQ=WEEKLY")
    first = await desk.schedule(draft, local_time="2027-06-01T12:00")
    assert first["status"] == "scheduled" and first["series_id"]
    series = await _series(desk, first["id"])
    assert [p["publication_id"] for p in series["publications"]] == [first["id"]]
    assert "2027-06-08T12:00:00 was skipped" in series["last_error"]
    assert series["next_refill_at"] == "2027-06-01T10:00:00Z"


async def _running(desk: Desk, rule: str, title: str = "Weekly") -> dict[str, Any]:
    """The first occurrence of a series started on Monday 3 May 2027 at 10:00 in Paris."""
    brand = await desk.brand("maison")
    masto = await desk.channel(brand, "mastodon")
    draft = await desk.draft(brand, [masto], title, recurrence=rule)
    return await desk.schedule(draft, local_time="2027-05-03T10:00")


async def _edit(desk: Desk, publication_id: str, **fields: Any) -> httpx.Response:
    current = (await desk.get(f"/publications/{publication_id}")).json()
    return await desk.client.patch(
        f"/publications/{publication_id}",
        json=fields,
        headers={**desk.headers, "If-Match": f'"{current["version"]}"'},
    )


def _planned(series: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["scheduled_at"], p["status"]) for p in series["publications"]]


async def test_a_new_rule_applies_from_the_edited_occurrence_on(
    desk: Desk, runtime: Runtime
) -> None:
    """Mondays become Wednesdays: the Monday made ahead is canceled and Wednesday follows."""
    first = await _running(desk, "FREQ=WEEKLY;BYDAY=MO")
    series = await _series(desk, first["id"])
    assert _planned(series) == [
        ("2027-05-03T08:00:00Z", "scheduled"),
        ("2027-05-10T08:00:00Z", "scheduled"),
    ]

    edited = await _edit(desk, first["id"], recurrence="FREQ=WEEKLY;BYDAY=WE")
    assert edited.status_code == 200, edited.text
    series = await _series(desk, first["id"])
    assert (series["rule"], series["dtstart"]) == ("FREQ=WEEKLY;BYDAY=WE", "2027-05-03T10:00:00")
    assert _planned(series) == [
        ("2027-05-03T08:00:00Z", "scheduled"),  # the edited one keeps its time
        ("2027-05-05T08:00:00Z", "scheduled"),
        ("2027-05-10T08:00:00Z", "canceled"),
    ]
    wednesday = series["publications"][1]["publication_id"]
    assert (await desk.get(f"/publications/{wednesday}")).json()["recurrence"] == (
        "FREQ=WEEKLY;BYDAY=WE"
    )
    # The refills go on with the new rule.
    await _refill(runtime, desk.tenant, series["id"], utc("2027-05-03T08:00:01Z"))
    series = await _series(desk, first["id"])
    assert [t for t, status in _planned(series) if status == "scheduled"][-1] == (
        "2027-05-12T08:00:00Z"
    )
    audit = await desk.get("/audit-events", action="publication_series.rule_changed")
    assert [e["changes"]["rule"] for e in audit.json()["items"]] == [
        ["FREQ=WEEKLY;BYDAY=MO", "FREQ=WEEKLY;BYDAY=WE"]
    ]


async def test_published_occurrences_stay_when_the_rule_changes(
    desk: Desk, runtime: Runtime
) -> None:
    first = await _running(desk, "FREQ=DAILY", "Daily")
    await _published(runtime, first["id"])
    second = (await _series(desk, first["id"]))["publications"][1]["publication_id"]

    assert (await _edit(desk, second, recurrence="FREQ=WEEKLY")).status_code == 200
    series = await _series(desk, first["id"])
    assert _planned(series) == [
        ("2027-05-03T08:00:00Z", "published"),
        ("2027-05-04T08:00:00Z", "scheduled"),
        ("2027-05-11T08:00:00Z", "scheduled"),
    ]
    assert series["dtstart"] == "2027-05-04T10:00:00"


async def test_removing_the_rule_ends_the_series_with_this_occurrence(desk: Desk) -> None:
    first = await _running(desk, "FREQ=WEEKLY")

    assert (await _edit(desk, first["id"], recurrence=None)).status_code == 200
    series = await _series(desk, first["id"])
    assert _planned(series) == [
        ("2027-05-03T08:00:00Z", "scheduled"),
        ("2027-05-10T08:00:00Z", "canceled"),
    ]
    assert series["finished_at"] is not None and series["next_refill_at"] is None


async def test_a_rule_a_series_cannot_follow_is_refused_and_nothing_changes(desk: Desk) -> None:
    first = await _running(desk, "FREQ=WEEKLY")

    refused = await _edit(desk, first["id"], recurrence="FREQ=MINUTELY")
    problem = assert_problem(refused, 422, "hourly")
    assert [e["field"] for e in problem["errors"]] == ["recurrence"]
    series = await _series(desk, first["id"])
    assert series["rule"] == "FREQ=WEEKLY"
    assert [s for _, s in _planned(series)] == ["scheduled", "scheduled"]
    assert (await desk.get(f"/publications/{first['id']}")).json()["recurrence"] == "FREQ=WEEKLY"


async def test_a_scheduled_publication_given_a_rule_starts_its_series(desk: Desk) -> None:
    brand = await desk.brand("maison")
    masto = await desk.channel(brand, "mastodon")
    plain = await desk.post(brand, [masto], "2027-05-03T10:00", "Once, then weekly")
    assert plain["series_id"] is None

    assert (await _edit(desk, plain["id"], recurrence="FREQ=WEEKLY")).status_code == 200
    series = await _series(desk, plain["id"])
    assert _planned(series) == [
        ("2027-05-03T08:00:00Z", "scheduled"),
        ("2027-05-10T08:00:00Z", "scheduled"),
    ]


async def test_an_occurrence_off_the_calendar_cannot_take_a_new_rule(desk: Desk) -> None:
    first = await _running(desk, "FREQ=WEEKLY")
    second = (await _series(desk, first["id"]))["publications"][1]["publication_id"]
    off = await desk.client.post(f"/publications/{second}/unschedule", headers=desk.headers)
    assert off.status_code == 200, off.text

    refused = await _edit(desk, second, recurrence="FREQ=DAILY")
    problem = assert_problem(refused, 409, "schedule it first", "cancel the series")
    assert [e["field"] for e in problem["errors"]] == ["recurrence"]
    assert (await _series(desk, first["id"]))["rule"] == "FREQ=WEEKLY"
