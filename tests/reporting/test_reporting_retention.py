"""Raw snapshots past retention go a month at a time; the rollups, and so the reports, stay."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import text

from agency.config import ReportingSettings
from agency.kernel.db import utcnow
from agency.kernel.runtime import Runtime
from agency.reporting.tasks import retain, retention_cutoff
from tests.conftest import Tenant
from tests.helpers import create_brand, insert_channel
from tests.support.metrics import followed_channel, post_answer, published_post
from tests.support.reporting import PARIS, snapshots, utc

PARTITIONS = text(
    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
    "WHERE i.inhparent = 'public.metric_snapshots'::regclass"
)


async def partitions(runtime: Runtime) -> set[str]:
    async with runtime.session() as session:
        return {str(name) for name in (await session.execute(PARTITIONS)).scalars()}


async def run_retention(runtime: Runtime) -> list[str]:
    async with runtime.session() as session:
        dropped = await retain(session, runtime, utcnow())
        await session.commit()
        return dropped


async def test_old_raw_months_go_and_reports_stay(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
) -> None:
    agency = tenant_a.agency_id
    brand = await create_brand(client, tenant_a, "archive")
    channel = await insert_channel(runtime, agency, brand, "instagram")
    await followed_channel(runtime, agency, brand, channel, "instagram")
    post = await published_post(
        runtime, agency, brand, channel, "instagram", utc(2024, 1, 10, 8), PARIS, "Old"
    )
    figures = dict(impressions=900, reach=700, reactions=40, comments=4, shares=2, saves=1)
    assert await post_answer(runtime, agency, post, utc(2024, 1, 11, 8), **figures) == "ok"
    assert "metric_snapshots_2024_01" in await partitions(runtime)
    january = {"start": "2024-01-01", "end": "2024-01-31"}
    url = f"/brands/{brand}/report"
    before = (await client.get(url, params=january, headers=tenant_a.headers)).json()
    assert before["current"]["interactions"] == 47

    dropped = await run_retention(runtime)
    assert "metric_snapshots_2024_01" in dropped
    cutoff = retention_cutoff(utcnow(), runtime.settings.reporting.raw_retention_months)
    left = await partitions(runtime)
    assert all(name[17:].replace("_", "-") + "-01" >= cutoff.isoformat() for name in left)
    ahead = (utcnow().date().replace(day=1) + timedelta(days=95)).strftime("%Y_%m")
    assert f"metric_snapshots_{ahead}" in left  # the months ahead are made too
    assert await snapshots(runtime, post) == []
    after = (await client.get(url, params=january, headers=tenant_a.headers)).json()
    assert after["current"] == before["current"] and after["networks"] == before["networks"]

    assert await run_retention(runtime) == []  # nothing more to drop
    assert await partitions(runtime) == left


async def test_the_months_pulls_still_write_to_cannot_be_dropped(runtime: Runtime) -> None:
    async with runtime.session() as session:
        with pytest.raises(Exception, match="kept at least two months"):
            await session.execute(
                text("SELECT metric_snapshot_drop_before(:cutoff)"),
                {"cutoff": utcnow().date() - timedelta(days=31)},
            )


def test_the_cutoff_is_whole_months_back() -> None:
    assert retention_cutoff(utc(2027, 3, 31, 23), 13).isoformat() == "2026-02-01"
    assert retention_cutoff(utc(2027, 1, 1), 2).isoformat() == "2026-11-01"


def test_a_retention_of_one_month_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least 2"):
        ReportingSettings(raw_retention_months=1)
    assert ReportingSettings(raw_retention_months=0).raw_retention_months == 0
