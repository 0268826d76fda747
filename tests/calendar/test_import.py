"""Bulk import of publications from CSV: every row checked and reported, all or nothing."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text

from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import bind_system
from agency.publication.states import POLICIES, Review, Status
from tests.conftest import Tenant, count_rows
from tests.helpers import assert_problem, insert_media
from tests.support.desk import Desk

CSV = {"Content-Type": "text/csv; charset=utf-8"}


@pytest.fixture
def desk(client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant) -> Desk:
    return Desk(client, runtime, tenant_a)


async def _import(
    desk: Desk, brand: str, body: str | bytes, dry_run: bool = False, **headers: str
) -> httpx.Response:
    return await desk.client.post(
        f"/brands/{brand}/publications/import",
        params={"dry_run": "true"} if dry_run else None,
        content=body.encode() if isinstance(body, str) else body,
        headers={**desk.headers, **CSV, **headers},
    )


def _problems(report: dict[str, Any]) -> dict[int, list[tuple[str, str]]]:
    return {
        r["row"]: [(p["column"], p["code"]) for p in r["problems"]]
        for r in report["rows"]
        if not r["accepted"]
    }


async def test_a_clean_file_is_imported_and_scheduled(desk: Desk, runtime: Runtime) -> None:
    brand = await desk.brand("maison")
    masto = await desk.channel(brand, "mastodon", handle="@maison@social.example")
    x = await desk.channel(brand, "x")
    # As a French spreadsheet exports it: UTF-8 with a BOM, ";" between fields.
    body = (
        "\ufefftitle;channel_id;network;account;text;local_time;at;campaign;tags\r\n"
        'Soldes;;mastodon;maison@social.example;"Les soldes; enfin !";2027-01-12 09:00;;'
        "soldes;hiver, promo\r\n"
        ";;;;;;;;\r\n"
        f"Soldes X;{x};;;Les soldes sur X;;2027-01-12T08:30:00Z;soldes;\r\n"
    )
    response = await _import(desk, brand, body)
    assert response.status_code == 201, response.text
    report = response.json()
    assert (report["dry_run"], report["accepted"], report["refused"]) == (False, 2, 0)
    assert [r["row"] for r in report["rows"]] == [2, 4], "spreadsheet row numbers"
    first, second = report["rows"]
    assert first["due_at"] == "2027-01-12T08:00:00Z"  # 09:00 in Paris in winter

    publication = (await desk.get(f"/publications/{first['publication_id']}")).json()
    assert publication["status"] == "scheduled"
    assert publication["tags"] == ["hiver", "promo"] and publication["campaign"] == "soldes"
    assert [(v["channel_id"], v["text"]) for v in publication["variants"]] == [
        (masto, "Les soldes; enfin !")
    ]
    calendar = await desk.get(
        "/calendar", **{"from": "2027-01-12T00:00:00Z", "to": "2027-01-13T00:00:00Z"}
    )
    assert [i["publication_id"] for i in calendar.json()["items"]] == [
        first["publication_id"],
        second["publication_id"],
    ]


async def test_one_refused_row_and_nothing_is_imported(
    desk: Desk, runtime: Runtime, client: httpx.AsyncClient, tenant_b: Tenant
) -> None:
    brand = await desk.brand("maison")
    other_brand = await desk.brand("erable", timezone="America/Montreal")
    masto = await desk.channel(brand, "mastodon", handle="maison")
    x = await desk.channel(brand, "x")
    insta = await desk.channel(brand, "instagram")
    elsewhere = await desk.channel(other_brand, "mastodon")
    b_desk = Desk(client, runtime, tenant_b)
    foreign = await b_desk.channel(await b_desk.brand("bravo-brand"), "mastodon")
    past = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d %H:%M")
    rows = [
        f"Fine,{masto},,,All good,2027-01-12 09:00,,",
        f"Unknown,{uuid.uuid4()},,,Text,2027-01-12 09:00,,",
        f"Other brand,{elsewhere},,,Text,2027-01-12 09:00,,",
        f"Other agency,{foreign},,,Text,2027-01-12 09:00,,",
        f"Past,{masto},,,Text,{past},,",
        f"Skipped hour,{masto},,,Text,2027-03-28 02:30,,",
        f"Too long,{x},,,{'a' * 300},2027-01-12 09:00,,",
        f"No media,{insta},,,A photo post,2027-01-12 09:00,,",
        f"Bad link,{masto},,,Text,2027-01-12 09:00,,ftp://example.com",
        f"Two times,{masto},,,Text,2027-01-12 09:00,2027-01-12T08:00:00Z,",
        ",,mastodon,nobody,Text,,,",
    ]
    body = "title,channel_id,network,account,text,local_time,at,link\n" + "\n".join(rows) + "\n"

    refused = await _import(desk, brand, body)
    problem = assert_problem(refused, 422, "11 rows", "nothing was imported")
    assert _problems(problem) == {
        3: [("channel_id", "unknown")],
        4: [("channel_id", "other_brand")],
        5: [("channel_id", "unknown")],
        6: [("local_time", "past")],
        7: [("local_time", "skipped")],
        8: [("text", "text_too_long")],
        9: [("media_ids", "no_media")],
        10: [("link", "invalid")],
        11: [("local_time", "required")],
        12: [("title", "required"), ("account", "unknown"), ("local_time", "required")],
    }
    fine = problem["rows"][0]
    assert (fine["row"], fine["accepted"], fine["publication_id"]) == (2, True, None)
    messages = {e["field"]: e["message"] for e in problem["errors"]}
    assert messages["rows[4].channel_id"] == f"channel {elsewhere} belongs to another brand"
    assert messages["rows[5].channel_id"] == f"no channel with id {foreign} in this agency"
    assert "summer time" in messages["rows[7].local_time"]
    assert await count_rows(runtime, "publications") == 0
    assert await count_rows(runtime, "publication_variants") == 0

    dry = await _import(desk, brand, body, dry_run=True)
    assert dry.status_code == 200, dry.text
    assert (dry.json()["accepted"], dry.json()["refused"]) == (1, 10)
    assert _problems(dry.json()) == _problems(problem)
    assert await count_rows(runtime, "publications") == 0


async def test_the_quota_counts_the_rows_above(desk: Desk, runtime: Runtime) -> None:
    """Threads takes 250 posts per 24 hours: the 251st row within a day is refused."""
    brand = await desk.brand("maison")
    threads = await desk.channel(brand, "threads")
    start = datetime(2027, 2, 1, 8, 0)
    lines = [
        f"Post {i};{threads};Text {i};{(start + timedelta(minutes=i)).strftime('%Y-%m-%dT%H:%M')}"
        for i in range(251)
    ]
    body = "title;channel_id;text;local_time\n" + "\n".join(lines)
    dry = await _import(desk, brand, body, dry_run=True)
    assert dry.status_code == 200, dry.text
    assert (dry.json()["accepted"], dry.json()["refused"]) == (250, 1)
    assert _problems(dry.json()) == {252: [("local_time", "quota_exhausted")]}
    refused = await _import(desk, brand, body)
    assert_problem(refused, 422, "1 of 251 rows")
    assert await count_rows(runtime, "publications") == 0

    # Without the last row, all 250 go in, in one request, in a few statements (not a few
    # per row: 1,000 rows took 25 s that way).
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(runtime.engine.sync_engine, "before_cursor_execute", seen)
    try:
        accepted = await _import(
            desk, brand, "title;channel_id;text;local_time\n" + "\n".join(lines[:250])
        )
    finally:
        event.remove(runtime.engine.sync_engine, "before_cursor_execute", seen)
    assert accepted.status_code == 201, accepted.text
    assert await count_rows(runtime, "publications") == 250
    assert len(statements) < 40, statements
    # Now the channel's window is full: one more row is refused against what is stored.
    more = await _import(desk, brand, "title;channel_id;text;local_time\n" + lines[250])
    assert _problems(assert_problem(more, 422)) == {2: [("local_time", "quota_exhausted")]}


async def test_files_that_cannot_be_read(desk: Desk) -> None:
    brand = await desk.brand("maison")
    masto = await desk.channel(brand, "mastodon")
    unknown = await _import(desk, brand, "title,channel_id,local_time,colour\nA,b,c,d\n")
    assert [e["field"] for e in assert_problem(unknown, 422, "colour")["errors"]] == ["header[3]"]
    no_channel = await _import(desk, brand, "title,local_time\nA,2027-01-01 10:00\n")
    assert_problem(no_channel, 422, "channel_id")
    assert_problem(await _import(desk, brand, ""), 422, "empty")
    assert_problem(await _import(desk, brand, "title,channel_id,at\n"), 422, "no publication rows")
    latin1 = "title,channel_id,local_time\nCafé,x,2027-01-01 10:00\n".encode("latin-1")
    assert_problem(await _import(desk, brand, latin1), 422, "UTF-8")
    many = "title,channel_id,local_time\n" + f"A,{masto},2027-01-01 10:00\n" * 1001
    assert_problem(await _import(desk, brand, many), 422, "at most 1000")
    extra = await _import(
        desk, brand, f"title,channel_id,local_time\nA,{masto},2027-01-12 10:00,oops\n"
    )
    assert _problems(assert_problem(extra, 422)) == {2: [("row", "extra_cells")]}
    json_body = await desk.client.post(
        f"/brands/{brand}/publications/import", json={"title": "A"}, headers=desk.headers
    )
    assert_problem(json_body, 415, "text/csv")


async def test_a_multipart_upload_is_read_too(desk: Desk, runtime: Runtime) -> None:
    brand = await desk.brand("maison")
    masto = await desk.channel(brand, "mastodon")
    body = f"title,channel_id,text,local_time\nUploaded,{masto},Hello,2027-01-12 10:00\n"
    response = await desk.client.post(
        f"/brands/{brand}/publications/import",
        params={"dry_run": "true"},
        files={"file": ("plan.csv", body.encode(), "text/csv")},
        headers=desk.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["rows"][0]["due_at"] == "2027-01-12T09:00:00Z"
    assert await count_rows(runtime, "publications") == 0
    no_file = await desk.client.post(
        f"/brands/{brand}/publications/import",
        files={"other": ("plan.csv", body.encode(), "text/csv")},
        headers=desk.headers,
    )
    assert_problem(no_file, 400, "file")


async def test_a_retried_upload_with_its_idempotency_key_imports_once(
    desk: Desk, runtime: Runtime
) -> None:
    brand = await desk.brand("maison")
    masto = await desk.channel(brand, "mastodon")
    body = f"title,channel_id,text,local_time\nOnce,{masto},Hello,2027-01-12 10:00\n"
    first = await _import(desk, brand, body, **{"Idempotency-Key": "plan-2027-01"})
    assert first.status_code == 201, first.text
    again = await _import(desk, brand, body, **{"Idempotency-Key": "plan-2027-01"})
    assert again.status_code == 201 and again.json() == first.json()
    assert await count_rows(runtime, "publications") == 1
    other = body.replace("Once", "Twice")
    assert_problem(await _import(desk, brand, other, **{"Idempotency-Key": "plan-2027-01"}), 422)
    assert await count_rows(runtime, "publications") == 1


async def _written(runtime: Runtime, brand: str) -> dict[str, list[Any]]:
    """What the brand's publications left in every table, without ids and clock readings."""
    tables = {
        "publications": "SELECT * FROM publications WHERE brand_id = :b ORDER BY title",
        "publication_variants": (
            "SELECT v.* FROM publication_variants v JOIN publications p ON p.id = "
            "v.publication_id WHERE p.brand_id = :b ORDER BY p.title"
        ),
        "publication_versions": (
            "SELECT v.* FROM publication_versions v JOIN publications p ON p.id = "
            "v.publication_id WHERE p.brand_id = :b ORDER BY p.title, v.number, v.id"
        ),
        "audit_events": (
            "SELECT a.* FROM audit_events a JOIN publications p ON p.id = a.object_id "
            "WHERE p.brand_id = :b ORDER BY p.title, a.id"
        ),
        "webhook_events": (
            "SELECT e.* FROM webhook_events e JOIN publications p "
            "ON e.body::json->'data'->>'publication_id' = p.id::text "
            "WHERE p.brand_id = :b ORDER BY p.title"
        ),
        "webhook_deliveries": (
            "SELECT d.* FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id "
            "JOIN publications p ON e.body::json->'data'->>'publication_id' = p.id::text "
            "WHERE p.brand_id = :b ORDER BY p.title"
        ),
    }
    names: dict[str, str] = {brand: "brand"}
    found: dict[str, list[Any]] = {}
    async with runtime.session() as session:
        await bind_system(session)
        for channel_id, network in (
            await session.execute(
                text("SELECT id, network FROM channels WHERE brand_id = :b"), {"b": brand}
            )
        ).all():
            names[str(channel_id)] = f"channel:{network}"
        for publication_id, title in (
            await session.execute(
                text("SELECT id, title FROM publications WHERE brand_id = :b"), {"b": brand}
            )
        ).all():
            names[str(publication_id)] = f"publication:{title}"
        for table, sql in tables.items():
            rows = (await session.execute(text(sql), {"b": brand})).mappings().all()
            found[table] = [_neutral(dict(row), names) for row in rows]
    return found


# Clock readings and ids of the rows themselves differ from one write to another.
CLOCK = {"created_at", "updated_at", "approved_at", "at", "timestamp", "next_attempt_at"}
OWN_IDS = {"id", "event_id", "variant_id"}


def _neutral(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            k: _neutral(v, names) for k, v in value.items() if k not in CLOCK and k not in OWN_IDS
        }
    if isinstance(value, list):
        return [_neutral(v, names) for v in value]
    if isinstance(value, uuid.UUID | str) and str(value) in names:
        return names[str(value)]
    if isinstance(value, str) and value.startswith("{"):
        return _neutral(json.loads(value), names)
    return value


async def test_an_import_writes_what_creating_and_scheduling_write(
    desk: Desk, runtime: Runtime
) -> None:
    """Each row leaves the rows the API's create then schedule leave: publication, variant,
    versions, audit, webhook event and delivery; the import adds one audit row of its own."""
    webhook = await desk.client.post(
        "/webhooks", json={"url": "https://hooks.example.com/in"}, headers=desk.headers
    )
    assert webhook.status_code == 201, webhook.text
    imported, by_hand = await desk.brand("maison"), await desk.brand("maison-bis")
    channels = {
        brand: {n: await desk.channel(brand, n, handle="maison") for n in ("mastodon", "threads")}
        for brand in (imported, by_hand)
    }
    rows = [
        ("Soldes", "mastodon", "Les soldes!", {"local_time": "2027-01-12T09:00"}, "soldes"),
        ("Photo", "threads", "Hello", {"at": "2027-01-12T09:30:00+01:00"}, ""),
    ]
    body = "title,network,account,text,local_time,at,campaign,tags\n" + "".join(
        f"{title},{network},maison,{text_},{when.get('local_time', '')},{when.get('at', '')},"
        f"{campaign},a;b\n"
        for title, network, text_, when, campaign in rows
    )
    assert (await _import(desk, imported, body)).status_code == 201
    for title, network, text_, when, campaign in rows:
        created = await desk.client.post(
            f"/brands/{by_hand}/publications",
            json={
                "title": title,
                "variants": [{"channel_id": channels[by_hand][network], "text": text_}],
                "campaign": campaign or None,
                "tags": ["a", "b"],
            },
            headers=desk.headers,
        )
        assert created.status_code == 201, created.text
        await desk.schedule(
            created.json(),
            local_time=when.get("local_time"),
            at=datetime.fromisoformat(when["at"]) if "at" in when else None,
        )

    written = await _written(runtime, imported)
    assert written == await _written(runtime, by_hand)
    assert [a["action"] for a in written["audit_events"]] == [
        "publication.created",
        "publication.submitted",
        "publication.scheduled",
    ] * 2
    assert len(written["webhook_deliveries"]) == 2


async def test_the_brand_charter_is_checked_with_each_row(desk: Desk, runtime: Runtime) -> None:
    brand = await desk.brand("maison", editorial_charter={"words_to_avoid": ["cheap"]})
    masto = await desk.channel(brand, "mastodon")
    body = (
        "title,channel_id,text,local_time\n"
        f"Fine,{masto},Our spring collection,2027-01-12 09:00\n"
        f"Cheap,{masto},Cheap prices all week,2027-01-12 10:00\n"
    )
    dry = await _import(desk, brand, body, dry_run=True)
    assert dry.status_code == 200, dry.text
    assert _problems(dry.json()) == {3: [("text", "charter_word")]}
    refused = await _import(desk, brand, body)
    assert _problems(assert_problem(refused, 422, "1 of 2 rows")) == {3: [("text", "charter_word")]}
    assert await count_rows(runtime, "publications") == 0


class _Review:
    """A policy that sends submitted content to review (none is shipped yet)."""

    name = "review"

    async def on_submit(self, review: Review) -> Status:
        return Status.IN_REVIEW

    async def on_edit(self, review: Review) -> Status:
        return Status.IN_REVIEW


async def test_under_a_review_policy_imported_rows_wait_for_approval_with_their_time(
    desk: Desk, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(POLICIES, "review", _Review())
    brand = await desk.brand("maison")
    masto = await desk.channel(brand, "mastodon")
    async with runtime.session() as session:
        await bind_system(session)
        await session.execute(
            text("UPDATE brands SET approval_policy = 'review' WHERE id = :b"), {"b": brand}
        )
        await session.commit()
    body = f"title,channel_id,text,local_time\nWaiting,{masto},Hello,2027-01-12 09:00\n"
    response = await _import(desk, brand, body)
    assert response.status_code == 201, response.text
    publication_id = response.json()["rows"][0]["publication_id"]
    publication = (await desk.get(f"/publications/{publication_id}")).json()
    assert (publication["status"], publication["scheduled_at"]) == (
        "in_review",
        "2027-01-12T08:00:00Z",
    )
    versions = (await desk.get(f"/publications/{publication_id}/versions")).json()
    assert [v["action"] for v in versions["items"]] == ["created", "submitted", "time_set"]


async def test_the_networks_rules_read_each_rows_media(desk: Desk, runtime: Runtime) -> None:
    """Facebook takes 10 media in a post: the rules see the media each row names."""
    brand = await desk.brand("maison")
    facebook = await desk.channel(brand, "facebook")
    media = [await insert_media(runtime, desk.tenant.agency_id, brand) for _ in range(11)]
    body = (
        "title,channel_id,text,local_time,media_ids\n"
        f"One,{facebook},Photo,2027-01-12 09:00,{media[0]}\n"
        f"Same,{facebook},Photo again,2027-01-12 10:00,{media[0]}\n"
        f"Eleven,{facebook},Album,2027-01-12 11:00,{' '.join(media)}\n"
    )
    dry = await _import(desk, brand, body, dry_run=True)
    assert dry.status_code == 200, dry.text
    assert _problems(dry.json()) == {4: [("media_ids", "too_many_media")]}
    imported = await _import(desk, brand, "\n".join(body.splitlines()[:3]) + "\n")
    assert imported.status_code == 201, imported.text
    first = (await desk.get(f"/publications/{imported.json()['rows'][0]['publication_id']}")).json()
    assert first["variants"][0]["media_ids"] == [media[0]]
