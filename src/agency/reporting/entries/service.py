"""Entries a reporting line adds: the client's campaign results (imported: all rows or none),
costs, press coverage; and reports saved with their commentary.

An import checks every row first and reports each problem by row; any problem and nothing
is written (422 with the report), a dry run writes nothing either. Money has two decimals
at most and is never negative.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from agency.audit.repository import AuditRepository
from agency.brand.models import Brand
from agency.brand.repository import BrandRepository
from agency.kernel.errors import InvalidInput
from agency.kernel.http import check_if_match
from agency.kernel.pagination import PageRequest
from agency.kernel.tenancy import Subject
from agency.reporting.entries import csvrows
from agency.reporting.entries.csvrows import Problem
from agency.reporting.entries.repository import (
    CampaignResultRepository,
    CostRepository,
    PressCoverageRepository,
    SavedReportRepository,
)
from agency.reporting.models import Cost, PressCoverage, SavedReport
from agency.reporting.schemas import (
    CampaignResultIn,
    CampaignResultsImport,
    CostIn,
    CoverageImport,
    CoverageIn,
    ImportReport,
    ImportRowProblem,
    SavedReportIn,
    SavedReportUpdate,
)

T = TypeVar("T")
MAX_AMOUNT = Decimal("999999999999.99")
LISTED = 5000
RESULT_COLUMNS = ("campaign", "day", "visits", "leads", "sales", "revenue", "currency")
COVERAGE_COLUMNS = (
    "outlet",
    "published_on",
    "tone",
    "kind",
    "url",
    "title",
    "audience",
    "note",
)


def money_problem(value: Decimal | None) -> str | None:
    if value is None:
        return None
    if not value.is_finite() or value < 0 or value > MAX_AMOUNT:
        return "an amount from 0 to 999,999,999,999.99"
    if value != value.quantize(Decimal("0.01")):
        return "two decimals at most"
    return None


class EntryService:
    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.session = session
        self.subject = subject
        self.brands = BrandRepository(session, subject)
        self.results = CampaignResultRepository(session, subject)
        self.costs = CostRepository(session, subject)
        self.coverage = PressCoverageRepository(session, subject)
        self.audit = AuditRepository(session, subject)

    async def brand(self, brand_id: uuid.UUID) -> Brand:
        return await self.brands.get(brand_id)

    # -- the client's campaign results -------------------------------------------------------

    async def import_results(
        self, brand_id: uuid.UUID, data: CampaignResultsImport
    ) -> ImportReport:
        """All rows written, or none (422 with every row's problems)."""
        brand = await self.brand(brand_id)
        rows = self._rows(
            data.rows, data.csv, CampaignResultIn, RESULT_COLUMNS, ("campaign", "day"), ("revenue",)
        )
        problems: list[Problem] = [r for _, r in rows if isinstance(r, Problem)]
        good = [(n, r) for n, r in rows if isinstance(r, CampaignResultIn)]
        seen: dict[tuple[str, date], int] = {}
        for number, row in good:
            wrong = money_problem(row.revenue)
            if wrong:
                problems.append(Problem(number, "revenue", wrong))
            key = (row.campaign, row.day)
            if key in seen:
                problems.append(
                    Problem(number, "day", f"{row.campaign} on {row.day} is also row {seen[key]}")
                )
            seen.setdefault(key, number)
        report = _report(len(rows), problems, data.dry_run)
        if problems or data.dry_run:
            if problems:
                raise _refused("No result was imported", report)
            return report
        await self.results.upsert(
            [
                {"brand_id": brand.id, **msgspec.to_builtins(row, builtin_types=(Decimal, date))}
                for _, row in good
            ]
        )
        self.audit.record("report.results_imported", "brand", brand.id, {"rows": len(good)})
        return ImportReport(rows=len(rows), accepted=len(good), dry_run=False, problems=[])

    async def list_results(self, brand_id: uuid.UUID, start: date, end: date) -> Sequence[Any]:
        await self.brand(brand_id)
        return await self.results.listing(brand_id, start, end, LISTED)

    # -- costs -------------------------------------------------------------------------------

    async def add_cost(self, brand_id: uuid.UUID, data: CostIn) -> Cost:
        brand = await self.brand(brand_id)
        wrong = money_problem(data.amount)
        if wrong:
            raise InvalidInput(
                "The cost cannot be entered as sent.",
                errors=[{"field": "amount", "message": wrong}],
            )
        cost = Cost(
            brand_id=brand.id,
            campaign=data.campaign,
            day=data.day,
            kind=str(data.kind),
            amount=data.amount,
            currency=data.currency,
            note=data.note,
            created_by=self.subject.user_id,
        )
        await self.costs.add(cost)
        self.audit.record("report.cost_added", "cost", cost.id, {"brand_id": str(brand.id)})
        return cost

    async def list_costs(self, brand_id: uuid.UUID, start: date, end: date) -> Sequence[Cost]:
        await self.brand(brand_id)
        return await self.costs.listing(brand_id, start, end, LISTED)

    async def delete_cost(self, cost_id: uuid.UUID) -> None:
        await self.costs.delete(cost_id)
        self.audit.record("report.cost_deleted", "cost", cost_id, {})

    # -- press coverage ----------------------------------------------------------------------

    async def add_coverage(self, brand_id: uuid.UUID, data: CoverageIn) -> PressCoverage:
        brand = await self.brand(brand_id)
        entry = self._coverage(brand, data)
        await self.coverage.add(entry)
        self.audit.record("report.coverage_added", "press_coverage", entry.id, {})
        return entry

    async def import_coverage(self, brand_id: uuid.UUID, data: CoverageImport) -> ImportReport:
        """All entries written, or none (422 with every row's problems)."""
        brand = await self.brand(brand_id)
        rows = self._rows(
            data.rows,
            data.csv,
            CoverageIn,
            COVERAGE_COLUMNS,
            ("outlet", "published_on", "tone"),
            (),
        )
        problems = [r for _, r in rows if isinstance(r, Problem)]
        report = _report(len(rows), problems, data.dry_run)
        if problems:
            raise _refused("No entry was imported", report)
        if data.dry_run:
            return report
        entries = [self._coverage(brand, r) for _, r in rows if isinstance(r, CoverageIn)]
        await self.coverage.add_many(entries)
        self.audit.record("report.coverage_imported", "brand", brand.id, {"rows": len(entries)})
        return ImportReport(rows=len(rows), accepted=len(entries), dry_run=False, problems=[])

    async def list_coverage(
        self, brand_id: uuid.UUID, start: date, end: date
    ) -> Sequence[PressCoverage]:
        await self.brand(brand_id)
        return await self.coverage.of_period(brand_id, start, end, LISTED)

    async def delete_coverage(self, coverage_id: uuid.UUID) -> None:
        await self.coverage.delete(coverage_id)
        self.audit.record("report.coverage_deleted", "press_coverage", coverage_id, {})

    def _coverage(self, brand: Brand, data: CoverageIn) -> PressCoverage:
        return PressCoverage(
            brand_id=brand.id,
            kind=str(data.kind),
            outlet=data.outlet,
            published_on=data.published_on,
            url=data.url,
            title=data.title,
            audience=data.audience,
            tone=str(data.tone),
            note=data.note,
            created_by=self.subject.user_id,
        )

    @staticmethod
    def _rows(
        rows: Sequence[T] | None,
        text: str | None,
        body: type[T],
        columns: Sequence[str],
        required: Sequence[str],
        decimals: Sequence[str],
    ) -> list[tuple[int, T | Problem]]:
        """Each row numbered (JSON rows from 1, CSV rows as a spreadsheet numbers them)."""
        if (rows is None) == (text is None):
            raise InvalidInput(
                "Send the entries as `rows` or as a CSV file's text in `csv`: one of the two.",
                errors=[{"field": "rows", "message": "exactly one of rows and csv"}],
            )
        if rows is not None:
            if not rows:
                raise InvalidInput(
                    "Nothing to import.", errors=[{"field": "rows", "message": "empty"}]
                )
            return list(enumerate(rows, start=1))
        assert text is not None
        return [
            (number, csvrows.convert(number, cells, body, decimals))
            for number, cells in csvrows.read_csv(text, columns, required)
        ]


def _refused(what: str, report: ImportReport) -> InvalidInput:
    """The 422 of an import with problems: each one names its row (JSON rows count from 1,
    CSV rows as a spreadsheet numbers them, the header being row 1)."""
    return InvalidInput(
        f"{what}: {len(report.problems)} problem(s) in {report.rows} row(s); "
        "fix them and send every row again.",
        errors=[
            {"field": f"row {p.row}: {p.field}", "message": p.message} for p in report.problems
        ],
    )


def _report(rows: int, problems: Sequence[Problem], dry_run: bool) -> ImportReport:
    return ImportReport(
        rows=rows,
        accepted=0,
        dry_run=dry_run,
        problems=[
            ImportRowProblem(row=p.row, field=p.field, message=p.message)
            for p in sorted(problems, key=lambda p: p.row)
        ],
    )


class SavedReportService:
    """Reports kept as they were, with the community manager's commentary."""

    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.session = session
        self.subject = subject
        self.repo = SavedReportRepository(session, subject)
        self.audit = AuditRepository(session, subject)

    async def save(self, brand_id: uuid.UUID, data: SavedReportIn, report: Any) -> SavedReport:
        """``report`` is the BrandReport just read for this period: kept exactly."""
        saved = SavedReport(
            brand_id=brand_id,
            period_start=data.start,
            period_end=data.end,
            line=report.line,
            figures=msgspec.to_builtins(report),
            worked=data.worked,
            corrections=data.corrections,
            roni=data.roni,
            shared=data.shared,
            created_by=self.subject.user_id,
        )
        await self.repo.add(saved)
        self.audit.record("report.saved", "saved_report", saved.id, {"brand_id": str(brand_id)})
        return saved

    async def get(self, saved_id: uuid.UUID) -> SavedReport:
        return await self.repo.get(saved_id)

    async def list(
        self, brand_id: uuid.UUID, page: PageRequest
    ) -> tuple[Sequence[SavedReport], str | None]:
        await BrandRepository(self.session, self.subject).get(brand_id)
        return await self.repo.page(page, self.repo.of_brand(brand_id))

    async def update(
        self, saved_id: uuid.UUID, data: SavedReportUpdate, if_match: str | None
    ) -> SavedReport:
        saved = await self.repo.get(saved_id)
        check_if_match(if_match, saved.version)
        changed = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        for name, value in changed.items():
            setattr(saved, name, value)
        await self.repo.flush()
        self.audit.record("report.commented", "saved_report", saved.id, {"fields": sorted(changed)})
        return saved
