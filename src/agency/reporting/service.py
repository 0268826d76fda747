"""A brand's report: the rollups of a period and the period before, turned into KPIs.

:meth:`ReportService.brand_report` is the one entry point the API, the exports and the
report e-mails share. It reads rollup rows only (a month of a brand is a few hundred
rows, whatever the raw table holds), so it answers in milliseconds.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from agency.brand.models import Brand
from agency.brand.repository import BrandRepository
from agency.brand.schemas import ReportingLine
from agency.channel.models import Channel
from agency.channel.schemas import ChannelHealth
from agency.client.repository import ClientMemberRepository
from agency.kernel.db import utcnow
from agency.kernel.errors import Forbidden, InvalidInput
from agency.kernel.schemas import Locale
from agency.kernel.tenancy import Subject
from agency.publication.repository import QueueSlotRepository
from agency.reporting import kpis
from agency.reporting.cache import ReportCache
from agency.reporting.kpis import ENGAGEMENT_BASIS, Sums
from agency.reporting.lines import LineReader, Read
from agency.reporting.posts import PeriodPosts
from agency.reporting.repository import ROLLUP_SUMS, PostMetricRepository, ReportRepository
from agency.reporting.schemas import (
    AgencyFiguresOut,
    AgencyReport,
    BrandLine,
    BrandReport,
    ChannelBreakdown,
    FiguresOut,
    GapOut,
    NetworkBreakdown,
    PeriodOut,
    RegularityOut,
)

# The longest period a report covers (three years, a leap day included).
MAX_DAYS = 3 * 366
# A follower count older than this before a period's end is not the count at its end.
FOLLOWERS_WINDOW = timedelta(days=92)


@dataclass(frozen=True)
class Period:
    """Local days ``start`` to ``end`` (both included) of a brand's time zone."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same length just before."""
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def instants(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """From the first day's local midnight to the midnight after the last day."""
        return (
            datetime.combine(self.start, time(), zone),
            datetime.combine(self.end + timedelta(days=1), time(), zone),
        )

    def out(self) -> PeriodOut:
        return PeriodOut(start=self.start, end=self.end, days=self.days)


def check_period(start: date, end: date) -> Period:
    """The period, or a 422 naming what is wrong with it."""
    problems = []
    if end < start:
        problems.append({"field": "end", "message": "the period ends before it starts"})
    elif (end - start).days + 1 > MAX_DAYS:
        problems.append(
            {"field": "end", "message": f"a period covers at most {MAX_DAYS} days (3 years)"}
        )
    if problems:
        raise InvalidInput("This period cannot be reported on.", errors=problems)
    return Period(start, end)


def both_ends(start: date | None, end: date | None) -> tuple[date, date]:
    """A period named by both its ends (a 422 names the one missing)."""
    missing = [name for name, value in (("start", start), ("end", end)) if value is None]
    if missing:
        raise InvalidInput(
            "A period needs both its first and its last day.",
            errors=[{"field": name, "message": "required with the other end"} for name in missing],
        )
    assert start is not None and end is not None
    return start, end


class ReportService:
    def __init__(
        self, session: AsyncSession, subject: Subject, cache: ReportCache | None = None
    ) -> None:
        self.session = session
        self.subject = subject
        self.cache = cache
        self.brands = BrandRepository(session, subject)
        self.posts = PostMetricRepository(session, subject)
        self.reads = ReportRepository(session, subject)

    async def brand_report(
        self,
        brand_id: uuid.UUID,
        period_start: date,
        period_end: date,
        line: ReportingLine | str | None = None,
    ) -> BrandReport:
        """The brand's report for local days ``period_start`` to ``period_end`` (included).

        ``line`` names the reporting line the report speaks to; by default a client member's
        own line on that brand, else the brand's. Unknown brands and brands of another
        agency (or, for a client member, not theirs) are 404. With a cache, a report computed
        before from the same rows is served again (:mod:`agency.reporting.cache`).
        """
        period = check_period(period_start, period_end)
        previous = period.previous()
        if self.cache is None:
            return await self._brand_report(brand_id, period, line)
        first_day = previous.start - timedelta(days=1) - FOLLOWERS_WINDOW
        stamp = await self.reads.stamp(brand_id, first_day, period.start, period.end)
        if stamp is None:
            return await self._brand_report(brand_id, period, line)
        reader = self.subject.user_id if self.subject.kind == "client" else None
        key = (self.subject.agency_id, brand_id, period.start, period.end, line, reader)
        found = self.cache.get(key, stamp)
        if found is None:
            found = await self._brand_report(brand_id, period, line)
            self.cache.put(key, stamp, found)
        return found

    async def _brand_report(
        self, brand_id: uuid.UUID, period: Period, line: ReportingLine | str | None
    ) -> BrandReport:
        brand = await self.brands.get(brand_id)
        zone = ZoneInfo(brand.timezone)
        previous = period.previous()
        channels = await self._channels(brand)
        rows = await self.reads.channel_periods(brand.id, previous.start, period.start, period.end)
        current_sums, previous_sums = await self._sums(brand.id, rows, channels, period, previous)
        posts = PeriodPosts(await self.posts.period_rows(brand.id, period.start, period.end))
        regularity, publishing = await self._regularity(channels, posts, period, zone)

        networks: dict[str, list[ChannelBreakdown]] = {}
        for channel in channels:
            now, before = current_sums[channel.id], previous_sums[channel.id]
            networks.setdefault(channel.network, []).append(
                ChannelBreakdown(
                    channel_id=channel.id,
                    name=channel.name,
                    handle=channel.handle,
                    network=channel.network,
                    health=ChannelHealth(channel.health),
                    **_compared(now, before),
                    publishing=RegularityOut.of(regularity[channel.id]),
                )
            )
        current = kpis.total(current_sums.values())
        before = kpis.total(previous_sums.values())
        compared = _compared(current, before)
        network_rows = [
            self._network(network, items, current_sums, previous_sums)
            for network, items in sorted(networks.items())
        ]
        campaigns = posts.campaigns()
        gaps = [
            GapOut(channel_id=channel_id, day=day, reason=reason)
            for channel_id, day, reason in await self.reads.gaps(brand.id, period.start, period.end)
        ]
        lines = await LineReader(self.session, self.subject).sections(
            Read(
                brand_id=brand.id,
                timezone=brand.timezone,
                start=period.start,
                end=period.end,
                current=compared["current"],
                change=compared["change"],
                networks=network_rows,
                campaigns=campaigns,
                utm_campaigns=posts.utm_campaigns(),
                gaps=gaps,
            )
        )
        return BrandReport(
            brand_id=brand.id,
            brand_name=brand.name,
            timezone=brand.timezone,
            locale=Locale(brand.locale),
            line=ReportingLine(line or await self._line_of(brand)),
            period=period.out(),
            previous_period=previous.out(),
            generated_at=utcnow(),
            **compared,
            publishing=RegularityOut.of(publishing),
            networks=network_rows,
            campaigns=campaigns,
            best_posts=posts.ranked(best=True),
            worst_posts=posts.ranked(best=False),
            gaps=gaps,
            lines=lines,
        )

    async def agency_report(self, start: date, end: date) -> AgencyReport:
        """Every brand of the agency, from the brand rollups, for days ``start`` to ``end``
        (each brand's own local days), next to the period before. Agency staff only."""
        if self.subject.kind == "client":
            raise Forbidden("The agency's consolidated report is for the agency's staff.")
        period = check_period(start, end)
        previous = period.previous()
        names = await self.reads.brand_names()
        found: dict[tuple[uuid.UUID, bool], Sums] = {}
        for brand_id, is_current, posts, *sums in await self.reads.brand_periods(
            previous.start, period.start, period.end
        ):
            values = dict(zip(ROLLUP_SUMS, sums, strict=True))
            change = values.pop("followers_change")
            found[(brand_id, bool(is_current))] = Sums(
                posts=int(posts or 0),
                values={k: _int(v) for k, v in values.items()},
                followers_change=_int(change),
            )
        brands = []
        for brand_id in sorted({key[0] for key in found}, key=lambda b: (names.get(b, ""), b)):
            brands.append(
                BrandLine(
                    brand_id=brand_id,
                    brand_name=names.get(brand_id, ""),
                    current=_agency_figures(found.get((brand_id, True), Sums())),
                    previous=_agency_figures(found.get((brand_id, False), Sums())),
                )
            )
        now = kpis.total(v for (_, current), v in found.items() if current)
        before = kpis.total(v for (_, current), v in found.items() if not current)
        current_out, previous_out = _agency_figures(now), _agency_figures(before)
        return AgencyReport(
            start=period.start,
            end=period.end,
            previous_start=previous.start,
            previous_end=previous.end,
            generated_at=utcnow(),
            current=current_out,
            previous=previous_out,
            change={
                name: kpis.change(getattr(current_out, name), getattr(previous_out, name))
                for name in AgencyFiguresOut.__struct_fields__
            },
            brands=brands,
        )

    async def period_asked(
        self, brand_id: uuid.UUID, start: date | None, end: date | None
    ) -> tuple[date, date]:
        """The period a reader asked for; neither end: the brand's last full month."""
        if start is None and end is None:
            return await self.last_full_month(brand_id)
        return both_ends(start, end)

    async def last_full_month(self, brand_id: uuid.UUID) -> tuple[date, date]:
        """The brand's last complete calendar month, in its time zone."""
        brand = await self.brands.get(brand_id)
        today = utcnow().astimezone(ZoneInfo(brand.timezone)).date()
        end = today.replace(day=1) - timedelta(days=1)
        return end.replace(day=1), end

    async def _channels(self, brand: Brand) -> list[Channel]:
        return await self.reads.channels(brand.id)

    async def _line_of(self, brand: Brand) -> str:
        if self.subject.kind == "client" and self.subject.user_id is not None:
            places = await ClientMemberRepository(self.session, self.subject).active_places_of(
                self.subject.user_id
            )
            for place in places:
                if place.brand_id == brand.id:
                    return place.reporting_line
        return brand.reporting_line

    async def _sums(
        self,
        brand_id: uuid.UUID,
        rows: Sequence[Any],
        channels: Sequence[Channel],
        period: Period,
        previous: Period,
    ) -> tuple[dict[uuid.UUID, Sums], dict[uuid.UUID, Sums]]:
        current = {c.id: Sums() for c in channels}
        before = {c.id: Sums() for c in channels}
        for channel_id, is_current, posts, gap_days, *sums in rows:
            target = current if is_current else before
            if channel_id not in target:  # a channel deleted since: its days stay in the brand
                continue
            values = dict(zip(ROLLUP_SUMS, sums, strict=True))
            change = values.pop("followers_change")
            target[channel_id] = Sums(
                posts=int(posts or 0),
                values={k: _int(v) for k, v in values.items()},
                followers_change=_int(change),
                gap_days=int(gap_days or 0),
            )
        days = [previous.start - timedelta(days=1), previous.end, period.end]
        counts = await self.reads.followers_at(brand_id, days, FOLLOWERS_WINDOW)
        for channel in channels:
            at = [counts.get((k, channel.id)) for k in range(len(days))]
            before[channel.id].with_followers(at[0], at[1])
            current[channel.id].with_followers(at[1], at[2])
        return current, before

    def _network(
        self,
        network: str,
        channels: list[ChannelBreakdown],
        current_sums: dict[uuid.UUID, Sums],
        previous_sums: dict[uuid.UUID, Sums],
    ) -> NetworkBreakdown:
        now = kpis.total(current_sums[c.channel_id] for c in channels)
        before = kpis.total(previous_sums[c.channel_id] for c in channels)
        compared = _compared(now, before)
        basis = ENGAGEMENT_BASIS.get(network, "followers")
        current: FiguresOut = compared["current"]
        rate = (
            current.engagement_rate_reach if basis == "reach" else current.engagement_rate_followers
        )
        return NetworkBreakdown(
            network=network,
            engagement_basis=basis,
            engagement_rate=rate,
            **compared,
            channels=channels,
        )

    async def _regularity(
        self, channels: Sequence[Channel], posts: PeriodPosts, period: Period, zone: ZoneInfo
    ) -> tuple[dict[uuid.UUID, kpis.Regularity], kpis.Regularity]:
        """Each channel's publishing regularity, and the brand's (every post and slot)."""
        start, end = period.instants(zone)
        times: dict[uuid.UUID, list[datetime]] = {c.id: [] for c in channels}
        for channel_id, published in posts.times().items():
            times.setdefault(channel_id, []).extend(published)
        slots: dict[uuid.UUID, list[tuple[int, str]]] = {c.id: [] for c in channels}
        slot_rows = QueueSlotRepository(self.session, self.subject)
        for slot in await slot_rows.of_channels([c.id for c in channels]):
            slots[slot.channel_id].append((slot.weekday, slot.local_time))
        occurrences = {
            c.id: kpis.slot_times(slots[c.id], period.start, period.end, zone) for c in channels
        }
        per_channel = {
            c.id: kpis.regularity(times[c.id], occurrences[c.id], start, end) for c in channels
        }
        every_post = [t for found in times.values() for t in found]
        every_slot = [t for found in occurrences.values() for t in found]
        overall = kpis.regularity(every_post, every_slot, start, end)
        # Slots are kept channel by channel: a post on one network keeps no slot of another.
        overall = dataclasses.replace(
            overall,
            slots_kept=sum(r.slots_kept for r in per_channel.values()),
            regularity=kpis.ratio(sum(r.slots_kept for r in per_channel.values()), len(every_slot)),
        )
        return per_channel, overall


def _int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


def _agency_figures(sums: Sums) -> AgencyFiguresOut:
    figures = kpis.figures(sums)
    return AgencyFiguresOut(
        posts=figures.posts,
        impressions=figures.impressions,
        reach=figures.reach,
        interactions=figures.interactions,
        engagement_rate_reach=figures.engagement_rate_reach,
        link_clicks=figures.link_clicks,
        video_views=figures.video_views,
        audience_growth=figures.audience_growth,
    )


def _compared(now: Sums, before: Sums) -> dict[str, Any]:
    current, previous = kpis.figures(now), kpis.figures(before)
    return {
        "current": FiguresOut.of(current),
        "previous": FiguresOut.of(previous),
        "change": kpis.changes(current, previous),
    }
