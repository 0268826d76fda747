"""A brand's report over HTTP."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated, Any

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from agency.access.permissions import Permission
from agency.brand.schemas import ReportingLine
from agency.kernel.db import utcnow
from agency.kernel.deps import provide_runtime_service, provide_service
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import Subject
from agency.reporting.cache import report_cache
from agency.reporting.entries.endpoints import ROUTES as ENTRY_ROUTES
from agency.reporting.export import report_csv
from agency.reporting.schemas import AgencyReport, BrandReport
from agency.reporting.service import ReportService, both_ends

# A period checked by the service answers 422 naming what is wrong with it.
READ = {"permission": Permission.REPORTS_READ, "problems": [422]}

Start = Annotated[
    date | None,
    QueryParameter(
        description="First local day of the period (included), e.g. 2027-03-01; "
        "with `end`, or neither (the last full month)."
    ),
]
End = Annotated[
    date | None,
    QueryParameter(description="Last local day of the period (included), e.g. 2027-03-31."),
]
Line = Annotated[
    ReportingLine | None,
    QueryParameter(description="The reporting line it speaks to (default: yours)."),
]


def cached_reports(session: AsyncSession, subject: Subject, runtime: Runtime) -> ReportService:
    """The report service with the process's cache of computed reports."""
    cache = report_cache(runtime.settings.reporting.report_cache_size)
    return ReportService(session, subject, cache)


class BrandReportController(Controller):
    path = "/brands/{brand_id:uuid}"
    tags = ["Reports"]
    dependencies = {"reports": provide_runtime_service(cached_reports)}

    @get(
        "/report",
        opt=READ,
        summary="A brand's report for a period, compared with the period before",
    )
    async def get_brand_report(
        self,
        brand_id: FromPath[uuid.UUID],
        reports: NamedDependency[ReportService],
        start: Start = None,
        end: End = None,
        line: Line = None,
    ) -> BrandReport:
        """Every network of the brand consolidated, for local days ``start`` to ``end`` of
        the brand's time zone (at most 3 years; neither: the last full month), next to the
        period of the same length just before. Per network and channel, per campaign, best
        and worst posts, publishing regularity, and the days a channel could not be read.
        ``null`` figures are not available (the network does not give them), never zero."""
        period = await reports.period_asked(brand_id, start, end)
        return await reports.brand_report(brand_id, *period, line)

    @get(
        "/report.csv",
        opt=READ,
        media_type="text/csv",
        summary="A brand's report as CSV: every figure, in the brand's language",
    )
    async def get_brand_report_csv(
        self,
        brand_id: FromPath[uuid.UUID],
        reports: NamedDependency[ReportService],
        start: Start = None,
        end: End = None,
        line: Line = None,
    ) -> Response[str]:
        """One row per figure (section, scope, figure, current, previous, change); labels,
        decimal mark and separator in the brand's locale (French: ``;`` and ``,``). A
        figure that is not available is an empty cell, never 0."""
        start, end = await reports.period_asked(brand_id, start, end)
        report = await reports.brand_report(brand_id, start, end, line)
        name = f"report-{start.isoformat()}-{end.isoformat()}.csv"
        return Response(
            report_csv(report),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )


@get(
    "/reports",
    opt=READ,
    tags=["Reports"],
    summary="Every brand of the agency consolidated, for a period (agency staff)",
    dependencies={"reports": provide_service(ReportService)},
)
async def get_agency_report(
    reports: NamedDependency[ReportService],
    start: Start = None,
    end: End = None,
) -> AgencyReport:
    """Each brand's figures from its rollups (its own local days), the totals and the
    period before; without a period, the last full month (UTC). Client members: 403."""
    if start is None and end is None:
        today = utcnow().date()
        end = today.replace(day=1) - timedelta(days=1)
        start = end.replace(day=1)
    return await reports.agency_report(*both_ends(start, end))


ROUTES: list[Any] = [BrandReportController, get_agency_report, *ENTRY_ROUTES]
