"""Report schedules, managed by agency staff (``reports:manage``; read with ``reports:read``):
their recipients, a preview of the e-mail, "send now", and the log of runs and deliveries."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from agency.audit.repository import AuditRepository
from agency.brand.models import Brand
from agency.brand.repository import BrandRepository
from agency.kernel.db import utcnow
from agency.kernel.errors import Conflict, InvalidInput
from agency.kernel.http import check_if_match
from agency.kernel.jobs import enqueue
from agency.kernel.pagination import PageRequest
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import Subject
from agency.mail.service import queue_mail
from agency.member.repository import MembershipRepository
from agency.report_mail.letters import editions, write_letter
from agency.report_mail.links import ReportLinks
from agency.report_mail.models import (
    ReportDelivery,
    ReportRun,
    ReportSchedule,
    ScheduleAddress,
)
from agency.report_mail.recipients import Recipient, receiving, recipients_of
from agency.report_mail.repository import (
    AddressRepository,
    DeliveryRepository,
    RunRepository,
    ScheduleRepository,
)
from agency.report_mail.schemas import (
    AddressOut,
    AddressRecipient,
    PreviewOut,
    PreviewPart,
    RecipientKind,
    RecipientPreview,
    Recipients,
    ScheduleCreate,
    ScheduleOut,
    ScheduleUpdate,
    SendNow,
)
from agency.report_mail.timing import (
    first_firing_or_refuse,
    local_day,
    period_of,
    rule_of,
)
from agency.reporting.service import check_period
from agency.tenant.repository import AgencyRepository

RENDER_JOB = "report_mail.render"
CONFIRMATION = "report_address_confirmation"


class ScheduleService:
    def __init__(self, session: AsyncSession, subject: Subject, runtime: Runtime) -> None:
        self.session = session
        self.subject = subject
        self.runtime = runtime
        self.repo = ScheduleRepository(session, subject)
        self.addresses = AddressRepository(session, subject)
        self.runs = RunRepository(session, subject)
        self.deliveries = DeliveryRepository(session, subject)
        self.brands = BrandRepository(session, subject)
        self.audit = AuditRepository(session, subject)

    # -- schedules ----------------------------------------------------------------------------

    async def create(self, brand_id: uuid.UUID, data: ScheduleCreate) -> ReportSchedule:
        """A schedule on the brand; its plain addresses are mailed a confirmation link."""
        brand = await self.brands.get(brand_id)
        zone = ZoneInfo(brand.timezone)
        starts_on = data.starts_on or local_day(utcnow(), zone)
        await self._check_members(data.recipients)
        schedule = ReportSchedule(
            brand_id=brand.id,
            name=data.name,
            rule=data.rule.strip(),
            starts_on=starts_on,
            period=data.period.value,
            line=data.line.value if data.line else None,
            client_lines=sorted({x.value for x in data.recipients.client_lines}),
            members=msgspec.to_builtins(data.recipients.members),
            data_delay_hours=data.data_delay_hours,
            enabled=data.enabled,
        )
        schedule.next_run_at = await self._next_run(schedule, zone)
        await self.repo.add(schedule)
        await self._set_addresses(schedule, brand, data.recipients.addresses)
        self.audit.record(
            "report_schedule.created",
            "report_schedule",
            schedule.id,
            {"brand_id": str(brand.id), "rule": schedule.rule, "period": schedule.period},
        )
        return schedule

    async def of_brand(
        self, brand_id: uuid.UUID, page: PageRequest
    ) -> tuple[Sequence[ReportSchedule], str | None]:
        await self.brands.get(brand_id)
        return await self.repo.page(page, self.repo.of_brand(brand_id))

    async def get(self, schedule_id: uuid.UUID) -> ReportSchedule:
        return await self.repo.get(schedule_id)

    async def update(
        self, schedule_id: uuid.UUID, data: ScheduleUpdate, if_match: str | None
    ) -> ReportSchedule:
        schedule = await self.repo.get(schedule_id)
        check_if_match(if_match, schedule.version)
        brand = await self.brands.get(schedule.brand_id)
        changes: dict[str, Any] = {}
        for name in ("name", "rule", "starts_on", "period", "line", "data_delay_hours", "enabled"):
            value = getattr(data, name)
            if value is msgspec.UNSET:
                continue
            value = msgspec.to_builtins(value) if name != "starts_on" else value
            if name == "rule":
                value = value.strip()
            if getattr(schedule, name) != value:
                changes[name] = msgspec.to_builtins(value)
                setattr(schedule, name, value)
        if not isinstance(data.recipients, msgspec.UnsetType):
            await self._check_members(data.recipients)
            lines = sorted({x.value for x in data.recipients.client_lines})
            members = msgspec.to_builtins(data.recipients.members)
            if (lines, members) != (schedule.client_lines, schedule.members):
                schedule.client_lines, schedule.members = lines, members
                changes["recipients"] = {"client_lines": lines, "members": members}
            added = await self._set_addresses(schedule, brand, data.recipients.addresses)
            if added:
                changes["addresses_added"] = added
        if {"rule", "starts_on", "enabled"} & changes.keys():
            schedule.next_run_at = await self._next_run(schedule, ZoneInfo(brand.timezone))
        if changes:
            await self.repo.flush()
            self.audit.record("report_schedule.updated", "report_schedule", schedule.id, changes)
        return schedule

    async def delete(self, schedule_id: uuid.UUID) -> None:
        """Runs already sent stay in the log (their schedule id becomes null)."""
        await self.repo.delete(schedule_id)
        self.audit.record("report_schedule.deleted", "report_schedule", schedule_id)

    async def addresses_out(self, schedule: ReportSchedule) -> list[AddressOut]:
        return [address_out(a) for a in await self.addresses.of_schedule(schedule.id)]

    async def many_out(self, schedules: Sequence[ReportSchedule]) -> list[ScheduleOut]:
        rows = await self.addresses.of_schedules([s.id for s in schedules])
        by_schedule: dict[uuid.UUID, list[AddressOut]] = {}
        for row in rows:
            by_schedule.setdefault(row.schedule_id, []).append(address_out(row))
        return [ScheduleOut.of(s, by_schedule.get(s.id, [])) for s in schedules]

    async def _next_run(self, schedule: ReportSchedule, zone: ZoneInfo) -> Any:
        # Expanding a rule that never matches walks the calendar to year 9999 (about a
        # second): off the event loop.
        def expand() -> Any:
            rule = rule_of(schedule.rule, schedule.starts_on, zone)
            return first_firing_or_refuse(rule, utcnow(), zone)

        found = await asyncio.to_thread(expand)
        return found if schedule.enabled else None

    async def _check_members(self, recipients: Recipients) -> None:
        staff = MembershipRepository(self.session, self.subject)
        errors = []
        for i, entry in enumerate(recipients.members):
            if await staff.find(entry.member_id) is None:
                errors.append(
                    {
                        "field": f"recipients.members.{i}.member_id",
                        "message": f"no member {entry.member_id} in this agency",
                    }
                )
        seen: set[str] = set()
        for i, address in enumerate(recipients.addresses):
            email = _clean(address.email)
            if email in seen:
                errors.append(
                    {"field": f"recipients.addresses.{i}.email", "message": "named twice"}
                )
            seen.add(email)
        if errors:
            raise InvalidInput("Some recipients cannot receive this report.", errors)

    async def _set_addresses(
        self, schedule: ReportSchedule, brand: Brand, wanted: Sequence[AddressRecipient]
    ) -> list[str]:
        """Keep the addresses still named (confirmed ones stay confirmed), drop the others,
        add the new ones and mail each a confirmation link. Returns the added ones."""
        current = {a.email: a for a in await self.addresses.of_schedule(schedule.id)}
        keep = {_clean(a.email): a for a in wanted}
        for email, row in current.items():
            if email not in keep:
                await self.addresses.remove(row)
        added: list[str] = []
        for email, entry in keep.items():
            kept = current.get(email)
            if kept is not None:
                kept.name, kept.locale = entry.name, entry.locale.value
                continue
            row = ScheduleAddress(
                schedule_id=schedule.id,
                brand_id=brand.id,
                email=email,
                name=entry.name,
                locale=entry.locale.value,
                confirmation_sent_at=utcnow(),
            )
            await self.addresses.add(row, conflict="This address is already on the schedule.")
            await self._mail_confirmation(schedule, brand, row)
            added.append(email)
        return added

    async def resend_confirmation(self, schedule_id: uuid.UUID, email: str) -> ScheduleAddress:
        schedule = await self.repo.get(schedule_id)
        row = await self.addresses.on_schedule(schedule.id, _clean(email), lock=True)
        if row is None:
            raise InvalidInput(
                "This address is not on the schedule.",
                [{"field": "email", "message": "not on the schedule"}],
            )
        if row.confirmed_at is not None:
            raise Conflict("This address is already confirmed.")
        brand = await self.brands.get(schedule.brand_id)
        row.confirmation_sent_at = utcnow()
        await self._mail_confirmation(schedule, brand, row)
        return row

    async def _mail_confirmation(
        self, schedule: ReportSchedule, brand: Brand, row: ScheduleAddress
    ) -> None:
        settings = self.runtime.settings
        ttl = settings.report_mail.confirmation_ttl_hours
        link = ReportLinks.from_settings(settings).confirm_url(
            self.subject.agency_id, schedule.id, row.email, ttl * 3600
        )
        agency = await _agency_name(self.session, self.subject)
        await queue_mail(
            self.session,
            self.subject,
            self.runtime.secrets,
            row.email,
            CONFIRMATION,
            row.locale,
            {
                "agency": agency,
                "brand": brand.name,
                "schedule": schedule.name,
                "link": link,
                "valid_for": _days(ttl, row.locale),
            },
            settings=settings.mail,
        )

    # -- recipients, preview, send now ------------------------------------------------------

    async def recipients(self, schedule: ReportSchedule) -> list[Recipient]:
        return await recipients_of(self.session, self.subject, schedule)

    async def preview(
        self,
        schedule_id: uuid.UUID,
        locale: str,
        start: date | None,
        end: date | None,
    ) -> PreviewOut:
        """The e-mail as one recipient of ``locale`` would get it; nothing is sent or kept."""
        schedule = await self.repo.get(schedule_id)
        brand = await self.brands.get(schedule.brand_id)
        period = self._period(schedule, brand, start, end)
        everyone = await self.recipients(schedule)
        sample = next(
            (r for r in receiving(everyone) if r.locale == locale),
            Recipient("recipient@example.com", None, "address", locale),
        )
        found, branding = await editions(
            self.session, self.subject.agency_id, self.runtime, schedule, brand, period, [locale]
        )
        message = write_letter(
            self.runtime,
            self.subject.agency_id,
            schedule,
            uuid.uuid4(),
            found[locale],
            sample,
            branding,
        )
        html = message.get_body(("html",))
        text = message.get_body(("plain",))
        assert html is not None and text is not None
        parts = [
            PreviewPart(
                content_type=part.get_content_type(),
                filename=part.get_filename(),
                content_id=part.get("Content-ID"),
                size=len(part.get_payload(decode=True) or b""),
            )
            for part in message.walk()
            if not part.is_multipart()
        ]
        return PreviewOut(
            subject=str(message["Subject"]),
            sender=str(message["From"]),
            reply_to=message.get("Reply-To"),
            period_start=period[0],
            period_end=period[1],
            locale=locale,  # type: ignore[arg-type]
            html=html.get_content(),
            text=text.get_content(),
            parts=parts,
            recipients=[
                RecipientPreview(
                    email=r.email,
                    name=r.name,
                    kind=RecipientKind(r.kind),
                    locale=r.locale,  # type: ignore[arg-type]
                    excluded=r.excluded,
                )
                for r in everyone
            ],
        )

    async def send_now(self, schedule_id: uuid.UUID, data: SendNow) -> ReportRun:
        """A run for now, outside the rhythm: rendered and sent by a worker at once."""
        schedule = await self.repo.get(schedule_id)
        brand = await self.brands.get(schedule.brand_id)
        if brand.archived_at is not None:
            raise Conflict("The brand is archived: its reports are no longer sent.")
        period = self._period(schedule, brand, data.period_start, data.period_end)
        now = utcnow()
        run = ReportRun(
            id=uuid.uuid4(),
            schedule_id=schedule.id,
            brand_id=brand.id,
            schedule_name=schedule.name,
            trigger="manual",
            period_start=period[0],
            period_end=period[1],
            not_before=now,
            lease_until=now + timedelta(seconds=self.runtime.settings.report_mail.lease_seconds),
            requested_by=self.subject.user_id,
        )
        run.key = f"manual:{run.id}"
        await self.runs.add(run)
        enqueue(RENDER_JOB, str(self.subject.agency_id), str(run.id), 0)
        self.audit.record(
            "report_schedule.sent_now",
            "report_run",
            run.id,
            {"schedule_id": str(schedule.id), "period": [str(period[0]), str(period[1])]},
        )
        return run

    def _period(
        self, schedule: ReportSchedule, brand: Brand, start: date | None, end: date | None
    ) -> tuple[date, date]:
        if start is None and end is None:
            return period_of(schedule.period, local_day(utcnow(), ZoneInfo(brand.timezone)))
        if start is None or end is None:
            missing = "period_start" if start is None else "period_end"
            raise InvalidInput(
                "Give both ends of the period, or neither.",
                [{"field": missing, "message": "required with the other end"}],
            )
        checked = check_period(start, end)
        return checked.start, checked.end

    # -- the log ------------------------------------------------------------------------------

    async def list_runs(
        self, schedule_id: uuid.UUID, page: PageRequest
    ) -> tuple[Sequence[ReportRun], str | None]:
        await self.repo.get(schedule_id)
        return await self.runs.page(page, self.runs.of_schedule(schedule_id))

    async def get_run(self, run_id: uuid.UUID) -> tuple[ReportRun, Sequence[ReportDelivery]]:
        run = await self.runs.get(run_id)
        return run, await self.deliveries.of_run(run.id)


def address_out(a: ScheduleAddress) -> AddressOut:
    return AddressOut(
        email=a.email,
        name=a.name,
        locale=a.locale,  # type: ignore[arg-type]
        confirmed=a.confirmed_at is not None,
        confirmed_at=a.confirmed_at,
        confirmation_sent_at=a.confirmation_sent_at,
    )


def _clean(email: str) -> str:
    return email.strip().lower()


def _days(hours: int, locale: str) -> str:
    if hours % 24 == 0:
        days = hours // 24
        return f"{days} jours" if locale == "fr" else f"{days} days"
    return f"{hours} heures" if locale == "fr" else f"{hours} hours"


async def _agency_name(session: AsyncSession, subject: Subject) -> str:
    return (await AgencyRepository(session, subject).current()).name
