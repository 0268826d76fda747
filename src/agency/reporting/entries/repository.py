"""SQL of the entries a reporting line adds, and of saved reports."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Select, func
from sqlalchemy.dialects import postgresql, sqlite

from agency.kernel.repository import TenantRepository
from agency.reporting.models import CampaignResult, Cost, PressCoverage, SavedReport

RESULT_KEY = ["agency_id", "brand_id", "campaign", "day"]
CHUNK = 1000


class CampaignResultRepository(TenantRepository[CampaignResult]):
    model = CampaignResult
    noun = "campaign result"

    async def upsert(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Write these rows; a row of the same brand, campaign and day is replaced."""
        dialect = postgresql if self.session.get_bind().dialect.name == "postgresql" else sqlite
        columns = ("visits", "leads", "sales", "revenue", "currency")
        for start in range(0, len(rows), CHUNK):  # 32,767 parameters at most per statement
            stmt = dialect.insert(CampaignResult).values(
                [
                    {"agency_id": self.subject.agency_id, **row}
                    for row in rows[start : start + CHUNK]
                ]
            )
            await self.session.execute(
                stmt.on_conflict_do_update(
                    index_elements=RESULT_KEY,
                    set_={name: getattr(stmt.excluded, name) for name in columns},
                )
            )

    def of_period(self, brand_id: uuid.UUID, start: date, end: date) -> Select[CampaignResult]:
        return self.select().where(
            CampaignResult.brand_id == brand_id,
            CampaignResult.day >= start,
            CampaignResult.day <= end,
        )

    async def sums(self, brand_id: uuid.UUID, start: date, end: date) -> Sequence[Any]:
        """Per campaign and currency: visits, leads, sales, revenue of the period."""
        stmt = (
            self.of_period(brand_id, start, end)
            .with_only_columns(
                CampaignResult.campaign,
                CampaignResult.currency,
                func.sum(CampaignResult.visits),
                func.sum(CampaignResult.leads),
                func.sum(CampaignResult.sales),
                func.sum(CampaignResult.revenue),
            )
            .group_by(CampaignResult.campaign, CampaignResult.currency)
            .order_by(CampaignResult.campaign)
        )
        return (await self.session.execute(stmt)).all()

    async def listing(
        self, brand_id: uuid.UUID, start: date, end: date, limit: int
    ) -> Sequence[CampaignResult]:
        stmt = (
            self.of_period(brand_id, start, end)
            .order_by(CampaignResult.day, CampaignResult.campaign)
            .limit(limit)
        )
        return (await self.session.execute(stmt)).scalars().all()


class CostRepository(TenantRepository[Cost]):
    model = Cost
    noun = "cost"

    def of_period(self, brand_id: uuid.UUID, start: date, end: date) -> Select[Cost]:
        return self.select().where(Cost.brand_id == brand_id, Cost.day >= start, Cost.day <= end)

    async def sums(self, brand_id: uuid.UUID, start: date, end: date) -> Sequence[Any]:
        """Per campaign (None: the brand's own), kind and currency: the amounts."""
        stmt = (
            self.of_period(brand_id, start, end)
            .with_only_columns(Cost.campaign, Cost.kind, Cost.currency, func.sum(Cost.amount))
            .group_by(Cost.campaign, Cost.kind, Cost.currency)
        )
        return (await self.session.execute(stmt)).all()

    async def listing(
        self, brand_id: uuid.UUID, start: date, end: date, limit: int
    ) -> Sequence[Cost]:
        stmt = self.of_period(brand_id, start, end).order_by(Cost.day, Cost.id).limit(limit)
        return (await self.session.execute(stmt)).scalars().all()


class PressCoverageRepository(TenantRepository[PressCoverage]):
    model = PressCoverage
    noun = "press coverage entry"

    async def of_period(
        self, brand_id: uuid.UUID, start: date, end: date, limit: int = 1000
    ) -> Sequence[PressCoverage]:
        stmt = (
            self.select()
            .where(
                PressCoverage.brand_id == brand_id,
                PressCoverage.published_on >= start,
                PressCoverage.published_on <= end,
            )
            .order_by(PressCoverage.published_on, PressCoverage.id)
            .limit(limit)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def add_many(self, rows: Sequence[PressCoverage]) -> None:
        for row in rows:
            row.agency_id = self.subject.agency_id
        self.session.add_all(rows)
        await self.session.flush()


class SavedReportRepository(TenantRepository[SavedReport]):
    model = SavedReport
    noun = "saved report"

    def select(self) -> Select[SavedReport]:
        stmt = super().select()
        if self.subject.kind == "client":
            # A client member sees the reports shared with the brand's client members only.
            stmt = stmt.where(SavedReport.shared.is_(True))
        return stmt

    def of_brand(self, brand_id: uuid.UUID) -> Select[SavedReport]:
        return self.select().where(SavedReport.brand_id == brand_id)

    async def roni_of(self, brand_id: uuid.UUID, start: date, end: date) -> str | None:
        """The RONI argument of the latest report saved for exactly this period."""
        stmt = (
            self.of_brand(brand_id)
            .with_only_columns(SavedReport.roni)
            .where(SavedReport.period_start == start, SavedReport.period_end == end)
            .order_by(SavedReport.id.desc())
            .limit(1)
        )
        found = await self.session.scalar(stmt)
        return str(found) if found else None
