"""Report e-mails end to end through a real SMTP server (aiosmtpd) and a real worker: the
message taken apart (MIME parts, inline charts, the PDF opened, headers, each recipient's
language), exactly one run per schedule and period, preview, send now, confirmation and
one-click unsubscribe, and the bad inputs."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image

from agency.kernel.runtime import Runtime
from agency.kernel.scheduling import tick
from tests.conftest import Tenant, count_rows
from tests.helpers import add_client_member, assert_problem, create_brand
from tests.support.images import picture
from tests.support.report_mail import (
    create_schedule,
    execute,
    make_due,
    parts,
    pdf_text,
    report_worker,
    rows,
    send_now,
    settled_run,
    unsubscribe_url,
)
from tests.support.reporting import Maison
from tests.support.reporting import maison as maison
from tests.support.smtp import SmtpServer, smtp_settings

MARCH = {"period_start": "2027-03-01", "period_end": "2027-03-31"}
RECEIVE = ["calendar:read", "reports:receive"]


@pytest.fixture
async def scene(client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant) -> Maison:
    """The reporting tests' worked example: Maison, Instagram and X, March 2027."""
    brand_id = await create_brand(client, tenant_a, "maison", reporting_line="marketing")
    found = Maison(runtime, tenant_a, brand_id)
    await found.setup()
    return found


@pytest.fixture
async def worker(runtime: Runtime) -> AsyncIterator[None]:
    with report_worker(runtime):
        yield


async def people(client: httpx.AsyncClient, scene: Maison) -> None:
    """The client's people on the Maison brand: who should get the marketing report."""
    t, b = scene.tenant, scene.brand_id
    await add_client_member(
        client, t, b, "claire@maison.example", RECEIVE, name="Claire Dupont", invite=False
    )
    await add_client_member(
        client, t, b, "john@maison.example", RECEIVE, name="John Smith", locale="en", invite=False
    )
    # Same line, without reports:receive; and another line: neither receives it.
    await add_client_member(client, t, b, "nope@maison.example", name="No Permission", invite=False)
    await add_client_member(
        client,
        t,
        b,
        "rp@maison.example",
        RECEIVE,
        name="Rita Press",
        reporting_line="press_relations",
        invite=False,
    )


async def test_a_report_goes_out_once_in_each_recipients_language(
    client: httpx.AsyncClient,
    runtime: Runtime,
    scene: Maison,
    smtp_on: SmtpServer,
    worker: None,
) -> None:
    await people(client, scene)
    schedule = await create_schedule(
        client,
        scene.tenant,
        scene.brand_id,
        period="last_month",
        recipients={"client_lines": ["marketing"]},
    )
    run = await send_now(client, scene.tenant, schedule["id"], **MARCH)
    done = await settled_run(client, scene.tenant, run["id"])
    assert done["status"] == "sent", done
    assert {(d["email"], d["locale"], d["status"]) for d in done["deliveries"]} == {
        ("claire@maison.example", "fr", "sent"),
        ("john@maison.example", "en", "sent"),
    }
    [fr] = [r.message for r in smtp_on.handler.to("claire@maison.example")]
    [en] = [r.message for r in smtp_on.handler.to("john@maison.example")]
    assert smtp_on.handler.to("nope@maison.example", timeout=0.2) == []
    assert smtp_on.handler.to("rp@maison.example", timeout=0.2) == []

    assert fr["Subject"] == "Rapport Maison : 1\u201331 mars 2027"
    assert en["Subject"] == "Maison report: Mar 1 \u2013 31, 2027"
    assert (fr["Content-Language"], en["Content-Language"]) == ("fr", "en")
    assert fr["From"] == "Alpha <no-reply@agence-durand.example>"
    assert fr["To"] == "Claire Dupont <claire@maison.example>"
    assert fr["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe_url(fr) != unsubscribe_url(en)
    assert parts(fr) == [
        "0:multipart/mixed",
        "1:multipart/alternative",
        "2:text/plain",
        "2:multipart/related",
        "3:text/html",
        "3:image/png",
        "3:image/png",
        "1:application/pdf",
    ]
    html = fr.get_body(("html",)).get_content()  # type: ignore[union-attr]
    text = fr.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    for image in (p for p in fr.walk() if p.get_content_type() == "image/png"):
        cid = image["Content-ID"].strip("<>")
        assert f'src="cid:{cid}"' in html
        picture = Image.open(io.BytesIO(image.get_payload(decode=True)))
        assert picture.format == "PNG" and picture.width == 1200
    # The marketing line's figures, in French: 410 interactions, engagement 5,00 %.
    assert "Bonjour Claire Dupont," in text and "Interactions : 410" not in text
    assert "- Interactions: 410 (+925,0\u00a0%)" in text
    assert "5,00\u00a0%" in html and "Spring opening" in html
    assert "Clics sur les liens: n.d." in text  # not available, never 0
    assert unsubscribe_url(fr) in text and unsubscribe_url(fr) in html
    assert "Hello John Smith," in en.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    fr_pdf, en_pdf = pdf_text(fr), pdf_text(en)
    assert "Rapport de Maison" in fr_pdf and "Portée" in fr_pdf and "Spring opening" in fr_pdf
    assert "Maison report" in en_pdf and "Reach" in en_pdf and "Portée" not in en_pdf
    assert "14\u00a0400" in fr_pdf or "14 400" in fr_pdf
    assert "14,400" in en_pdf

    # Sent once: the run's e-mails are in the mail log, sent, one attempt each.
    mails = await rows(runtime, "SELECT status, attempts, template FROM mail_messages")
    assert sorted((m["status"], m["attempts"], m["template"]) for m in mails) == [
        ("sent", 1, "report"),
        ("sent", 1, "report"),
    ]


async def test_preview_shows_the_email_and_who_gets_it_without_sending(
    client: httpx.AsyncClient, runtime: Runtime, scene: Maison, smtp_on: SmtpServer
) -> None:
    await people(client, scene)
    schedule = await create_schedule(
        client, scene.tenant, scene.brand_id, recipients={"client_lines": ["marketing"]}
    )
    before = await count_rows(runtime, "mail_messages")
    preview = await client.get(
        f"/report-schedules/{schedule['id']}/preview",
        params={"locale": "en", **MARCH},
        headers=scene.tenant.headers,
    )
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["subject"] == "Maison report: Mar 1 \u2013 31, 2027"
    assert "Hello John Smith," in body["text"] and "Spring opening" in body["html"]
    kinds = [p["content_type"] for p in body["parts"]]
    assert kinds == ["text/plain", "text/html", "image/png", "image/png", "application/pdf"]
    assert all(p["size"] > 500 for p in body["parts"][2:])
    why = {r["email"]: r["excluded"] for r in body["recipients"]}
    assert why == {
        "claire@maison.example": None,
        "john@maison.example": None,
        "nope@maison.example": "lacks the reports:receive permission on this brand",
    }
    assert await count_rows(runtime, "mail_messages") == before
    assert await count_rows(runtime, "report_runs") == 0


async def test_bad_schedules_are_refused_naming_the_field(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    brand = await create_brand(client, tenant_a, "maison")
    url = f"/brands/{brand}/report-schedules"

    async def refused(status: int, words: str, **body: Any) -> dict[str, Any]:
        response = await client.post(
            url, json={"name": "R", "rule": "FREQ=WEEKLY", **body}, headers=tenant_a.headers
        )
        assert_problem(response, status, words)
        found: dict[str, Any] = response.json()
        return found

    never = await refused(422, "never fires", rule="FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30")
    assert never["errors"][0]["field"] == "rule"
    await refused(422, "never fires", rule="FREQ=DAILY;UNTIL=20200101T000000Z")
    await refused(422, "at most daily", rule="FREQ=MINUTELY")
    bad = await refused(422, "cannot be expanded", rule="FREQ=WEEKLY;BYDAY=XX")
    assert bad["errors"][0]["field"] == "rule"
    await refused(422, "", period="last_year")
    await refused(422, "", recipients={"addresses": [{"email": "not an address"}]})
    twice = {"addresses": [{"email": "a@b.example"}, {"email": "A@b.example"}]}
    named = await refused(422, "cannot receive", recipients=twice)
    assert named["errors"][0]["field"] == "recipients.addresses.1.email"
    ghost = {"members": [{"member_id": "01900000-0000-7000-8000-000000000001"}]}
    assert (await refused(422, "cannot receive", recipients=ghost))["errors"][0]["field"] == (
        "recipients.members.0.member_id"
    )
    assert await client.get(url, headers=tenant_a.headers) and (
        (await client.get(url, headers=tenant_a.headers)).json()["items"] == []
    )
    schedule = await create_schedule(client, tenant_a, brand)
    patch = await client.patch(
        f"/report-schedules/{schedule['id']}", json={"name": "x"}, headers=tenant_a.headers
    )
    assert_problem(patch, 428)
    etag = await client.get(f"/report-schedules/{schedule['id']}", headers=tenant_a.headers)
    never_again = await client.patch(
        f"/report-schedules/{schedule['id']}",
        json={"rule": "FREQ=MONTHLY;BYMONTHDAY=31;BYMONTH=4"},
        headers={**tenant_a.headers, "If-Match": etag.headers["etag"]},
    )
    assert_problem(never_again, 422, "never fires")


async def test_an_address_confirms_then_unsubscribes_in_one_click(
    client: httpx.AsyncClient,
    runtime: Runtime,
    scene: Maison,
    smtp_on: SmtpServer,
    worker: None,
) -> None:
    t = scene.tenant
    schedule = await create_schedule(
        client,
        t,
        scene.brand_id,
        recipients={"addresses": [{"email": "Board@Maison.example", "locale": "en"}]},
    )
    [address] = schedule["recipients"]["addresses"]
    assert (address["email"], address["confirmed"]) == ("board@maison.example", False)
    [invite] = [r.message for r in smtp_on.handler.to("board@maison.example")]
    assert invite["Subject"] == "Alpha would like to send you the Maison reports"
    link = next(w for w in invite.get_content().split() if "/report-mail/confirm/" in w)
    path = urlsplit(link).path
    # Opening the link changes nothing (mail scanners open links); the button does.
    page = await client.get(path)
    assert page.status_code == 200 and "Confirm" in page.text
    run = await send_now(client, t, schedule["id"], **MARCH)
    assert (await settled_run(client, t, run["id"]))["status"] == "canceled"
    assert (await client.post(path)).status_code == 200
    again = await client.get(f"/report-schedules/{schedule['id']}", headers=t.headers)
    assert again.json()["recipients"]["addresses"][0]["confirmed"] is True
    assert_problem(await client.post(path[:-3] + "abc"), 404, "not valid")

    run = await send_now(client, t, schedule["id"], **MARCH)
    assert (await settled_run(client, t, run["id"]))["status"] == "sent"
    [report] = [
        r.message
        for r in smtp_on.handler.to("board@maison.example")
        if r.message["Subject"].startswith("Maison report")
    ]
    one_click = urlsplit(unsubscribe_url(report)).path
    assert (await client.get(one_click)).status_code == 200  # a page, nothing changes
    preview = await client.get(f"/report-schedules/{schedule['id']}/preview", headers=t.headers)
    assert preview.json()["recipients"][0]["excluded"] is None
    # RFC 8058: the mail program POSTs List-Unsubscribe=One-Click to the header's URL.
    clicked = await client.post(
        one_click,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert clicked.status_code == 200, clicked.text
    assert (await client.post(one_click)).status_code == 200  # twice: the same
    preview = await client.get(f"/report-schedules/{schedule['id']}/preview", headers=t.headers)
    assert preview.json()["recipients"][0]["excluded"] == "unsubscribed"
    run = await send_now(client, t, schedule["id"], **MARCH)
    done = await settled_run(client, t, run["id"])
    assert done["status"] == "canceled" and "nobody receives it" in done["note"]
    assert (
        len(
            [
                r
                for r in smtp_on.handler.to("board@maison.example")
                if r.message["Subject"].startswith("Maison report")
            ]
        )
        == 1
    )


async def test_a_schedule_sends_each_period_once_whatever_the_ticks(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Tenant,
    smtp_on: SmtpServer,
    worker: None,
) -> None:
    brand = await create_brand(client, tenant_a, "quiet")
    await add_client_member(client, tenant_a, brand, "m@quiet.example", RECEIVE, invite=False)
    schedule = await create_schedule(
        client,
        tenant_a,
        brand,
        rule="FREQ=DAILY;BYHOUR=7;BYMINUTE=0",
        period="last_week",
        data_delay_hours=0,
        recipients={"client_lines": ["marketing"]},
    )
    for _ in range(3):  # fired three times this week: the same period, one run
        await make_due(runtime, schedule["id"], timedelta(seconds=1))
        await asyncio.gather(tick(runtime), tick(runtime))
    runs = (
        await client.get(f"/report-schedules/{schedule['id']}/runs", headers=tenant_a.headers)
    ).json()["items"]
    assert len(runs) == 1 and runs[0]["trigger"] == "schedule"
    done = await settled_run(client, tenant_a, runs[0]["id"], ticks=True, runtime=runtime)
    assert done["status"] == "sent"
    assert len(smtp_on.handler.to("m@quiet.example")) == 1
    after = await client.get(f"/report-schedules/{schedule['id']}", headers=tenant_a.headers)
    assert after.json()["next_run_at"] > runs[0]["created_at"]


async def test_a_period_still_being_collected_waits(
    client: httpx.AsyncClient,
    runtime: Runtime,
    scene: Maison,
    smtp_on: SmtpServer,
    worker: None,
) -> None:
    """Account pulls due before the period's end have not run: the run waits for them."""
    await people(client, scene)
    schedule = await create_schedule(
        client,
        scene.tenant,
        scene.brand_id,
        rule="FREQ=DAILY",
        period="last_week",
        data_delay_hours=0,
        recipients={"client_lines": ["marketing"]},
    )
    await execute(runtime, "UPDATE metric_channels SET next_pull_at = now() - interval '10 days'")
    await make_due(runtime, schedule["id"], timedelta(seconds=1))
    await tick(runtime)
    for _ in range(50):
        [run] = await rows(runtime, "SELECT id, status, note, not_before FROM report_runs")
        if run["note"]:
            break
        await asyncio.sleep(0.1)
    assert run["status"] == "pending" and "still being collected (2 pulls due)" in run["note"]
    assert smtp_on.handler.to("claire@maison.example", timeout=0.3) == []
    # The pulls are taken: the next look sends it.
    await execute(runtime, "UPDATE metric_channels SET next_pull_at = now() + interval '1 day'")
    await execute(runtime, "UPDATE report_runs SET not_before = now()")
    done = await settled_run(client, scene.tenant, str(run["id"]), ticks=True, runtime=runtime)
    assert done["status"] == "sent"
    assert len(smtp_on.handler.to("claire@maison.example")) == 1


async def subscribe(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await client.post(
        "/webhooks",
        json={
            "url": "https://hooks.example.com/reports",
            "event_types": ["report.sent", "report.failed"],
        },
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text


async def events(runtime: Runtime) -> list[dict[str, Any]]:
    found = await rows(runtime, "SELECT type, body FROM webhook_events ORDER BY created_at")
    return [{"type": e["type"], **json.loads(e["body"])["data"]} for e in found]


async def until_settled_mail(runtime: Runtime) -> None:
    for _ in range(100):
        found = await rows(runtime, "SELECT status FROM mail_messages")
        if all(m["status"] in ("sent", "failed") for m in found):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(found)


async def test_a_server_refusing_then_recovering_and_a_refused_address(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Tenant,
    smtp_on: SmtpServer,
    worker: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """451 then accepted: sent on the retry. 550 for a recipient: that delivery fails at
    once, never retried, and the run says report.failed naming who did not get it."""
    monkeypatch.setattr(
        runtime.settings, "mail", smtp_settings(smtp_on, retry_delays_seconds=[0.2, 0.2])
    )
    await subscribe(client, tenant_a)
    brand = await create_brand(client, tenant_a, "refus")
    schedule = await create_schedule(
        client,
        tenant_a,
        brand,
        recipients={
            "addresses": [{"email": "later@client.example"}, {"email": "ghost@refused.example"}]
        },
    )
    await execute(runtime, "UPDATE report_schedule_addresses SET confirmed_at = now()")
    await until_settled_mail(runtime)  # the confirmation links went first
    smtp_on.handler.answers.append("451 4.3.0 Try again later")
    run = await send_now(client, tenant_a, schedule["id"])
    done = await settled_run(client, tenant_a, run["id"], ticks=True, runtime=runtime)
    outcomes = {d["email"]: (d["status"], d["detail"]) for d in done["deliveries"]}
    assert outcomes["later@client.example"] == ("sent", None)
    assert outcomes["ghost@refused.example"][0] == "failed"
    assert "No such user here" in outcomes["ghost@refused.example"][1]
    assert done["status"] == "failed"
    reports = [
        r
        for r in smtp_on.handler.to("later@client.example")
        if r.message["Subject"].startswith("Rapport")
    ]
    assert len(reports) == 1  # the 451 left nothing behind; the retry went through
    mails = await rows(
        runtime, "SELECT recipient, attempts FROM mail_messages WHERE template = 'report'"
    )
    assert {m["recipient"]: m["attempts"] for m in mails} == {
        "later@client.example": 2,
        "ghost@refused.example": 1,
    }
    [event] = await events(runtime)
    assert event["type"] == "report.failed" and event["run_id"] == run["id"]
    assert {d["email"]: d["status"] for d in event["deliveries"]} == {
        "later@client.example": "sent",
        "ghost@refused.example": "failed",
    }


@pytest.mark.slow  # a Dramatiq worker, started twice
async def test_report_sent_event_and_a_brand_archived_meanwhile(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Tenant,
    smtp_on: SmtpServer,
) -> None:
    await subscribe(client, tenant_a)
    brand = await create_brand(client, tenant_a, "ferme")
    await add_client_member(client, tenant_a, brand, "m@ferme.example", RECEIVE, invite=False)
    schedule = await create_schedule(
        client, tenant_a, brand, recipients={"client_lines": ["marketing"]}
    )
    with report_worker(runtime):
        first = await send_now(client, tenant_a, schedule["id"])
        assert (await settled_run(client, tenant_a, first["id"]))["status"] == "sent"
    [sent] = await events(runtime)
    assert sent["type"] == "report.sent" and sent["deliveries"][0]["status"] == "sent"
    # Queued while no worker runs; the brand is archived before one picks it up.
    second = await send_now(client, tenant_a, schedule["id"])
    current = await client.get(f"/brands/{brand}", headers=tenant_a.headers)
    archived = await client.patch(
        f"/brands/{brand}",
        json={"archived": True},
        headers={**tenant_a.headers, "If-Match": current.headers["etag"]},
    )
    assert archived.status_code == 200, archived.text
    with report_worker(runtime):
        done = await settled_run(client, tenant_a, second["id"])
    assert done["status"] == "canceled" and "archived" in done["note"]
    assert done["deliveries"] == []
    assert len(smtp_on.handler.to("m@ferme.example")) == 1
    assert [e["type"] for e in await events(runtime)] == ["report.sent", "report.failed"]
    refused = await client.post(
        f"/report-schedules/{schedule['id']}/send", json={}, headers=tenant_a.headers
    )
    assert_problem(refused, 409, "archived")


async def test_the_agency_brands_its_reports(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant, smtp_on: SmtpServer
) -> None:
    current = await client.get("/agency/report-branding", headers=tenant_a.headers)
    assert current.status_code == 200, current.text
    assert current.json()["sender"] == "Alpha <no-reply@agence-durand.example>"
    elsewhere = await client.patch(
        "/agency/report-branding",
        json={"sender_address": "reports@elsewhere.example"},
        headers={**tenant_a.headers, "If-Match": current.headers["etag"]},
    )
    assert_problem(elsewhere, 422, "domain")
    changed = await client.patch(
        "/agency/report-branding",
        json={
            "sender_name": "Agence Durand",
            "sender_address": "rapports@agence-durand.example",
            "reply_to": "cm@agence-durand.example",
            "subjects": {"fr": "{agency} \u2013 {brand} \u2013 {period} {brand.__class__}"},
            "footers": {"fr": "Agence Durand, 12 rue des Lilas, Lyon"},
            "accent_color": "#aa3366",
        },
        headers={**tenant_a.headers, "If-Match": current.headers["etag"]},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["sender"] == "Agence Durand <rapports@agence-durand.example>"
    brand = await create_brand(client, tenant_a, "marque")
    schedule = await create_schedule(client, tenant_a, brand)
    preview = (
        await client.get(
            f"/report-schedules/{schedule['id']}/preview",
            params={"period_start": "2027-03-01", "period_end": "2027-03-07"},
            headers=tenant_a.headers,
        )
    ).json()
    assert preview["sender"] == "Agence Durand <rapports@agence-durand.example>"
    assert preview["reply_to"] == "cm@agence-durand.example"
    # Only the three names are replaced: a template is text, never code.
    assert preview["subject"] == "Alpha \u2013 Marque \u2013 1\u20137 mars 2027 {brand.__class__}"
    assert "Agence Durand, 12 rue des Lilas" in preview["html"] and "#AA3366" in preview["html"]
    stale = await client.patch(
        "/agency/report-branding",
        json={"accent_color": "#000000"},
        headers={**tenant_a.headers, "If-Match": current.headers["etag"]},
    )
    assert_problem(stale, 412)


async def test_the_agency_logo_heads_the_email_and_the_pdf(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    url = "/agency/report-branding/logo"
    etag = (await client.get("/agency/report-branding", headers=tenant_a.headers)).headers["etag"]
    headers = {**tenant_a.headers, "If-Match": etag, "Content-Type": "image/jpeg"}
    put = await client.put(url, content=picture("JPEG", (1800, 600)), headers=headers)
    assert put.status_code == 200, put.text
    assert put.json()["has_logo"] is True
    brand = await create_brand(client, tenant_a, "logo")
    schedule = await create_schedule(client, tenant_a, brand)
    preview = (
        await client.get(f"/report-schedules/{schedule['id']}/preview", headers=tenant_a.headers)
    ).json()
    logo = [p for p in preview["parts"] if p["content_id"] == "<logo@report>"]
    assert len(logo) == 1 and logo[0]["content_type"] == "image/png"
    assert 'src="cid:logo@report"' in preview["html"]

    now = {**tenant_a.headers, "If-Match": put.headers["etag"]}
    text = await client.put(url, content=b"not an image at all", headers=now)
    assert_problem(text, 415, "PNG or JPEG")
    broken = await client.put(url, content=picture("PNG")[:60], headers=now)
    assert_problem(broken, 400, "does not decode")
    huge = await client.put(url, content=b"\x89PNG" + b"0" * 600_000, headers=now)
    assert_problem(huge, 413, "512 KiB")
    assert_problem(await client.put(url, content=picture("PNG"), headers=tenant_a.headers), 428)
    removed = await client.delete(url, headers=now)
    assert removed.status_code == 200 and removed.json()["has_logo"] is False
