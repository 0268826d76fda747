from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

import msgspec

from agency.brand.schemas import ReportingLine
from agency.kernel.http import etag
from agency.kernel.schemas import Email, Input, Locale, Name, Output
from agency.report_mail.models import DeliveryState as DeliveryState
from agency.report_mail.models import ReportBranding, ReportDelivery, ReportRun, ReportSchedule
from agency.report_mail.models import RunState as RunState
from agency.report_mail.timing import PeriodKind
from agency.webhook.events import EventType, payload_of

Rule = Annotated[
    str,
    msgspec.Meta(
        min_length=6,
        max_length=500,
        description="RFC 5545 RRULE in the brand's time zone, e.g. "
        "FREQ=WEEKLY;BYDAY=MO;BYHOUR=8;BYMINUTE=0 (every Monday at 08:00) or "
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1;BYHOUR=8;BYMINUTE=0 (the first working "
        "day of the month). Daily at most.",
    ),
]
DelayHours = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        le=168,
        description="Hours after the period's end before its figures are read (late metric "
        "pulls); a run also waits while the brand's metrics are still being collected.",
    ),
]


class MemberRecipient(Input):
    member_id: uuid.UUID
    locale: Locale = Locale.FR


class AddressRecipient(Input):
    email: Email
    name: Name | None = None
    locale: Locale = Locale.FR


class Recipients(Input):
    """Who receives it: the brand's client members on these reporting lines (those holding
    ``reports:receive``), agency members, and plain addresses once their owner confirms."""

    client_lines: Annotated[list[ReportingLine], msgspec.Meta(max_length=4)] = []
    members: Annotated[list[MemberRecipient], msgspec.Meta(max_length=50)] = []
    addresses: Annotated[list[AddressRecipient], msgspec.Meta(max_length=50)] = []


class ScheduleCreate(Input):
    name: Name
    rule: Rule
    starts_on: date | None = None
    period: PeriodKind = PeriodKind.LAST_WEEK
    line: ReportingLine | None = None
    recipients: Recipients = msgspec.field(default_factory=Recipients)
    data_delay_hours: DelayHours = 6
    enabled: bool = True


class ScheduleUpdate(Input):
    """Only the fields present change; ``recipients`` replaces the whole list."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    rule: Rule | msgspec.UnsetType = msgspec.UNSET
    starts_on: date | msgspec.UnsetType = msgspec.UNSET
    period: PeriodKind | msgspec.UnsetType = msgspec.UNSET
    line: ReportingLine | msgspec.UnsetType | None = msgspec.UNSET
    recipients: Recipients | msgspec.UnsetType = msgspec.UNSET
    data_delay_hours: DelayHours | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET


class AddressOut(Output):
    email: str
    name: str | None
    locale: Locale
    confirmed: bool
    confirmed_at: datetime | None
    confirmation_sent_at: datetime | None


class RecipientsOut(Output):
    client_lines: list[ReportingLine]
    members: list[MemberRecipient]
    addresses: list[AddressOut]


class ScheduleOut(Output):
    id: uuid.UUID
    brand_id: uuid.UUID
    name: str
    rule: str
    starts_on: date
    period: PeriodKind
    line: ReportingLine | None
    recipients: RecipientsOut
    data_delay_hours: int
    enabled: bool
    next_run_at: datetime | None
    created_at: datetime
    # What an edit sends in If-Match (the ETag its GET answers with), so a list can edit.
    etag: str

    @classmethod
    def of(cls, s: ReportSchedule, addresses: list[AddressOut]) -> ScheduleOut:
        return cls(
            etag=etag(s.version),
            id=s.id,
            brand_id=s.brand_id,
            name=s.name,
            rule=s.rule,
            starts_on=s.starts_on,
            period=PeriodKind(s.period),
            line=ReportingLine(s.line) if s.line else None,
            recipients=RecipientsOut(
                client_lines=[ReportingLine(x) for x in s.client_lines],
                members=msgspec.convert(s.members, list[MemberRecipient]),
                addresses=addresses,
            ),
            data_delay_hours=s.data_delay_hours,
            enabled=s.enabled,
            next_run_at=s.next_run_at,
            created_at=s.created_at,
        )


class SchedulePage(Output):
    items: list[ScheduleOut]
    next_cursor: str | None


class RecipientKind(StrEnum):
    CLIENT_MEMBER = "client_member"
    MEMBER = "member"  # of the agency
    ADDRESS = "address"  # an e-mail address typed on the schedule


class ReportDeliveryOut(Output):
    """The run's e-mail to one recipient (the mail log has its attempts: ``mail_id``)."""

    id: uuid.UUID
    email: str
    name: str | None
    kind: RecipientKind
    locale: Locale
    status: DeliveryState
    detail: str | None
    mail_id: uuid.UUID | None
    settled_at: datetime | None

    @classmethod
    def of(cls, d: ReportDelivery) -> ReportDeliveryOut:
        return cls(
            id=d.id,
            email=d.email,
            name=d.name,
            kind=RecipientKind(d.kind),
            locale=Locale(d.locale),
            status=DeliveryState(d.status),
            detail=d.detail,
            mail_id=d.mail_id,
            settled_at=d.settled_at,
        )


class RunOut(Output):
    id: uuid.UUID
    schedule_id: uuid.UUID | None
    brand_id: uuid.UUID | None
    schedule_name: str
    trigger: str
    period_start: date
    period_end: date
    status: RunState
    not_before: datetime
    attempts: int
    note: str | None
    created_at: datetime
    finished_at: datetime | None
    deliveries: list[ReportDeliveryOut] | None = None

    @classmethod
    def of(cls, r: ReportRun, deliveries: list[ReportDelivery] | None = None) -> RunOut:
        return cls(
            id=r.id,
            schedule_id=r.schedule_id,
            brand_id=r.brand_id,
            schedule_name=r.schedule_name,
            trigger=r.trigger,
            period_start=r.period_start,
            period_end=r.period_end,
            status=RunState(r.status),
            not_before=r.not_before,
            attempts=r.attempts,
            note=r.note,
            created_at=r.created_at,
            finished_at=r.finished_at,
            deliveries=(
                [ReportDeliveryOut.of(d) for d in deliveries] if deliveries is not None else None
            ),
        )


class RunPage(Output):
    items: list[RunOut]
    next_cursor: str | None


class SendNow(Input):
    """Send the report now to everyone on the schedule; by default for the period the
    schedule would cover today."""

    period_start: date | None = None
    period_end: date | None = None


class ResendConfirmation(Input):
    email: Email


class PreviewPart(Output):
    content_type: str
    filename: str | None
    content_id: str | None
    size: int


class RecipientPreview(Output):
    email: str
    name: str | None
    kind: RecipientKind
    locale: Locale
    # Why someone named on the schedule does not receive it (None: they do).
    excluded: str | None


class PreviewOut(Output):
    """The e-mail as one recipient of ``locale`` would get it, nothing sent."""

    subject: str
    sender: str
    reply_to: str | None
    period_start: date
    period_end: date
    locale: Locale
    html: str
    text: str
    parts: list[PreviewPart]
    recipients: list[RecipientPreview]


Color = Annotated[str, msgspec.Meta(pattern=r"^#[0-9A-Fa-f]{6}$", description="#RRGGBB")]
Subject = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=200,
        description="The subject line; {brand}, {period} and {agency} are replaced.",
    ),
]
Footer = Annotated[str, msgspec.Meta(max_length=1000)]


class BrandingUpdate(Input):
    """Only the fields present change."""

    sender_name: (
        Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | msgspec.UnsetType | None
    ) = msgspec.UNSET
    sender_address: Email | msgspec.UnsetType | None = msgspec.UNSET
    reply_to: Email | msgspec.UnsetType | None = msgspec.UNSET
    subjects: dict[Locale, Subject] | msgspec.UnsetType = msgspec.UNSET
    footers: dict[Locale, Footer] | msgspec.UnsetType = msgspec.UNSET
    accent_color: Color | msgspec.UnsetType = msgspec.UNSET


class BrandingOut(Output):
    sender_name: str | None
    sender_address: str | None
    reply_to: str | None
    subjects: dict[str, str]
    footers: dict[str, str]
    accent_color: str
    has_logo: bool
    # What the From of a report e-mail reads now.
    sender: str
    # What an edit sends in If-Match (the ETag its GET answers with), so a list can edit.
    etag: str

    @classmethod
    def of(cls, b: ReportBranding, sender: str) -> BrandingOut:
        return cls(
            etag=etag(b.version),
            sender_name=b.sender_name,
            sender_address=b.sender_address,
            reply_to=b.reply_to,
            subjects=dict(b.subjects),
            footers=dict(b.footers),
            accent_color=b.accent_color,
            has_logo=b.logo_png is not None,
            sender=sender,
        )


class PeriodData(msgspec.Struct, kw_only=True):
    start: date
    end: date


class RecipientData(msgspec.Struct, kw_only=True):
    email: str
    kind: RecipientKind
    status: DeliveryState
    detail: str | None


@payload_of(EventType.REPORT_SENT, EventType.REPORT_FAILED)
class ReportData(msgspec.Struct, kw_only=True):
    """A scheduled report e-mail went out to everyone, or some could not get it."""

    run_id: uuid.UUID
    schedule_id: uuid.UUID | None
    brand_id: uuid.UUID | None
    schedule: str
    trigger: str
    period: PeriodData
    status: RunState
    note: str | None
    deliveries: list[RecipientData]
