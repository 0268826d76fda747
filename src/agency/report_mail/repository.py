"""All SQL of report e-mails: schedules, addresses, opt-outs, runs and deliveries, the
agency's branding, whether a brand's metrics are still being collected, and the
scheduler's claims across agencies."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from agency.brand.models import Brand
from agency.kernel.repository import TenantRepository
from agency.kernel.system import SystemRepository
from agency.kernel.tenancy import scoped_select
from agency.report_mail.models import (
    ReportBranding,
    ReportDelivery,
    ReportOptOut,
    ReportRun,
    ReportSchedule,
    RunState,
    ScheduleAddress,
)
from agency.reporting.models import ChannelMetric, PostMetric


class ScheduleRepository(TenantRepository[ReportSchedule]):
    model = ReportSchedule
    noun = "report schedule"

    def of_brand(self, brand_id: uuid.UUID) -> Select[ReportSchedule]:
        return self.select().where(ReportSchedule.brand_id == brand_id)

    async def get_for_update(self, schedule_id: uuid.UUID) -> ReportSchedule | None:
        stmt = self.select().where(ReportSchedule.id == schedule_id).with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()


class AddressRepository(TenantRepository[ScheduleAddress]):
    model = ScheduleAddress
    noun = "address"

    async def of_schedule(self, schedule_id: uuid.UUID) -> Sequence[ScheduleAddress]:
        stmt = (
            self.select()
            .where(ScheduleAddress.schedule_id == schedule_id)
            .order_by(ScheduleAddress.email)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def of_schedules(self, ids: Sequence[uuid.UUID]) -> Sequence[ScheduleAddress]:
        if not ids:
            return []
        stmt = (
            self.select()
            .where(ScheduleAddress.schedule_id.in_(ids))
            .order_by(ScheduleAddress.email)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def on_schedule(
        self, schedule_id: uuid.UUID, email: str, lock: bool = False
    ) -> ScheduleAddress | None:
        stmt = self.select().where(
            ScheduleAddress.schedule_id == schedule_id, ScheduleAddress.email == email
        )
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def remove(self, address: ScheduleAddress) -> None:
        await self.session.delete(address)


class OptOutRepository(TenantRepository[ReportOptOut]):
    model = ReportOptOut
    noun = "opt-out"

    async def emails(self, schedule_id: uuid.UUID) -> set[str]:
        stmt = self.select().where(ReportOptOut.schedule_id == schedule_id)
        return {row.email for row in (await self.session.execute(stmt)).scalars()}

    async def record(self, schedule_id: uuid.UUID, email: str) -> bool:
        """Note the opt-out; False when it was already there (two clicks, two mail programs)."""
        try:
            async with self.session.begin_nested():
                self.session.add(
                    ReportOptOut(
                        agency_id=self.subject.agency_id, schedule_id=schedule_id, email=email
                    )
                )
        except IntegrityError:
            return False
        return True


class RunRepository(TenantRepository[ReportRun]):
    model = ReportRun
    noun = "report run"

    def of_schedule(self, schedule_id: uuid.UUID) -> Select[ReportRun]:
        return self.select().where(ReportRun.schedule_id == schedule_id)

    async def get_for_update(self, run_id: uuid.UUID) -> ReportRun | None:
        stmt = self.select().where(ReportRun.id == run_id).with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()


class DeliveryRepository(TenantRepository[ReportDelivery]):
    model = ReportDelivery
    noun = "delivery"

    async def of_run(self, run_id: uuid.UUID) -> Sequence[ReportDelivery]:
        stmt = self.select().where(ReportDelivery.run_id == run_id).order_by(ReportDelivery.email)
        return (await self.session.execute(stmt)).scalars().all()

    async def of_mail(self, mail_id: uuid.UUID) -> ReportDelivery | None:
        stmt = self.select().where(ReportDelivery.mail_id == mail_id).with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def queued_to(self, schedule_id: uuid.UUID, email: str) -> Sequence[ReportDelivery]:
        stmt = self.select().where(
            ReportDelivery.schedule_id == schedule_id,
            ReportDelivery.email == email,
            ReportDelivery.status == "queued",
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def unsettled(self, run_id: uuid.UUID) -> int:
        stmt = (
            self.select()
            .where(ReportDelivery.run_id == run_id, ReportDelivery.status == "queued")
            .with_only_columns(func.count())
        )
        return int((await self.session.execute(stmt)).scalar_one())


class BrandingRepository(TenantRepository[ReportBranding]):
    model = ReportBranding
    noun = "report branding"

    async def current(self, lock: bool = False) -> ReportBranding | None:
        stmt = self.select()
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()


class CollectionRepository(TenantRepository[ChannelMetric]):
    """Whether a brand's figures for a period are all in: reporting's pull schedule, read."""

    model = ChannelMetric
    noun = "channel metrics"

    async def pulls_behind(
        self, brand_id: uuid.UUID, period_start: date, period_end: datetime, now: datetime
    ) -> int:
        """Pulls that would still change the period's figures: account pulls not yet taken
        for its last day, and pulls of its posts that are due and not taken."""
        accounts = (
            self.select()
            .where(
                ChannelMetric.brand_id == brand_id,
                ChannelMetric.next_pull_at < period_end,
                or_(ChannelMetric.blocked_until.is_(None), ChannelMetric.blocked_until < now),
            )
            .with_only_columns(func.count())
        )
        posts = (
            scoped_select(PostMetric, self.subject)
            .where(
                PostMetric.brand_id == brand_id,
                PostMetric.day >= period_start,
                PostMetric.published_at < period_end,
                PostMetric.next_pull_at <= now,
            )
            .with_only_columns(func.count())
        )
        behind = (await self.session.execute(accounts)).scalar_one()
        behind += (await self.session.execute(posts)).scalar_one()
        return int(behind)


class ReportSweepRepository(SystemRepository):
    """The scheduler's view of every agency's report schedules and runs."""

    async def due_schedules(
        self, now: datetime, limit: int
    ) -> Sequence[tuple[ReportSchedule, str, bool]]:
        """Schedules whose time has come, locked: ``(schedule, brand time zone, archived)``."""
        stmt = (
            select(ReportSchedule, Brand.timezone, Brand.archived_at.is_not(None))
            .join(Brand, Brand.id == ReportSchedule.brand_id)
            .where(ReportSchedule.enabled.is_(True), ReportSchedule.next_run_at <= now)
            .order_by(ReportSchedule.next_run_at)
            .limit(limit)
            .with_for_update(of=ReportSchedule, skip_locked=True)
        )
        return [(row[0], row[1], bool(row[2])) for row in (await self.session.execute(stmt))]

    async def add_run(self, run: ReportRun) -> bool:
        """The run, unless its schedule already has one for that period (False)."""
        try:
            async with self.session.begin_nested():
                self.session.add(run)
        except IntegrityError:
            return False
        return True

    async def claim_runs(
        self, now: datetime, lease: timedelta, limit: int
    ) -> Sequence[tuple[uuid.UUID, uuid.UUID, int]]:
        """Pending runs whose time has come and whose lease is over, leased:
        ``(agency_id, run_id, attempts)``."""
        due = (
            await self.session.execute(
                select(ReportRun.agency_id, ReportRun.id, ReportRun.attempts)
                .where(
                    ReportRun.status == RunState.PENDING,
                    ReportRun.not_before <= now,
                    or_(ReportRun.lease_until.is_(None), ReportRun.lease_until < now),
                )
                .order_by(ReportRun.not_before)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if due:
            await self.session.execute(
                update(ReportRun)
                .where(ReportRun.id.in_([row.id for row in due]))
                .values(lease_until=now + lease)
            )
        return [(row.agency_id, row.id, row.attempts) for row in due]
