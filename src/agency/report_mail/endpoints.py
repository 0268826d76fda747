"""Report schedules and their log (staff), the agency's report branding, and the two pages
the links of report e-mails open (public: the signed link is the credential)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import date
from html import escape
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from agency.access.permissions import Permission
from agency.kernel.deps import (
    AppRuntime,
    DbSession,
    IdempotencyGuard,
    IfMatch,
    Paging,
    provide_runtime_service,
    provide_service,
)
from agency.kernel.http import etag
from agency.kernel.runtime import Runtime
from agency.kernel.schemas import Locale
from agency.kernel.tenancy import Subject
from agency.report_mail import public
from agency.report_mail.branding import LOGO_TYPES, BrandingService
from agency.report_mail.content import edition
from agency.report_mail.links import CONFIRM, UNSUBSCRIBE
from agency.report_mail.schemas import (
    AddressOut,
    BrandingOut,
    BrandingUpdate,
    PreviewOut,
    ResendConfirmation,
    RunOut,
    RunPage,
    ScheduleCreate,
    ScheduleOut,
    SchedulePage,
    ScheduleUpdate,
    SendNow,
)
from agency.report_mail.service import ScheduleService, address_out
from agency.reporting.endpoints import End, Line, Start
from agency.reporting.service import ReportService

READ = {"permission": Permission.REPORTS_READ}
MANAGE = {"permission": Permission.REPORTS_MANAGE, "problems": [422]}
HTML = "text/html"


def provide_branding(session: AsyncSession, subject: Subject, runtime: Runtime) -> BrandingService:
    return BrandingService(session, subject, runtime.settings)


class BrandReportScheduleController(Controller):
    path = "/brands/{brand_id:uuid}/report-schedules"
    tags = ["Report e-mails"]
    dependencies = {"schedules": provide_runtime_service(ScheduleService)}

    @post(opt=MANAGE, summary="Send the brand's report by e-mail on a schedule")
    async def create_report_schedule(
        self,
        brand_id: FromPath[uuid.UUID],
        data: JSONBody[ScheduleCreate],
        schedules: NamedDependency[ScheduleService],
        idempotency: IdempotencyGuard,
    ) -> Response[ScheduleOut]:
        """The rule fires in the brand's time zone; each firing sends the period it names
        (last week, last month, month to date) once. A rule that never fires is a 422.
        Plain addresses are mailed a link to confirm before they receive anything."""
        schedule = await schedules.create(brand_id, data)
        out = ScheduleOut.of(schedule, await schedules.addresses_out(schedule))
        return Response(out, status_code=201, headers={"ETag": etag(schedule.version)})

    @get(opt=READ, summary="A brand's report schedules")
    async def list_report_schedules(
        self,
        brand_id: FromPath[uuid.UUID],
        schedules: NamedDependency[ScheduleService],
        page: Paging,
    ) -> SchedulePage:
        rows, cursor = await schedules.of_brand(brand_id, page)
        return SchedulePage(items=await schedules.many_out(rows), next_cursor=cursor)


class ReportScheduleController(Controller):
    path = "/report-schedules/{report_schedule_id:uuid}"
    tags = ["Report e-mails"]
    dependencies = {"schedules": provide_runtime_service(ScheduleService)}

    # The addresses' subscription states are rows of their own.
    @get(opt={**READ, "partial_etag": True}, summary="A report schedule")
    async def get_report_schedule(
        self,
        report_schedule_id: FromPath[uuid.UUID],
        schedules: NamedDependency[ScheduleService],
    ) -> Response[ScheduleOut]:
        schedule = await schedules.get(report_schedule_id)
        out = ScheduleOut.of(schedule, await schedules.addresses_out(schedule))
        return Response(out, headers={"ETag": etag(schedule.version)})

    @patch(opt=MANAGE, summary="Change a report schedule (only the fields sent)")
    async def update_report_schedule(
        self,
        report_schedule_id: FromPath[uuid.UUID],
        data: JSONBody[ScheduleUpdate],
        schedules: NamedDependency[ScheduleService],
        if_match: IfMatch,
    ) -> Response[ScheduleOut]:
        schedule = await schedules.update(report_schedule_id, data, if_match)
        out = ScheduleOut.of(schedule, await schedules.addresses_out(schedule))
        return Response(out, headers={"ETag": etag(schedule.version)})

    @delete(opt=MANAGE, summary="Stop and delete a report schedule (its sent runs stay)")
    async def delete_report_schedule(
        self,
        report_schedule_id: FromPath[uuid.UUID],
        schedules: NamedDependency[ScheduleService],
    ) -> None:
        await schedules.delete(report_schedule_id)

    @get(
        "/preview",
        opt={**READ, "problems": [422]},
        summary="The e-mail as a recipient would get it, without sending it",
    )
    async def preview_report_schedule(
        self,
        report_schedule_id: FromPath[uuid.UUID],
        schedules: NamedDependency[ScheduleService],
        locale: Annotated[
            Locale, QueryParameter(description="The recipient's language.")
        ] = Locale.FR,
        period_start: Annotated[
            date | None,
            QueryParameter(description="First local day (default: today's period)."),
        ] = None,
        period_end: Annotated[date | None, QueryParameter(description="Last local day.")] = None,
    ) -> PreviewOut:
        """Subject, sender, HTML and text bodies, the parts (charts inline, the PDF), and
        everyone the schedule names with why some would not receive it."""
        return await schedules.preview(report_schedule_id, locale.value, period_start, period_end)

    @post(
        "/send",
        opt=MANAGE,
        status_code=202,
        summary="Send the report now, outside the schedule's rhythm",
    )
    async def send_report_now(
        self,
        report_schedule_id: FromPath[uuid.UUID],
        data: JSONBody[SendNow],
        schedules: NamedDependency[ScheduleService],
        idempotency: IdempotencyGuard,
    ) -> RunOut:
        """A run for the period the schedule covers today (or the one given), rendered and
        sent by a worker; follow it at ``/report-runs/{id}``."""
        return RunOut.of(await schedules.send_now(report_schedule_id, data))

    @post(
        "/addresses/confirmation",
        opt=MANAGE,
        status_code=202,
        summary="Mail an address of the schedule its confirmation link again",
    )
    async def resend_report_address_confirmation(
        self,
        report_schedule_id: FromPath[uuid.UUID],
        data: JSONBody[ResendConfirmation],
        schedules: NamedDependency[ScheduleService],
    ) -> AddressOut:
        """409 when the address is already confirmed."""
        return address_out(await schedules.resend_confirmation(report_schedule_id, data.email))

    @get("/runs", opt=READ, summary="The schedule's runs, newest first")
    async def list_report_runs(
        self,
        report_schedule_id: FromPath[uuid.UUID],
        schedules: NamedDependency[ScheduleService],
        page: Paging,
    ) -> RunPage:
        rows, cursor = await schedules.list_runs(report_schedule_id, page)
        return RunPage(items=[RunOut.of(r) for r in rows], next_cursor=cursor)


class ReportRunController(Controller):
    path = "/report-runs"
    tags = ["Report e-mails"]
    dependencies = {"schedules": provide_runtime_service(ScheduleService)}

    @get("/{report_run_id:uuid}", opt=READ, summary="A run and its delivery to each recipient")
    async def get_report_run(
        self,
        report_run_id: FromPath[uuid.UUID],
        schedules: NamedDependency[ScheduleService],
    ) -> RunOut:
        run, deliveries = await schedules.get_run(report_run_id)
        return RunOut.of(run, list(deliveries))


@dataclass
class LogoOperation(Operation):
    """The logo route reads its body itself: the image's bytes."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            content={
                mime: OpenAPIMediaType(
                    schema=Schema(type=OpenAPIType.STRING, content_media_type=mime)
                )
                for mime in sorted(LOGO_TYPES)
            },
            required=True,
        )


class ReportBrandingController(Controller):
    path = "/agency/report-branding"
    tags = ["Report e-mails"]
    dependencies = {"branding": provide_runtime_service(provide_branding)}

    @get(opt={"permission": Permission.AGENCY_READ}, summary="How the agency's reports look")
    async def get_report_branding(
        self, branding: NamedDependency[BrandingService]
    ) -> Response[BrandingOut]:
        row, sender = await branding.get()
        return Response(BrandingOut.of(row, sender), headers={"ETag": etag(row.version)})

    @patch(
        opt={"permission": Permission.AGENCY_MANAGE, "problems": [422]},
        summary="Change the sender, subject lines, footer and colour of the agency's reports",
    )
    async def update_report_branding(
        self,
        data: JSONBody[BrandingUpdate],
        branding: NamedDependency[BrandingService],
        if_match: IfMatch,
    ) -> Response[BrandingOut]:
        """``sender_address`` must be on a domain this server sends for (422 otherwise)."""
        row, sender = await branding.update(data, if_match)
        return Response(BrandingOut.of(row, sender), headers={"ETag": etag(row.version)})

    @put(
        "/logo",
        opt={"permission": Permission.AGENCY_MANAGE, "problems": [400, 413, 415]},
        summary="Put the agency's logo on its reports (PNG or JPEG, up to 512 KiB)",
        operation_class=LogoOperation,
    )
    async def put_report_logo(
        self,
        request: Request[Any, Any, Any],
        branding: NamedDependency[BrandingService],
        if_match: IfMatch,
    ) -> Response[BrandingOut]:
        """The image's own bytes as the body. It is kept as a PNG of at most 600 x 200
        pixels, shown at the top of the e-mail and of the PDF."""
        data = await request.body()
        row, sender = await branding.set_logo(data, if_match)
        return Response(BrandingOut.of(row, sender), headers={"ETag": etag(row.version)})

    @delete(
        "/logo",
        opt={"permission": Permission.AGENCY_MANAGE},
        status_code=200,
        summary="Take the logo off the agency's reports",
    )
    async def delete_report_logo(
        self, branding: NamedDependency[BrandingService], if_match: IfMatch
    ) -> Response[BrandingOut]:
        row, sender = await branding.remove_logo(if_match)
        return Response(BrandingOut.of(row, sender), headers={"ETag": etag(row.version)})


PUBLIC = {"public": True}
TOKEN_DOC = "The link's signed token."


def _page(title: str, message: str, button: str | None = None) -> Response[str]:
    form = (
        f'<form method="post"><button type="submit">{escape(button)}</button></form>'
        if button
        else ""
    )
    body = (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title></head>"
        '<body style="font-family:Helvetica,Arial,sans-serif;max-width:36em;margin:3em auto;">'
        f"<h1>{escape(title)}</h1><p>{escape(message)}</p>{form}</body></html>"
    )
    # No referrer: the page's address is the credential.
    return Response(
        body,
        media_type=HTML,
        headers={"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"},
    )


@get(
    "/report-mail/unsubscribe/{token:str}",
    opt=PUBLIC,
    media_type=HTML,
    tags=["Report e-mails"],
    summary="The page an unsubscribe link opens (it changes nothing)",
)
async def unsubscribe_page(
    token: FromPath[str], db_session: DbSession, runtime: AppRuntime
) -> Response[str]:
    found = await public.open_link(db_session, runtime, token, UNSUBSCRIBE)
    if found.done:
        return _page("Unsubscribed / Désabonné", f"{found.email} receives nothing more.")
    return _page(
        "Unsubscribe / Se désabonner",
        f'Stop sending "{found.schedule}" to {found.email}?',
        "Unsubscribe / Se désabonner",
    )


@post(
    "/report-mail/unsubscribe/{token:str}",
    opt=PUBLIC,
    media_type=HTML,
    status_code=200,
    tags=["Report e-mails"],
    summary="Unsubscribe (RFC 8058 one-click: mail programs POST here)",
)
async def unsubscribe_now(
    token: FromPath[str], db_session: DbSession, runtime: AppRuntime
) -> Response[str]:
    """Honoured at once: this schedule is never sent to the address again, and what is
    queued for it is withdrawn. The body (``List-Unsubscribe=One-Click``) is not needed."""
    found = await public.unsubscribe(db_session, runtime, token)
    return _page("Unsubscribed / Désabonné", f"{found.email} receives nothing more.")


@get(
    "/report-mail/confirm/{token:str}",
    opt=PUBLIC,
    media_type=HTML,
    tags=["Report e-mails"],
    summary="The page a confirmation link opens (it changes nothing)",
)
async def confirm_page(
    token: FromPath[str], db_session: DbSession, runtime: AppRuntime
) -> Response[str]:
    found = await public.open_link(db_session, runtime, token, CONFIRM)
    if found.done:
        return _page("Confirmed / Confirmé", f'{found.email} receives "{found.schedule}".')
    return _page(
        "Receive the reports / Recevoir les rapports",
        f'Send "{found.schedule}" to {found.email}?',
        "Confirm / Confirmer",
    )


@post(
    "/report-mail/confirm/{token:str}",
    opt=PUBLIC,
    media_type=HTML,
    status_code=200,
    tags=["Report e-mails"],
    summary="Confirm an address: it receives the schedule's reports from now on",
)
async def confirm_now(
    token: FromPath[str], db_session: DbSession, runtime: AppRuntime
) -> Response[str]:
    found = await public.confirm(db_session, runtime, token)
    return _page("Confirmed / Confirmé", f'{found.email} receives "{found.schedule}".')


class BrandReportPdfController(Controller):
    path = "/brands/{brand_id:uuid}"
    tags = ["Reports"]
    dependencies = {
        "reports": provide_service(ReportService),
        "branding": provide_runtime_service(provide_branding),
    }

    @get(
        "/report.pdf",
        opt={"permission": Permission.REPORTS_READ, "problems": [422]},
        media_type="application/pdf",
        summary="A brand's report as PDF, with its charts, in the agency's colours",
    )
    async def get_brand_report_pdf(
        self,
        brand_id: FromPath[uuid.UUID],
        reports: NamedDependency[ReportService],
        branding: NamedDependency[BrandingService],
        start: Start = None,
        end: End = None,
        line: Line = None,
    ) -> Response[bytes]:
        """The document the report e-mails attach: the line's headline figures, the charts,
        every figure with the previous period, per network, the best posts and the gaps, in
        the brand's language, with the agency's logo and accent colour. A figure that is not
        available reads "not available", never 0."""
        start, end = await reports.period_asked(brand_id, start, end)
        report = await reports.brand_report(brand_id, start, end, line)
        look = await branding.look()
        locale = Locale(report.locale).value
        document = await asyncio.to_thread(edition, report, locale, look, "")
        return Response(
            document.pdf.data,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{document.pdf.filename}"'},
        )


ROUTES: list[Any] = [
    BrandReportPdfController,
    BrandReportScheduleController,
    ReportScheduleController,
    ReportRunController,
    ReportBrandingController,
    unsubscribe_page,
    unsubscribe_now,
    confirm_page,
    confirm_now,
]
