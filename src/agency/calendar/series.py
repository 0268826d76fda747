"""Recurring publications: a series materializes its occurrences a few at a time.

When a publication with a ``recurrence`` rule is first scheduled, it becomes the first
occurrence of a :class:`PublicationSeries`; the rule's DTSTART is its wall-clock time in
the brand's zone. The series then keeps :data:`UPCOMING` occurrences ahead: each one a
publication of its own, copied from the latest occurrence (so an edit carries forward),
scheduled at the rule's next wall-clock start converted to UTC (DST-correct). When an
occurrence falls due, the scheduler's claim (``refill_at``) creates the next. An occurrence
that cannot be scheduled (a quota full, content a network now refuses) is skipped and said
in ``last_error`` and the audit log. Canceling the series cancels every occurrence not yet
published and stops the rule.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from agency.audit.repository import AuditRepository
from agency.brand.repository import BrandRepository
from agency.brand.schemas import ReportingLine
from agency.calendar.models import PublicationSeries
from agency.calendar.repository import SeriesRepository
from agency.calendar.schemas import OccurrenceOut, SeriesOut
from agency.calendar.wallclock import (
    parse_rule,
    parse_wall,
    utc_to_wall,
    wall_text,
    wall_to_utc,
)
from agency.kernel.db import utcnow
from agency.kernel.errors import AppError, Conflict, InvalidInput
from agency.kernel.tenancy import Subject
from agency.publication.drafting import CONTENT_FIELDS
from agency.publication.editing import PublicationEditing
from agency.publication.lifecycle import PublicationLifecycle
from agency.publication.models import Publication, Variant
from agency.publication.repository import PublicationRepository, VariantRepository
from agency.publication.scheduling import PublicationScheduling
from agency.publication.schemas import PublicationCreate, Utm, VariantIn
from agency.publication.states import CANCELABLE, Status

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime

# Occurrences on the calendar at once: the one scheduled and the next.
UPCOMING = 2
# Starts tried in one refill: bounds the work after a long downtime (the next tick goes on).
MAX_STARTS_PER_REFILL = 10


class SeriesService:
    def __init__(self, session: AsyncSession, subject: Subject, runtime: Runtime) -> None:
        self.session = session
        self.subject = subject
        self.runtime = runtime
        self.repo = SeriesRepository(session, subject)
        self.editing = PublicationEditing(session, subject, runtime)
        self.scheduling = PublicationScheduling(session, subject, runtime)
        self.lifecycle = PublicationLifecycle(session, subject, runtime)
        self.audit = AuditRepository(session, subject)

    async def after_scheduled(self, publication: Publication) -> None:
        """A recurring publication was scheduled: start its series, or top it up."""
        if publication.series_id is None:
            series = await self.start(publication)
        else:
            series = await self.repo.get_for_update(publication.series_id)
        await self.refill(series.id)

    async def start(self, publication: Publication) -> PublicationSeries:
        assert publication.recurrence is not None
        series = PublicationSeries(
            brand_id=publication.brand_id,
            origin_id=publication.id,
            rule=publication.recurrence,
            occurrences=1,
        )
        await self._anchor(series, publication)
        await self.repo.add(series)
        publication.series_id = series.id
        self.audit.record(
            "publication_series.started",
            "publication_series",
            series.id,
            {"publication_id": str(publication.id), "rule": publication.recurrence},
        )
        return series

    async def change_rule(self, publication: Publication, old_rule: str | None) -> None:
        """``recurrence`` of an occurrence was edited: from it on, the series follows the new
        rule, anchored at its time (as a series starts at its first occurrence). Occurrences
        after it that are not publishing yet are canceled and made again from the new rule;
        earlier and published ones stay. Without a rule, the series ends with this one."""
        assert publication.series_id is not None
        series = await self.repo.get_for_update(publication.series_id)
        if publication.scheduled_at is None:
            raise Conflict(
                "This occurrence has no time, so the series cannot follow a new rule from it: "
                "schedule it first, or cancel the series and schedule a publication with the "
                "new rule.",
                errors=[{"field": "recurrence", "message": "the occurrence has no time"}],
            )
        for occurrence in await self.repo.occurrences(series.id):
            later = occurrence.scheduled_at and occurrence.scheduled_at > publication.scheduled_at
            if later and occurrence.id != publication.id and occurrence.status in CANCELABLE:
                await self.lifecycle.cancel(occurrence.id)
        self.audit.record(
            "publication_series.rule_changed",
            "publication_series",
            series.id,
            {"publication_id": str(publication.id), "rule": [old_rule, publication.recurrence]},
        )
        if publication.recurrence is None:
            self._finish(series, utcnow(), None)
            return
        series.rule = publication.recurrence
        await self._anchor(series, publication)
        series.finished_at = None
        series.last_error = None
        await self.refill(series.id)

    async def _anchor(self, series: PublicationSeries, publication: Publication) -> None:
        """Start ``series`` (its rule set) at ``publication``: its wall-clock time is the
        rule's DTSTART, and each channel keeps its offset from it."""
        assert publication.scheduled_at is not None
        brand = await BrandRepository(self.session, self.subject).get(publication.brand_id)
        zone = ZoneInfo(brand.timezone)
        variants = await VariantRepository(self.session, self.subject).of_publication(
            publication.id
        )
        wall = utc_to_wall(publication.scheduled_at, zone).replace(microsecond=0)
        parse_rule(series.rule, wall, zone)  # a rule that cannot expand: 422
        series.dtstart = series.last_start = wall_text(wall)
        series.offsets = {
            str(v.channel_id): int((utc_to_wall(v.due_at, zone) - wall).total_seconds())
            for v in variants
            if v.due_at is not None
        }
        series.last_publication_id = publication.id

    async def refill(self, series_id: uuid.UUID, now: datetime | None = None) -> PublicationSeries:
        """Materialize occurrences until :data:`UPCOMING` are ahead (or the rule ends)."""
        refilling = _refilling(self.session)
        refilling.add(series_id)
        try:
            return await self._refill(series_id, now)
        finally:
            refilling.discard(series_id)

    async def _refill(self, series_id: uuid.UUID, now: datetime | None) -> PublicationSeries:
        series = await self.repo.get_for_update(series_id)
        now = now or utcnow()
        if series.canceled_at is not None or series.finished_at is not None:
            series.refill_at = None
            return series
        brand = await BrandRepository(self.session, self.subject).get(series.brand_id)
        zone = ZoneInfo(brand.timezone)
        try:
            rule = parse_rule(series.rule, parse_wall(series.dtstart), zone)
        except InvalidInput as exc:
            return self._finish(series, now, str(exc.detail))
        upcoming = await self.repo.upcoming(series.id, now)
        held: datetime | None = None
        for _ in range(MAX_STARTS_PER_REFILL):
            if len(upcoming) >= UPCOMING:
                break
            start = rule.next_start(parse_wall(series.last_start), zone)
            if start is None:
                return self._finish(series, now, None)
            series.last_start = wall_text(start)
            series.occurrences += 1
            source = await self._latest(series)
            if source is None:
                return self._finish(series, now, "Every occurrence of this series is gone.")
            times = _times(series, source[1], start, zone)
            if min(times.values()) <= now:
                continue  # its time passed while nothing ran: skipped, not published late
            if await self._materialize(series, source, start, times):
                upcoming.append(min(times.values()))
            else:
                held = min(times.values())
                break
        series = await self.repo.get_for_update(series.id)
        # Refilled again when the next occurrence falls due (it is then no longer ahead).
        series.refill_at = min([*upcoming, held] if held else upcoming, default=now)
        return series

    async def _materialize(
        self,
        series: PublicationSeries,
        source: tuple[Publication, list[Variant]],
        start: datetime,
        times: dict[uuid.UUID, datetime],
    ) -> bool:
        publication, variants = source
        data = _copy(publication, variants)
        try:
            async with self.session.begin_nested():
                created = await self.editing.create(series.brand_id, data)
                created.series_id = series.id
                await self.scheduling.schedule_variants(created.id, times)
        except AppError as exc:
            series = await self.repo.get_for_update(series.id)
            reasons = "; ".join(e["message"] for e in exc.extensions.get("errors", []))
            message = f"The occurrence of {start.isoformat()} was skipped: {exc.detail}"
            series.last_error = (f"{message} ({reasons})" if reasons else message)[:1000]
            self.audit.record(
                "publication_series.skipped",
                "publication_series",
                series.id,
                {"start": start.isoformat(), "reason": series.last_error},
            )
            return False
        series.last_publication_id = created.id
        series.last_error = None
        return True

    async def _latest(self, series: PublicationSeries) -> tuple[Publication, list[Variant]] | None:
        repo = PublicationRepository(self.session, self.subject)
        for candidate in (series.last_publication_id, series.origin_id):
            found = await repo.find(candidate) if candidate else None
            if found is not None:
                variants = await VariantRepository(self.session, self.subject).of_publication(
                    found.id
                )
                if variants:
                    return found, variants
        return None

    def _finish(
        self, series: PublicationSeries, now: datetime, error: str | None
    ) -> PublicationSeries:
        series.finished_at = now
        series.refill_at = None
        series.last_error = error
        return series

    # -- reading and canceling ----------------------------------------------------------------

    async def of_publication(self, publication_id: uuid.UUID) -> SeriesOut:
        series = await self._series_of(publication_id)
        return await self._out(series)

    async def cancel(self, publication_id: uuid.UUID) -> SeriesOut:
        """Cancel every occurrence not yet published and stop the rule (idempotent)."""
        series = await self._series_of(publication_id)
        # Occurrences first, then the series: the lock order of scheduling (publication,
        # then series), so the two never wait on each other.
        await self._cancel_pending(series.id)
        series = await self.repo.get_for_update(series.id)
        if series.canceled_at is None:
            series.canceled_at = utcnow()
            series.canceled_by = self.subject.user_id
            series.refill_at = None
            self.audit.record("publication_series.canceled", "publication_series", series.id, {})
        await self._cancel_pending(series.id)  # one a refill made while we waited
        return await self._out(series)

    async def _cancel_pending(self, series_id: uuid.UUID) -> None:
        for occurrence in await self.repo.occurrences(series_id):
            if occurrence.status in CANCELABLE:
                await self.lifecycle.cancel(occurrence.id)

    async def _series_of(self, publication_id: uuid.UUID) -> PublicationSeries:
        publication = await PublicationRepository(self.session, self.subject).get(publication_id)
        if publication.series_id is None:
            raise Conflict(
                "This publication is not part of a series: it has no recurrence rule, or "
                "was never scheduled."
            )
        return await self.repo.get(publication.series_id)

    async def _out(self, series: PublicationSeries) -> SeriesOut:
        occurrences = [
            OccurrenceOut(publication_id=p.id, status=Status(p.status), scheduled_at=p.scheduled_at)
            for p in await self.repo.occurrences(series.id)
        ]
        return SeriesOut.of(series, occurrences)


class SeriesHook:
    """The calendar's side of a publication's moves (wired by the app assembly)."""

    async def scheduled(
        self, session: AsyncSession, subject: Subject, runtime: Runtime, publication: Publication
    ) -> None:
        """A recurring publication on the calendar starts its series, or tops it up. The
        occurrences a refill schedules are left alone: that refill is already running."""
        if publication.series_id in _refilling(session):
            return
        if publication.recurrence or publication.series_id:
            await SeriesService(session, subject, runtime).after_scheduled(publication)

    async def recurrence_changed(
        self,
        session: AsyncSession,
        subject: Subject,
        runtime: Runtime,
        publication: Publication,
        old_rule: str | None,
    ) -> None:
        """A running series follows the new rule from this occurrence on; a scheduled
        publication given a rule starts its series, as if scheduled with it."""
        series = SeriesService(session, subject, runtime)
        if publication.series_id is not None:
            await series.change_rule(publication, old_rule)
        elif publication.recurrence and publication.status == Status.SCHEDULED:
            await series.after_scheduled(publication)


SERIES_HOOK = SeriesHook()


def _refilling(session: AsyncSession) -> set[uuid.UUID]:
    """The series this unit of work is refilling (so scheduling their occurrences does
    not start another refill of them)."""
    found: set[uuid.UUID] = session.info.setdefault("calendar.refilling", set())
    return found


def _times(
    series: PublicationSeries, variants: list[Variant], start: datetime, zone: ZoneInfo
) -> dict[uuid.UUID, datetime]:
    """Each channel's time for the occurrence starting at wall-clock ``start`` (a channel
    added after the series started goes out at the start itself)."""
    return {
        v.channel_id: wall_to_utc(
            start + timedelta(seconds=series.offsets.get(str(v.channel_id), 0)), zone
        )
        for v in variants
    }


def _copy(publication: Publication, variants: list[Variant]) -> PublicationCreate:
    return PublicationCreate(
        title=publication.title,
        variants=[
            VariantIn(
                channel_id=v.channel_id,
                **{n: getattr(v, n) for n in CONTENT_FIELDS if n != "media_ids"},
                media_ids=[uuid.UUID(m) for m in v.media_ids],
            )
            for v in variants
        ],
        campaign=publication.campaign,
        reporting_line=ReportingLine(publication.reporting_line)
        if publication.reporting_line
        else None,
        tags=list(publication.tags),
        utm=Utm(**publication.utm),
        recurrence=publication.recurrence,
    )


__all__ = ["SERIES_HOOK", "UPCOMING", "SeriesHook", "SeriesService"]
