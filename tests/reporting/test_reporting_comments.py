"""The comments' tone and response times in a brand's report: the worked example of
docs/reporting.md ("Comment tone and response time"), from the inbox's rows."""

from __future__ import annotations

import io
import uuid
from datetime import datetime, timedelta

import httpx
import pytest
from pypdf import PdfReader
from sqlalchemy import update

from agency.inbox.models import InboxChannel, Message, Thread
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import bind_tenant
from agency.reporting.comments import nearest_rank
from tests.conftest import Tenant
from tests.helpers import create_brand, insert_channel
from tests.support.reporting import MARCH, PARIS, utc

# (network, kind, received, answered after (s) or None, deadline after (s) or None)
MARCH_COMMENTS = (
    ("instagram", "praise", utc(2027, 3, 2, 9), 600, 3600),
    ("instagram", "complaint", utc(2027, 3, 3, 9), 3600, 1800),
    ("instagram", "question", utc(2027, 3, 4, 9), 1200, 3600),
    ("instagram", "spam", utc(2027, 3, 4, 10), None, None),
    ("x", "question", utc(2027, 3, 5, 9), None, 3600),
    ("x", "other", utc(2027, 3, 6, 9), 300, None),
    # 23:30 UTC on March 31 is April 1 in Paris: not March's.
    ("x", "complaint", utc(2027, 3, 31, 23, 30), 60, 3600),
)


async def inbox_rows(
    runtime: Runtime, agency_id: uuid.UUID, brand_id: str, channels: dict[str, str]
) -> None:
    async with runtime.session() as session:
        await bind_tenant(session, agency_id)
        threads = {}
        for network, channel_id in channels.items():
            session.add(
                InboxChannel(
                    agency_id=agency_id,
                    id=uuid.UUID(channel_id),
                    brand_id=uuid.UUID(brand_id),
                    network=network,
                )
            )
            thread = Thread(
                agency_id=agency_id,
                brand_id=uuid.UUID(brand_id),
                channel_id=uuid.UUID(channel_id),
                network=network,
                post_id=f"post-{network}",
            )
            session.add(thread)
            threads[network] = thread
        await session.flush()
        for index, (network, kind, received, answered, deadline) in enumerate(MARCH_COMMENTS):
            session.add(
                Message(
                    agency_id=agency_id,
                    brand_id=uuid.UUID(brand_id),
                    channel_id=uuid.UUID(channels[network]),
                    thread_id=threads[network].id,
                    network=network,
                    network_id=f"c{index}",
                    received_at=received,
                    origin="customer",
                    origin_why="test",
                    kind=kind,
                    kind_why="test",
                    status="answered" if answered is not None else "new",
                    response_seconds=answered,
                    answered_at=_after(received, answered),
                    due_at=_after(received, deadline),
                )
            )
        await session.commit()


def _after(moment: datetime, seconds: int | None) -> datetime | None:
    return None if seconds is None else moment + timedelta(seconds=seconds)


async def test_the_worked_example(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
) -> None:
    agency = tenant_a.agency_id
    brand = await create_brand(client, tenant_a, "comments", timezone=PARIS)
    url = f"/brands/{brand}/report"
    channels = {n: await insert_channel(runtime, agency, brand, n) for n in ("instagram", "x")}

    unread = (await client.get(url, params=MARCH, headers=tenant_a.headers)).json()
    communication = unread["lines"]["communication"]
    assert communication["comment_tone"] is None and communication["comment_response"] is None
    assert "not available" in communication["comment_tone_note"]

    await inbox_rows(runtime, agency, brand, channels)
    response = await client.get(url, params=MARCH, headers=tenant_a.headers)
    assert response.status_code == 200, response.text
    communication = response.json()["lines"]["communication"]
    assert communication["comment_tone"] == {"positive": 1, "neutral": 3, "negative": 1}
    assert communication["comment_tone_note"] is None
    assert communication["comment_response"] == {
        "network": None,
        "messages": 5,
        "answered": 4,
        "median_seconds": 900.0,
        "p90_seconds": 3600.0,
        "within_sla": 0.5,
    }
    instagram, x = communication["comment_response_by_network"]
    assert instagram == {
        "network": "instagram",
        "messages": 3,
        "answered": 3,
        "median_seconds": 1200.0,
        "p90_seconds": 3600.0,
        "within_sla": pytest.approx(2 / 3),
    }
    assert x == {
        "network": "x",
        "messages": 2,
        "answered": 1,
        "median_seconds": 300.0,
        "p90_seconds": 300.0,
        "within_sla": 0.0,
    }

    # The inbox re-triages the spam as praise: a kept report shows it at once.
    async with runtime.session() as session:
        await bind_tenant(session, agency)
        await session.execute(update(Message).where(Message.kind == "spam").values(kind="praise"))
        await session.commit()
    again = await client.get(url, params=MARCH, headers=tenant_a.headers)
    assert again.json()["lines"]["communication"]["comment_tone"]["positive"] == 2

    csv = await client.get(f"{url}.csv", params=MARCH, headers=tenant_a.headers)
    assert csv.status_code == 200, csv.text
    rows = csv.text.splitlines()  # the brand's locale: French
    assert "communication;Comments;commentaires : première réponse, médiane (s);900" in rows
    assert "communication;Comments;commentaires négatifs;1" in rows
    assert any(r.startswith("communication : réponse par réseau;x;") for r in rows)


def test_the_90th_percentile_is_the_nearest_rank() -> None:
    assert nearest_rank([300, 600, 1200, 3600], 0.9) == 3600
    assert nearest_rank(list(range(1, 11)), 0.9) == 9
    assert nearest_rank([42], 0.9) == 42


async def test_the_pdf_has_the_comments_section(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
) -> None:
    agency = tenant_a.agency_id
    brand = await create_brand(client, tenant_a, "comments", timezone=PARIS)
    channels = {n: await insert_channel(runtime, agency, brand, n) for n in ("instagram", "x")}
    await inbox_rows(runtime, agency, brand, channels)
    found = await client.get(f"/brands/{brand}/report.pdf", params=MARCH, headers=tenant_a.headers)
    assert found.status_code == 200, found.text
    text = " ".join(
        page.extract_text() for page in PdfReader(io.BytesIO(found.content)).pages
    ).replace("\n", " ")
    assert "Commentaires : temps de première réponse" in text
    assert "1 positifs, 3 neutres, 1 négatifs" in text
    assert "4 / 5" in text and "15 minutes" in text and "50,00" in text  # median, SLA share
