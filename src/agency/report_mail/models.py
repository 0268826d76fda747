"""Schedules of report e-mails, their runs (one per schedule and period), deliveries (one per
run and recipient), addresses confirmed by their owner, opt-outs, and the agency's branding.

A run's key is its period: the database refuses a second run of one schedule for one period,
whichever scheduler or restart tries. Runs and deliveries outlive their schedule (its id is
set to NULL): the log of what was sent stays.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ColumnElement, Date, ForeignKey, Index, LargeBinary, String, false
from sqlalchemy.orm import Mapped, mapped_column

from agency.kernel.db import Base, Choice, IdMixin, TimestampMixin
from agency.kernel.tenancy import Subject, TenantMixin


class _StaffOnly:
    """Recipients' addresses are the agency's business: client members see none of it."""

    @classmethod
    def brand_scope(cls, subject: Subject) -> ColumnElement[bool]:
        return false()


class ReportSchedule(_StaffOnly, IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "report_schedules"
    __tenant_indexes__ = (
        Index("ix_report_schedules_agency_brand", "agency_id", "brand_id"),
        # The scheduler's claim, across agencies.
        Index("ix_report_schedules_next_run_at", "next_run_at"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    # RFC 5545 RRULE, expanded in the brand's zone from local midnight of starts_on.
    rule: Mapped[str] = mapped_column(String(500))
    starts_on: Mapped[date] = mapped_column(Date)
    # last_week | last_month | month_to_date
    period: Mapped[str] = mapped_column(String(20))
    # The reporting line the report speaks to; None: the brand's.
    line: Mapped[str | None] = mapped_column(String(30))
    # Client members of the brand on these lines (holding reports:receive) receive it.
    client_lines: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Agency members: [{"member_id": ..., "locale": "fr"}]
    members: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Hours after the period's end before its figures are trusted (late pulls).
    data_delay_hours: Mapped[int] = mapped_column(default=6)
    enabled: Mapped[bool] = mapped_column(default=True)
    next_run_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class ScheduleAddress(_StaffOnly, IdMixin, TenantMixin, TimestampMixin, Base):
    """A plain address on a schedule: it receives reports once its owner confirms."""

    __tablename__ = "report_schedule_addresses"
    __tenant_indexes__ = (
        Index(
            "uq_report_schedule_addresses_email",
            "agency_id",
            "schedule_id",
            "email",
            unique=True,
        ),
    )

    schedule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("report_schedules.id", ondelete="CASCADE")
    )
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(8))
    confirmed_at: Mapped[datetime | None]
    confirmation_sent_at: Mapped[datetime | None]


class ReportOptOut(_StaffOnly, IdMixin, TenantMixin, TimestampMixin, Base):
    """Someone who unsubscribed from a schedule: never sent it again."""

    __tablename__ = "report_opt_outs"
    __tenant_indexes__ = (
        Index("uq_report_opt_outs_email", "agency_id", "schedule_id", "email", unique=True),
    )

    schedule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("report_schedules.id", ondelete="CASCADE")
    )
    email: Mapped[str] = mapped_column(String(320))


class RunState(StrEnum):
    PENDING = "pending"  # due (or waiting for its data until not_before)
    QUEUED = "queued"  # one e-mail per recipient queued
    SENT = "sent"  # every recipient's e-mail sent
    FAILED = "failed"  # some or all could not be sent (see the deliveries)
    CANCELED = "canceled"  # nothing sent: brand archived, schedule gone, nobody to send to


class DeliveryState(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"
    CANCELED = "canceled"


class ReportRun(_StaffOnly, IdMixin, TenantMixin, TimestampMixin, Base):
    """One sending of a schedule: its period, its state, its deliveries."""

    __tablename__ = "report_runs"
    __tenant_indexes__ = (
        # Exactly once per schedule and period: scheduled runs are keyed by their period.
        Index("uq_report_runs_schedule_key", "agency_id", "schedule_id", "key", unique=True),
        Index("ix_report_runs_next", "status", "not_before"),
    )

    schedule_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("report_schedules.id", ondelete="SET NULL")
    )
    brand_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("brands.id", ondelete="SET NULL"))
    schedule_name: Mapped[str] = mapped_column(String(200))
    # "schedule:<start>/<end>" for a scheduled run; "manual:<id>" for "send now"
    key: Mapped[str] = mapped_column(String(100))
    trigger: Mapped[str] = mapped_column(String(10))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(Choice(RunState), default=RunState.PENDING)
    # Not rendered before this (its data is still being collected).
    not_before: Mapped[datetime]
    # Claimed: the scheduler leaves it alone until then (a lost message is re-sent after).
    lease_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    note: Mapped[str | None] = mapped_column(String(2000))
    requested_by: Mapped[uuid.UUID | None]
    finished_at: Mapped[datetime | None]


class ReportDelivery(_StaffOnly, IdMixin, TenantMixin, TimestampMixin, Base):
    """A run's e-mail to one recipient, and what became of it."""

    __tablename__ = "report_deliveries"
    __tenant_indexes__ = (
        Index("uq_report_deliveries_run_email", "agency_id", "run_id", "email", unique=True),
        Index("ix_report_deliveries_mail", "agency_id", "mail_id"),
    )

    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("report_runs.id", ondelete="CASCADE"))
    schedule_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("report_schedules.id", ondelete="SET NULL")
    )
    mail_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("mail_messages.id", ondelete="SET NULL")
    )
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    # client_member | member | address
    kind: Mapped[str] = mapped_column(String(20))
    locale: Mapped[str] = mapped_column(String(8))
    # queued | sent | failed | unknown | canceled (the mail's final state, once settled)
    status: Mapped[str] = mapped_column(Choice(DeliveryState), default=DeliveryState.QUEUED)
    detail: Mapped[str | None] = mapped_column(String(2000))
    settled_at: Mapped[datetime | None]


class ReportBranding(IdMixin, TenantMixin, TimestampMixin, Base):
    """How the agency's report e-mails look and who they come from (one row per agency)."""

    __tablename__ = "report_brandings"
    __tenant_indexes__ = (Index("uq_report_brandings_agency", "agency_id", unique=True),)

    sender_name: Mapped[str | None] = mapped_column(String(100))
    sender_address: Mapped[str | None] = mapped_column(String(320))
    reply_to: Mapped[str | None] = mapped_column(String(320))
    # {"fr": "...", "en": "..."}: the subject line, with {brand}, {period}, {agency}
    subjects: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    footers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    accent_color: Mapped[str] = mapped_column(String(7), default="#1F4E79")
    logo_png: Mapped[bytes | None] = mapped_column(LargeBinary)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}
