"""The reporting scenarios several test modules share: the worked brand "Maison" (Instagram
and X, February and March 2027) and readers of what the collection stored."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import bind_system
from agency.reporting.models import MetricSnapshot
from tests.conftest import Tenant
from tests.helpers import create_brand, insert_channel
from tests.support.metrics import account_answer, followed_channel, post_answer, published_post

PARIS = "Europe/Paris"
MARCH = {"start": "2027-03-01", "end": "2027-03-31"}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


class Maison:
    """The brand of the worked scenario: Instagram and X, February and March 2027."""

    def __init__(self, runtime: Runtime, tenant: Tenant, brand_id: str) -> None:
        self.runtime, self.tenant, self.brand_id = runtime, tenant, brand_id
        self.agency_id = tenant.agency_id

    async def setup(self) -> None:
        runtime, agency, brand = self.runtime, self.agency_id, self.brand_id
        self.ig = await insert_channel(runtime, agency, brand, "instagram")
        self.x = await insert_channel(runtime, agency, brand, "x")
        for channel, network in ((self.ig, "instagram"), (self.x, "x")):
            await followed_channel(runtime, agency, brand, channel, network)

        async def post(channel: str, network: str, at: datetime, title: str, **kw: Any) -> str:
            return await published_post(
                runtime, agency, brand, channel, network, at, PARIS, title, **kw
            )

        # March (Paris time): two Instagram posts and one on X.
        self.p1 = await post(
            self.ig, "instagram", utc(2027, 3, 3, 8), "Spring opening", campaign="spring"
        )
        self.p2 = await post(self.ig, "instagram", utc(2027, 3, 10, 8), "Workshop")
        self.x1 = await post(self.x, "x", utc(2027, 3, 5, 12), "Thread")
        # 23:30 UTC on March 31 is April 1 in Paris: not a March post.
        self.april = await post(self.ig, "instagram", utc(2027, 3, 31, 23, 30), "Late")
        # February: one Instagram post.
        self.feb = await post(self.ig, "instagram", utc(2027, 2, 15, 8), "Winter")

        hour = timedelta(hours=1)
        ig = dict(impressions=1500, reach=1000, reactions=80, comments=10, shares=5, saves=5)
        await post_answer(runtime, agency, self.p1, utc(2027, 3, 3, 8) + hour, **ig)
        ig = dict(impressions=3000, reach=2000, reactions=150, comments=20, shares=10, saves=20)
        await post_answer(runtime, agency, self.p1, utc(2027, 3, 4, 8), **ig)
        ig = dict(impressions=4000, reach=3000, reactions=40, comments=5, shares=3, saves=2)
        await post_answer(runtime, agency, self.p2, utc(2027, 3, 11, 8), **ig)
        x = dict(impressions=5000, reactions=100, comments=20, shares=30, saves=10)
        await post_answer(runtime, agency, self.x1, utc(2027, 3, 6, 12), **x)
        big = dict(impressions=90000, reach=80000, reactions=9000, comments=0, shares=0, saves=0)
        await post_answer(runtime, agency, self.april, utc(2027, 4, 1, 23, 30), **big)
        feb = dict(impressions=1200, reach=1000, reactions=30, comments=10, shares=0, saves=0)
        await post_answer(runtime, agency, self.feb, utc(2027, 2, 16, 8), **feb)

        for channel, day, count in (
            (self.ig, utc(2027, 2, 28, 6), 10_000),
            (self.ig, utc(2027, 3, 15, 6), 10_200),
            (self.ig, utc(2027, 3, 31, 6), 10_500),
            (self.x, utc(2027, 2, 28, 6), 4_000),
            (self.x, utc(2027, 3, 31, 6), 3_900),
        ):
            await account_answer(runtime, agency, channel, day, PARIS, followers=count)
        await account_answer(
            runtime,
            agency,
            self.x,
            utc(2027, 3, 20, 6),
            PARIS,
            gap="The channel needs reconnecting.",
        )


@pytest.fixture
async def maison(client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant) -> Maison:
    brand_id = await create_brand(client, tenant_a, "maison", reporting_line="marketing")
    scenario = Maison(runtime, tenant_a, brand_id)
    await scenario.setup()
    return scenario


async def report(client: httpx.AsyncClient, maison: Maison, **params: str) -> dict[str, Any]:
    response = await client.get(
        f"/brands/{maison.brand_id}/report", params=params or MARCH, headers=maison.tenant.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def snapshots(runtime: Runtime, target_id: str) -> list[MetricSnapshot]:
    async with runtime.session() as session:
        await bind_system(session)
        rows = await session.execute(
            select(MetricSnapshot)
            .where(MetricSnapshot.target_id == uuid.UUID(target_id))
            .order_by(MetricSnapshot.due_at)
        )
        return list(rows.scalars().all())
