"""What each reporting line reads: the client's results and costs (ROI), press coverage
(ROA), reputation alerts, the one-page summary with its RONI argument; saved reports; the
agency's consolidation. Imports are all rows or none, with each bad row named.
"""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from pypdf import PdfReader

from agency.kernel.db import utcnow
from agency.kernel.runtime import Runtime
from tests.conftest import Tenant
from tests.helpers import (
    add_client_member,
    assert_problem,
    bearer,
    client_session,
    create_brand,
    insert_channel,
    invite_and_join,
    post_json,
)
from tests.support.images import picture
from tests.support.metrics import account_answer, followed_channel, post_answer, published_post
from tests.support.reporting import MARCH, PARIS, Maison, report, utc
from tests.support.reporting import maison as maison

__all__ = ["maison"]  # the fixture, shared with tests/reporting/test_reporting.py


async def test_marketing_reads_results_costs_and_roi(
    client: httpx.AsyncClient, runtime: Runtime, maison: Maison
) -> None:
    tenant, brand = maison.tenant, maison.brand_id
    rows = [
        {
            "campaign": "spring",
            "day": "2027-03-03",
            "visits": 800,
            "leads": 40,
            "sales": 8,
            "revenue": "2400.00",
        },
        {
            "campaign": "spring",
            "day": "2027-03-04",
            "visits": 200,
            "leads": 10,
            "sales": 2,
            "revenue": 600,
        },
    ]
    done = await post_json(client, tenant, f"/brands/{brand}/campaign-results", {"rows": rows})
    assert (done["rows"], done["accepted"]) == (2, 2)
    # A spreadsheet in a French locale: ";" between fields, "," as the decimal mark.
    csv = "campaign;day;visits;leads;sales;revenue;currency\nsummer;2027-03-20;500;5;1;149,90;EUR\n"
    done = await post_json(client, tenant, f"/brands/{brand}/campaign-results", {"csv": csv})
    assert done["accepted"] == 1
    for cost in (
        {"day": "2027-03-01", "kind": "production", "amount": "1500.00", "campaign": "spring"},
        {"day": "2027-03-02", "kind": "paid", "amount": 500, "campaign": "spring"},
        {"day": "2027-03-10", "kind": "production", "amount": "1000"},
        {"day": "2027-02-10", "kind": "paid", "amount": "9999"},  # February: not March's
    ):
        await post_json(client, tenant, f"/brands/{brand}/costs", cost)
    # A post whose link carried a UTM campaign, with link clicks.
    utm_post = await published_post(
        runtime,
        maison.agency_id,
        brand,
        maison.ig,
        "instagram",
        utc(2027, 3, 20, 9),
        PARIS,
        "Summer teaser",
        campaign="summer",
        utm={"campaign": "summer-27", "source": "instagram"},
    )
    await post_answer(
        runtime,
        maison.agency_id,
        utm_post,
        utc(2027, 3, 21, 9),
        reach=100,
        reactions=5,
        link_clicks=12,
    )

    marketing = (await report(client, maison))["lines"]["marketing"]
    assert (marketing["visits"], marketing["leads"], marketing["sales"]) == (1500, 55, 11)
    assert marketing["conversion_rate"] == pytest.approx(55 / 1500)
    money = marketing["money"]
    assert money["currency"] == "EUR"
    assert money["revenue"] == pytest.approx(3149.90)
    assert (money["cost"], money["production_cost"], money["paid_cost"]) == (3000, 2500, 500)
    assert money["roi"] == pytest.approx((3149.90 - 3000) / 3000)
    assert marketing["cost_per_lead"] == pytest.approx(3000 / 55)
    assert marketing["link_clicks"] == 12
    campaigns = {c["campaign"]: c for c in marketing["campaigns"]}
    spring = campaigns["spring"]
    assert (spring["posts"], spring["visits"], spring["revenue"], spring["cost"]) == (
        1,
        1000,
        3000,
        2000,
    )
    assert spring["roi"] == pytest.approx(0.5)
    assert campaigns["summer"]["cost"] is None and campaigns["summer"]["roi"] is None
    assert marketing["utm_campaigns"] == [
        {"utm_campaign": "summer-27", "posts": 1, "link_clicks": 12}
    ]

    # Entering a cost in another currency: totals are no longer one currency, so no ROI.
    await post_json(
        client,
        tenant,
        f"/brands/{brand}/costs",
        {"day": "2027-03-11", "kind": "paid", "amount": "10", "currency": "USD"},
    )
    money = (await report(client, maison))["lines"]["marketing"]["money"]
    assert money["currency"] is None and money["roi"] is None and money["revenue"] is None


async def test_an_import_with_a_bad_row_imports_nothing(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    brand = await create_brand(client, tenant_a, "maison")
    url = f"/brands/{brand}/campaign-results"
    csv = (
        "campaign,day,visits,leads,revenue\n"
        "spring,2027-03-01,10,1,10.00\n"
        "spring,2027-02-30,10,1,10.00\n"  # no such day
        "spring,2027-03-02,-4,1,10.00\n"  # negative
        "spring,2027-03-03,10,1,10.001\n"  # three decimals
        ",2027-03-04,10,1,1\n"  # no campaign
        "spring,2027-03-01,5,0,0\n"  # the first row's campaign and day again
    )
    refused = await client.post(url, json={"csv": csv}, headers=tenant_a.headers)
    body = assert_problem(refused, 422, "No result was imported")
    fields = [e["field"] for e in body["errors"]]
    assert [f.split(":")[0] for f in fields] == ["row 3", "row 4", "row 5", "row 6", "row 7"]
    assert "row 5: revenue" in fields and "row 7: day" in fields
    listed = await client.get(url, headers=tenant_a.headers)
    assert listed.json()["items"] == []

    dry = await client.post(
        url,
        json={"csv": csv.split("\n")[0] + "\nspring,2027-03-01,1,1,1\n", "dry_run": True},
        headers=tenant_a.headers,
    )
    assert dry.status_code == 200 and dry.json() == {
        "rows": 1,
        "accepted": 0,
        "dry_run": True,
        "problems": [],
    }
    assert (await client.get(url, headers=tenant_a.headers)).json()["items"] == []

    both = await client.post(
        url, json={"csv": "campaign,day\nx,2027-01-01\n", "rows": []}, headers=tenant_a.headers
    )
    assert_problem(both, 422, "one of the two")
    header = await client.post(
        url, json={"csv": "campagne,jour\nx,2027-01-01\n"}, headers=tenant_a.headers
    )
    assert_problem(header, 422, "unknown column")
    unknown_field = await client.post(
        url,
        json={"rows": [{"campaign": "x", "day": "2027-01-01", "clicks": 3}]},
        headers=tenant_a.headers,
    )
    assert_problem(unknown_field, 422, "clicks")
    cost = await client.post(
        f"/brands/{brand}/costs",
        json={"day": "2027-03-01", "kind": "paid", "amount": "-3"},
        headers=tenant_a.headers,
    )
    assert_problem(cost, 422, "amount")
    other_kind = await client.post(
        f"/brands/{brand}/costs",
        json={"day": "2027-03-01", "kind": "bribe", "amount": "3"},
        headers=tenant_a.headers,
    )
    assert_problem(other_kind, 422, "kind")


async def test_press_relations_read_coverage_and_roa(
    client: httpx.AsyncClient, maison: Maison
) -> None:
    tenant, brand = maison.tenant, maison.brand_id
    await post_json(
        client,
        tenant,
        f"/brands/{brand}/press-coverage",
        {
            "outlet": "Le Monde",
            "published_on": "2027-03-12",
            "tone": "positive",
            "url": "https://www.lemonde.fr/article",
            "audience": 20000,
            "title": "La maison s'agrandit",
        },
    )
    csv = (
        "outlet;published_on;tone;kind;audience;title\n"
        "Blog Déco;2027-03-14;negative;influencer;5000;Déçue\n"
        "Ouest-France;2027-03-15;neutral;press;;Brève\n"
    )
    done = await post_json(client, tenant, f"/brands/{brand}/press-coverage/import", {"csv": csv})
    assert done["accepted"] == 2
    await post_json(
        client,
        tenant,
        f"/brands/{brand}/costs",
        {"day": "2027-03-01", "kind": "production", "amount": "500"},
    )

    lines = (await report(client, maison))["lines"]
    press = lines["press_relations"]
    assert (press["coverage_count"], press["influencer_mentions"]) == (2, 1)
    assert press["coverage_audience"] == 25000  # the entry without audience adds nothing
    assert press["coverage_tone"] == {"positive": 1, "neutral": 1, "negative": 1}
    assert press["content_views"] == 12000
    assert press["earned_attention"] == 5000 + 25000
    assert press["roa"] == pytest.approx(30000 / 500)
    assert [c["outlet"] for c in press["coverage"]] == ["Le Monde", "Blog Déco", "Ouest-France"]
    communication = lines["communication"]
    assert (
        communication["comment_tone"] is None
        and "not available" in communication["comment_tone_note"]
    )
    kinds = [(a["kind"], a["day"]) for a in communication["reputation_alerts"]]
    assert ("negative_coverage", "2027-03-14") in kinds
    assert ("audience_loss", "2027-03-31") in kinds  # X lost 100 followers
    assert ("gap", "2027-03-20") in kinds
    management = lines["management"]
    assert (management["posts"], management["interactions"], management["coverage_count"]) == (
        3,
        410,
        2,
    )
    assert management["reputation_alerts"] == len(communication["reputation_alerts"])
    assert management["roni"] is None

    bad = await client.post(
        f"/brands/{brand}/press-coverage/import",
        json={"rows": [{"outlet": "A", "published_on": "2027-03-01", "tone": "meh"}]},
        headers=tenant.headers,
    )
    assert_problem(bad, 422, "tone")
    bad_csv = await client.post(
        f"/brands/{brand}/press-coverage/import",
        json={"csv": "outlet,published_on,tone\nA,2027-03-01,meh\nB,2027-03-02,positive\n"},
        headers=tenant.headers,
    )
    assert_problem(bad_csv, 422, "row 2: tone")
    listed = await client.get(f"/brands/{brand}/press-coverage", headers=tenant.headers)
    assert len(listed.json()["items"]) == 3


async def test_a_crisis_is_a_reputation_alert(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    brand = await create_brand(client, tenant_a, "maison")
    started = await client.post(
        f"/brands/{brand}/crisis", json={"reason": "Bad buzz on X"}, headers=tenant_a.headers
    )
    assert started.status_code in (200, 201), started.text
    today = utcnow().astimezone(ZoneInfo(PARIS)).date()
    found = await client.get(
        f"/brands/{brand}/report",
        params={"start": (today - timedelta(days=6)).isoformat(), "end": today.isoformat()},
        headers=tenant_a.headers,
    )
    alerts = found.json()["lines"]["communication"]["reputation_alerts"]
    assert [(a["kind"], a["day"]) for a in alerts] == [("crisis", today.isoformat())]
    assert "Bad buzz on X" in alerts[0]["detail"]


async def test_a_saved_report_keeps_its_figures_and_carries_the_commentary(
    client: httpx.AsyncClient, runtime: Runtime, maison: Maison
) -> None:
    tenant, brand = maison.tenant, maison.brand_id
    body = {
        **MARCH,
        "worked": "The spring opening",
        "corrections": "Post on X on Thursdays",
        "roni": "Without the account, the competitor answers our customers.",
        "shared": False,
    }
    saved = await post_json(client, tenant, f"/brands/{brand}/saved-reports", body)
    assert saved["report"]["current"]["interactions"] == 410
    assert saved["line"] == "marketing" and saved["version"] == 1
    # New figures arrive: the live report moves, the saved one does not.
    await post_answer(
        runtime,
        maison.agency_id,
        maison.p2,
        utc(2027, 3, 13, 8),
        impressions=4000,
        reach=3000,
        reactions=140,
        comments=5,
        shares=3,
        saves=2,
    )
    live = await report(client, maison)
    assert live["current"]["interactions"] == 510
    assert live["lines"]["management"]["roni"] == body["roni"]
    again = await client.get(f"/saved-reports/{saved['id']}", headers=tenant.headers)
    assert again.json()["report"]["current"]["interactions"] == 410
    assert again.json()["report"] == saved["report"]

    stale = await client.patch(
        f"/saved-reports/{saved['id']}",
        json={"shared": True},
        headers={**tenant.headers, "If-Match": '"7"'},
    )
    assert_problem(stale, 412)
    figures = await client.patch(
        f"/saved-reports/{saved['id']}",
        json={"report": {}},
        headers={**tenant.headers, "If-Match": again.headers["etag"]},
    )
    assert_problem(figures, 422, "report")
    shared = await client.patch(
        f"/saved-reports/{saved['id']}",
        json={"shared": True, "worked": "The spring opening, again"},
        headers={**tenant.headers, "If-Match": again.headers["etag"]},
    )
    assert shared.status_code == 200, shared.text
    assert shared.json()["worked"] == "The spring opening, again" and shared.json()["version"] == 2
    private = await post_json(
        client,
        tenant,
        f"/brands/{brand}/saved-reports",
        {"start": "2027-02-01", "end": "2027-02-28"},
    )

    reader = await add_client_member(
        client,
        tenant,
        brand,
        "dg@maison.example",
        permissions=["reports:read"],
        reporting_line="management",
    )
    headers = bearer(await client_session(runtime, tenant.agency_id, reader["user_id"]))
    listed = await client.get(f"/brands/{brand}/saved-reports", headers=headers)
    assert [r["id"] for r in listed.json()["items"]] == [saved["id"]]
    assert (await client.get(f"/saved-reports/{saved['id']}", headers=headers)).status_code == 200
    assert_problem(await client.get(f"/saved-reports/{private['id']}", headers=headers), 404)
    assert_problem(
        await client.patch(
            f"/saved-reports/{saved['id']}",
            json={"shared": False},
            headers={**headers, "If-Match": '"2"'},
        ),
        403,
    )
    everything = await client.get(f"/brands/{brand}/saved-reports", headers=tenant.headers)
    assert len(everything.json()["items"]) == 2


async def test_the_agency_consolidation_adds_up_every_brand(
    client: httpx.AsyncClient, runtime: Runtime, maison: Maison
) -> None:
    tenant = maison.tenant
    other = await create_brand(client, tenant, "voisin")
    channel = await insert_channel(runtime, tenant.agency_id, other, "facebook")
    await followed_channel(runtime, tenant.agency_id, other, channel, "facebook")
    post = await published_post(
        runtime, tenant.agency_id, other, channel, "facebook", utc(2027, 3, 8, 10), PARIS
    )
    await post_answer(
        runtime,
        tenant.agency_id,
        post,
        utc(2027, 3, 9, 10),
        reach=1000,
        impressions=1500,
        reactions=30,
        comments=5,
        shares=5,
        link_clicks=40,
    )
    await account_answer(
        runtime, tenant.agency_id, channel, utc(2027, 3, 9, 6), PARIS, followers=800
    )

    found = await client.get("/reports", params=MARCH, headers=tenant.headers)
    assert found.status_code == 200, found.text
    body = found.json()
    brands = {b["brand_name"]: b for b in body["brands"]}
    assert brands["Maison"]["current"]["interactions"] == 410
    assert brands["Voisin"]["current"]["interactions"] == 40
    assert body["current"]["posts"] == 4
    assert body["current"]["interactions"] == 450
    assert body["current"]["reach"] == 6000
    assert body["current"]["engagement_rate_reach"] == pytest.approx(290 / 6000)
    assert body["current"]["link_clicks"] == 40
    assert body["current"]["audience_growth"] == 400  # Voisin's first count has no change
    assert body["previous"]["interactions"] == 40
    assert body["change"]["interactions"] == pytest.approx((450 - 40) / 40)

    reader = await add_client_member(
        client, tenant, maison.brand_id, "cm@maison.example", permissions=["reports:read"]
    )
    headers = bearer(await client_session(runtime, tenant.agency_id, reader["user_id"]))
    assert_problem(await client.get("/reports", params=MARCH, headers=headers), 403)
    assert_problem(
        await client.get(
            "/reports", params={"start": "2027-03-02", "end": "2027-03-01"}, headers=tenant.headers
        ),
        422,
    )


async def test_who_may_enter_what(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
) -> None:
    brand = await create_brand(client, tenant_a, "maison")
    cost = {"day": "2027-03-01", "kind": "paid", "amount": "10"}
    analyst = await invite_and_join(client, tenant_a, "analyst@alpha.example", "analyst")
    refused = await client.post(
        f"/brands/{brand}/costs", json=cost, headers=bearer(analyst["token"])
    )
    assert_problem(refused, 403, "reports:write")
    readable = await client.get(f"/brands/{brand}/costs", headers=bearer(analyst["token"]))
    assert readable.status_code == 200
    cm = await invite_and_join(client, tenant_a, "cm@alpha.example", "community_manager")
    entered = await client.post(f"/brands/{brand}/costs", json=cost, headers=bearer(cm["token"]))
    assert entered.status_code == 201, entered.text
    gone = await client.delete(f"/costs/{entered.json()['id']}", headers=bearer(cm["token"]))
    assert gone.status_code == 204
    assert_problem(
        await client.delete(f"/costs/{entered.json()['id']}", headers=tenant_a.headers), 404
    )
    client_member = await add_client_member(
        client, tenant_a, brand, "m@client.example", permissions=["reports:read"]
    )
    headers = bearer(await client_session(runtime, tenant_a.agency_id, client_member["user_id"]))
    assert_problem(await client.post(f"/brands/{brand}/costs", json=cost, headers=headers), 403)
    assert (await client.get(f"/brands/{brand}/costs", headers=headers)).status_code == 200
    assert uuid.UUID(entered.json()["id"])


async def test_the_csv_export_has_every_figure_in_the_brands_language(
    client: httpx.AsyncClient, runtime: Runtime, maison: Maison, tenant_a: Tenant
) -> None:
    url = f"/brands/{maison.brand_id}/report.csv"
    found = await client.get(url, params=MARCH, headers=tenant_a.headers)
    assert found.status_code == 200, found.text
    assert found.headers["content-type"].startswith("text/csv")
    assert 'filename="report-2027-03-01-2027-03-31.csv"' in found.headers["content-disposition"]
    rows = [line.split(";") for line in found.text.splitlines()]
    assert rows[0] == [
        "rubrique",
        "périmètre",
        "indicateur",
        "période",
        "période précédente",
        "évolution",
    ]
    by_key = {(r[0], r[1], r[2]): r[3:] for r in rows[1:]}
    assert by_key[("total", "Maison", "interactions")] == ["410", "40", "9,25"]
    assert by_key[("total", "Maison", "taux d'engagement (portée)")] == ["0,05", "0,04", "0,25"]
    assert by_key[("total", "Maison", "clics sur les liens")] == ["", "", ""]  # n/a, not 0
    assert by_key[("réseaux", "x", "portée")] == ["", "", ""]
    assert by_key[("réseaux", "instagram", "engagement rate")] == ["0,05"]
    best = [r for r in rows if r[0] == "meilleures publications" and r[2] == "interactions"]
    assert [r[3] for r in best] == ["200", "160", "50"]
    assert by_key[("direction générale", "Maison", "publications")] == ["3"]

    english = await create_brand(client, tenant_a, "lune", locale="en")
    found = await client.get(
        f"/brands/{english}/report.csv", params=MARCH, headers=tenant_a.headers
    )
    assert found.text.splitlines()[0] == "section,scope,figure,period,previous period,change"
    assert "total,Lune,posts,0,0," in found.text
    assert_problem(
        await client.get(
            url, params={"start": "2027-03-02", "end": "2027-03-01"}, headers=tenant_a.headers
        ),
        422,
    )


async def test_the_pdf_export_has_the_figures_charts_and_the_agency_colours(
    client: httpx.AsyncClient,
    runtime: Runtime,
    maison: Maison,
    tenant_a: Tenant,
    tenant_b: Tenant,
) -> None:
    url = f"/brands/{maison.brand_id}/report.pdf"
    found = await client.get(url, params=MARCH, headers=tenant_a.headers)
    assert found.status_code == 200, found.text
    assert found.headers["content-type"] == "application/pdf"
    assert 'filename="rapport-2027-03-01-2027-03-31.pdf"' in found.headers["content-disposition"]
    reader = PdfReader(io.BytesIO(found.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Maison" in text and "mars 2027" in text
    assert "410" in text and "9,25" not in text.replace(" ", "")  # the change reads as a %
    assert "n.d." in text  # link clicks are not available here: never 0
    charts = sum(len(page.images) for page in reader.pages)
    assert charts >= 2, charts

    # With the agency's logo, the document carries one more image.
    etag = (await client.get("/agency/report-branding", headers=tenant_a.headers)).headers["etag"]
    logo = {**tenant_a.headers, "If-Match": etag, "Content-Type": "image/jpeg"}
    put = await client.put(
        "/agency/report-branding/logo", content=picture("JPEG", (1800, 600)), headers=logo
    )
    assert put.status_code == 200, put.text
    branded = await client.get(url, params=MARCH, headers=tenant_a.headers)
    branded_pages = PdfReader(io.BytesIO(branded.content)).pages
    assert sum(len(page.images) for page in branded_pages) == charts + 1

    # A client member of the brand who may read reports reads it; others may not.
    reader_member = await add_client_member(
        client, tenant_a, maison.brand_id, "lecteur@client.example", permissions=["reports:read"]
    )
    headers = bearer(await client_session(runtime, tenant_a.agency_id, reader_member["user_id"]))
    assert (await client.get(url, params=MARCH, headers=headers)).status_code == 200
    approver = await add_client_member(
        client, tenant_a, maison.brand_id, "valideur@client.example", permissions=["approve"]
    )
    headers = bearer(await client_session(runtime, tenant_a.agency_id, approver["user_id"]))
    assert_problem(await client.get(url, params=MARCH, headers=headers), 403)
    assert_problem(await client.get(url, params=MARCH, headers=tenant_b.headers), 404)
    reversed_ = {"start": "2027-03-31", "end": "2027-03-01"}
    assert_problem(await client.get(url, params=reversed_, headers=tenant_a.headers), 422)
