"""A brand's report over HTTP."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from agency.access.permissions import Permission
from agency.brand.schemas import ReportingLine
from agency.kernel.deps import provide_service
from agency.reporting.schemas import BrandReport
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


class BrandReportController(Controller):
    path = "/brands/{brand_id:uuid}/report"
    tags = ["Reports"]
    dependencies = {"reports": provide_service(ReportService)}

    @get(opt=READ, summary="A brand's report for a period, compared with the period before")
    async def get_brand_report(
        self,
        brand_id: FromPath[uuid.UUID],
        reports: NamedDependency[ReportService],
        start: Start = None,
        end: End = None,
        line: Annotated[
            ReportingLine | None,
            QueryParameter(description="The reporting line it speaks to (default: yours)."),
        ] = None,
    ) -> BrandReport:
        """Every network of the brand consolidated, for local days ``start`` to ``end`` of
        the brand's time zone (at most 3 years; neither: the last full month), next to the
        period of the same length just before. Per network and channel, per campaign, best
        and worst posts, publishing regularity, and the days a channel could not be read.
        ``null`` figures are not available (the network does not give them), never zero."""
        if start is None and end is None:
            start, end = await reports.last_full_month(brand_id)
        return await reports.brand_report(brand_id, *both_ends(start, end), line)


ROUTES: list[Any] = [BrandReportController]
