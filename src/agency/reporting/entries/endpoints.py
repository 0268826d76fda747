"""The entries reports read beyond the networks, and saved reports, over HTTP."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from agency.access.permissions import Permission
from agency.brand.schemas import ReportingLine
from agency.kernel.deps import IdempotencyGuard, IfMatch, Paging, provide_service
from agency.kernel.http import etag
from agency.kernel.schemas import Output
from agency.reporting.entries.service import EntryService, SavedReportService
from agency.reporting.models import Cost, PressCoverage, SavedReport
from agency.reporting.schemas import (
    BrandReport,
    CampaignResultOut,
    CampaignResultsImport,
    CostIn,
    CostKind,
    CostOut,
    CoverageImport,
    CoverageIn,
    CoverageKind,
    CoverageOut,
    ImportReport,
    SavedReportIn,
    SavedReportOut,
    SavedReportPage,
    SavedReportSummary,
    SavedReportUpdate,
)
from agency.reporting.service import ReportService

READ = {"permission": Permission.REPORTS_READ}
WRITE = {"permission": Permission.REPORTS_WRITE}
EARLIEST, LATEST = date(1, 1, 1), date(9999, 12, 31)

Since = Annotated[
    date | None, QueryParameter(description="From this day (included); default: the first.")
]
Until = Annotated[
    date | None, QueryParameter(description="To this day (included); default: the last.")
]


class CampaignResultList(Output):
    items: list[CampaignResultOut]


class CostList(Output):
    items: list[CostOut]


class CoverageList(Output):
    items: list[CoverageOut]


def _cost(cost: Cost) -> CostOut:
    return CostOut(
        id=cost.id,
        brand_id=cost.brand_id,
        day=cost.day,
        kind=CostKind(cost.kind),
        amount=float(cost.amount),
        currency=cost.currency,
        campaign=cost.campaign,
        note=cost.note,
    )


def _coverage(entry: PressCoverage) -> CoverageOut:
    return CoverageOut(
        id=entry.id,
        kind=CoverageKind(entry.kind),
        outlet=entry.outlet,
        published_on=entry.published_on,
        url=entry.url,
        title=entry.title,
        audience=entry.audience,
        tone=entry.tone,
        note=entry.note,
    )


def _summary(saved: SavedReport) -> SavedReportSummary:
    return SavedReportSummary(
        id=saved.id,
        brand_id=saved.brand_id,
        start=saved.period_start,
        end=saved.period_end,
        line=ReportingLine(saved.line),
        shared=saved.shared,
        created_at=saved.created_at,
        version=saved.version,
        etag=etag(saved.version),
    )


def _saved(saved: SavedReport) -> Response[SavedReportOut]:
    out = SavedReportOut(
        **{name: getattr(_summary(saved), name) for name in SavedReportSummary.__struct_fields__},
        worked=saved.worked,
        corrections=saved.corrections,
        roni=saved.roni,
        report=_decode_report(saved.figures),
    )
    return Response(out, headers={"ETag": etag(saved.version)})


def _decode_report(figures: dict[str, Any]) -> BrandReport:
    return msgspec.convert(figures, BrandReport)


class BrandEntryController(Controller):
    path = "/brands/{brand_id:uuid}"
    tags = ["Reports"]
    dependencies = {"entries": provide_service(EntryService)}

    @post(
        "/campaign-results",
        opt=WRITE,
        summary="Import the client's campaign results (JSON rows or CSV): all rows or none",
        status_code=201,
    )
    async def import_campaign_results(
        self,
        brand_id: FromPath[uuid.UUID],
        data: JSONBody[CampaignResultsImport],
        entries: NamedDependency[EntryService],
        idempotency: IdempotencyGuard,
    ) -> Response[ImportReport]:
        """Visits, leads, sales and revenue per campaign and day, as the client measured
        them. Send ``rows``, or a CSV file's text in ``csv`` (header: campaign, day, visits,
        leads, sales, revenue, currency; ``,`` or ``;`` between fields). Each row is
        checked; one problem and nothing is written (422 naming each row). A row for a
        campaign and day already imported replaces it. ``dry_run``: 200, checked only."""
        report = await entries.import_results(brand_id, data)
        return Response(report, status_code=200 if data.dry_run else 201)

    @get("/campaign-results", opt=READ, summary="The client's campaign results of a period")
    async def list_campaign_results(
        self,
        brand_id: FromPath[uuid.UUID],
        entries: NamedDependency[EntryService],
        start: Since = None,
        end: Until = None,
    ) -> CampaignResultList:
        rows = await entries.list_results(brand_id, start or EARLIEST, end or LATEST)
        return CampaignResultList(
            items=[
                CampaignResultOut(
                    id=r.id,
                    campaign=r.campaign,
                    day=r.day,
                    visits=r.visits,
                    leads=r.leads,
                    sales=r.sales,
                    revenue=None if r.revenue is None else float(r.revenue),
                    currency=r.currency,
                )
                for r in rows
            ]
        )

    @post("/costs", opt=WRITE, summary="Enter a cost (production, paid) for ROI", status_code=201)
    async def add_cost(
        self,
        brand_id: FromPath[uuid.UUID],
        data: JSONBody[CostIn],
        entries: NamedDependency[EntryService],
        idempotency: IdempotencyGuard,
    ) -> CostOut:
        return _cost(await entries.add_cost(brand_id, data))

    @get("/costs", opt=READ, summary="The brand's costs of a period")
    async def list_costs(
        self,
        brand_id: FromPath[uuid.UUID],
        entries: NamedDependency[EntryService],
        start: Since = None,
        end: Until = None,
    ) -> CostList:
        rows = await entries.list_costs(brand_id, start or EARLIEST, end or LATEST)
        return CostList(items=[_cost(c) for c in rows])

    @post(
        "/press-coverage",
        opt=WRITE,
        summary="Enter a press coverage entry or influencer mention",
        status_code=201,
    )
    async def add_press_coverage(
        self,
        brand_id: FromPath[uuid.UUID],
        data: JSONBody[CoverageIn],
        entries: NamedDependency[EntryService],
        idempotency: IdempotencyGuard,
    ) -> CoverageOut:
        """*Retombée presse*: outlet, date, link, audience, tone."""
        return _coverage(await entries.add_coverage(brand_id, data))

    @post(
        "/press-coverage/import",
        opt=WRITE,
        summary="Import press coverage (JSON rows or CSV): all rows or none",
        status_code=201,
    )
    async def import_press_coverage(
        self,
        brand_id: FromPath[uuid.UUID],
        data: JSONBody[CoverageImport],
        entries: NamedDependency[EntryService],
        idempotency: IdempotencyGuard,
    ) -> Response[ImportReport]:
        """``rows``, or a CSV file's text in ``csv`` (header: outlet, published_on, tone,
        kind, url, title, audience, note). One problem and nothing is written (422 naming
        each row). ``dry_run``: 200, checked only."""
        report = await entries.import_coverage(brand_id, data)
        return Response(report, status_code=200 if data.dry_run else 201)

    @get("/press-coverage", opt=READ, summary="The brand's press coverage of a period")
    async def list_press_coverage(
        self,
        brand_id: FromPath[uuid.UUID],
        entries: NamedDependency[EntryService],
        start: Since = None,
        end: Until = None,
    ) -> CoverageList:
        rows = await entries.list_coverage(brand_id, start or EARLIEST, end or LATEST)
        return CoverageList(items=[_coverage(e) for e in rows])


class EntryController(Controller):
    path = "/"
    tags = ["Reports"]
    dependencies = {"entries": provide_service(EntryService)}

    @delete("/costs/{cost_id:uuid}", opt=WRITE, summary="Delete a cost")
    async def delete_cost(
        self, cost_id: FromPath[uuid.UUID], entries: NamedDependency[EntryService]
    ) -> None:
        await entries.delete_cost(cost_id)

    @delete("/press-coverage/{coverage_id:uuid}", opt=WRITE, summary="Delete a coverage entry")
    async def delete_press_coverage(
        self, coverage_id: FromPath[uuid.UUID], entries: NamedDependency[EntryService]
    ) -> None:
        await entries.delete_coverage(coverage_id)


class BrandSavedReportController(Controller):
    path = "/brands/{brand_id:uuid}/saved-reports"
    tags = ["Reports"]
    dependencies = {
        "saved": provide_service(SavedReportService),
        "reports": provide_service(ReportService),
    }

    @post(opt={**WRITE, "problems": [422]}, summary="Save a report with its commentary")
    async def save_report(
        self,
        brand_id: FromPath[uuid.UUID],
        data: JSONBody[SavedReportIn],
        saved: NamedDependency[SavedReportService],
        reports: NamedDependency[ReportService],
        idempotency: IdempotencyGuard,
    ) -> Response[SavedReportOut]:
        """The report of the period read now and kept as it is, with what worked, what
        we correct and the RONI argument; ``shared``: the brand's client members who may
        read reports see it. Its figures never change; the commentary may."""
        report = await reports.brand_report(brand_id, data.start, data.end, data.line)
        kept = await saved.save(brand_id, data, report)
        response = _saved(kept)
        response.status_code = 201
        return response

    @get(opt=READ, summary="A brand's saved reports")
    async def list_saved_reports(
        self,
        brand_id: FromPath[uuid.UUID],
        saved: NamedDependency[SavedReportService],
        page: Paging,
    ) -> SavedReportPage:
        """Newest first. A client member sees those shared with the brand's client members."""
        rows, cursor = await saved.list(brand_id, page)
        return SavedReportPage(items=[_summary(r) for r in rows], next_cursor=cursor)


class SavedReportController(Controller):
    path = "/saved-reports/{saved_report_id:uuid}"
    tags = ["Reports"]
    dependencies = {"saved": provide_service(SavedReportService)}

    @get(opt=READ, summary="A saved report, its figures as they were")
    async def get_saved_report(
        self, saved_report_id: FromPath[uuid.UUID], saved: NamedDependency[SavedReportService]
    ) -> Response[SavedReportOut]:
        return _saved(await saved.get(saved_report_id))

    @patch(opt=WRITE, summary="Change a saved report's commentary or sharing")
    async def update_saved_report(
        self,
        saved_report_id: FromPath[uuid.UUID],
        data: JSONBody[SavedReportUpdate],
        saved: NamedDependency[SavedReportService],
        if_match: IfMatch,
    ) -> Response[SavedReportOut]:
        """Only the commentary (``worked``, ``corrections``, ``roni``) and ``shared``; the
        figures never change. Needs the ETag you read (If-Match)."""
        return _saved(await saved.update(saved_report_id, data, if_match))


ROUTES: list[Any] = [
    BrandEntryController,
    EntryController,
    BrandSavedReportController,
    SavedReportController,
]
