"""What each reporting line reads in a report (docs/reporting.md, "Reporting lines").

- marketing: link clicks and UTM-tagged traffic, the client's own results per campaign
  (visits, leads, sales, revenue: imported), costs entered, ROI;
- communication: notoriety (reach, audience growth), tone, reputation alerts;
- press relations: press coverage and influencer mentions, views of the brand's contents,
  ROA (return on attention);
- general management: the one-page summary across lines, and the RONI argument.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from agency.kernel.tenancy import Subject
from agency.reporting import kpis
from agency.reporting.comments import comment_figures
from agency.reporting.entries.repository import (
    CampaignResultRepository,
    CostRepository,
    PressCoverageRepository,
    SavedReportRepository,
)
from agency.reporting.models import PressCoverage
from agency.reporting.repository import ReportRepository
from agency.reporting.schemas import (
    AlertOut,
    CampaignBreakdown,
    CampaignResultsOut,
    CommunicationSection,
    CoverageKind,
    CoverageOut,
    FiguresOut,
    GapOut,
    LineSections,
    ManagementSection,
    MarketingSection,
    MoneyOut,
    NetworkBreakdown,
    PressSection,
    ResponseOut,
    ToneOut,
    UtmOut,
)

# An engagement rate falling this much from the previous period is a reputation alert.
ENGAGEMENT_DROP = -0.3
COMMENT_TONE_NOTE = (
    "The inbox reads none of this brand's channels: the comments' tone and response times "
    "are not available, not zero."
)


@dataclass
class Money:
    """Amounts per currency; a total exists only when everything is in one currency."""

    revenue: dict[str, Decimal] = field(default_factory=dict)
    costs: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # (kind, currency)

    @property
    def currencies(self) -> set[str]:
        return set(self.revenue) | {c for _, c in self.costs}

    def one(self) -> str | None:
        found = self.currencies
        return next(iter(found)) if len(found) == 1 else None

    def cost(self, kind: str | None = None) -> Decimal | None:
        if self.one() is None:
            return None
        amounts = [v for (k, _), v in self.costs.items() if kind is None or k == kind]
        return sum(amounts, Decimal(0)) if amounts else None

    def out(self) -> MoneyOut:
        currency = self.one()
        revenue = sum(self.revenue.values(), Decimal(0)) if currency and self.revenue else None
        cost = self.cost()
        return MoneyOut(
            currency=currency,
            revenue=_money(revenue),
            cost=_money(cost),
            production_cost=_money(self.cost("production")),
            paid_cost=_money(self.cost("paid")),
            roi=roi(revenue, cost),
        )


def roi(revenue: Decimal | None, cost: Decimal | None) -> float | None:
    """(revenue - cost) / cost; not available without both, or with no cost."""
    if revenue is None or not cost:
        return None
    return float((revenue - cost) / cost)


def _money(value: Decimal | None) -> float | None:
    return None if value is None else float(value.quantize(Decimal("0.01")))


def _tone(entries: Iterable[PressCoverage]) -> ToneOut:
    counts = {"positive": 0, "neutral": 0, "negative": 0}
    for entry in entries:
        counts[entry.tone] = counts.get(entry.tone, 0) + 1
    return ToneOut(**counts)


@dataclass(frozen=True)
class Read:
    """What the report already read, which the lines build on."""

    brand_id: uuid.UUID
    timezone: str
    start: date
    end: date
    current: FiguresOut
    change: dict[str, float | None]
    networks: list[NetworkBreakdown]
    campaigns: list[CampaignBreakdown]
    utm_campaigns: list[UtmOut]
    gaps: list[GapOut]


class LineReader:
    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.results = CampaignResultRepository(session, subject)
        self.costs = CostRepository(session, subject)
        self.coverage = PressCoverageRepository(session, subject)
        self.saved = SavedReportRepository(session, subject)
        self.reads = ReportRepository(session, subject)

    async def sections(self, read: Read) -> LineSections:
        money, by_campaign = await self._money(read)
        coverage = list(await self.coverage.of_period(read.brand_id, read.start, read.end))
        marketing = await self._marketing(read, money, by_campaign)
        communication = await self._communication(read, coverage)
        press = self._press(read, coverage, money)
        return LineSections(
            marketing=marketing,
            communication=communication,
            press_relations=press,
            management=ManagementSection(
                posts=read.current.posts,
                reach=read.current.reach,
                interactions=read.current.interactions,
                engagement_rate_reach=read.current.engagement_rate_reach,
                audience_growth=read.current.audience_growth,
                leads=marketing.leads,
                sales=marketing.sales,
                roi=marketing.money.roi,
                coverage_count=press.coverage_count,
                reputation_alerts=len(communication.reputation_alerts),
                roni=await self.saved.roni_of(read.brand_id, read.start, read.end),
            ),
        )

    async def _money(self, read: Read) -> tuple[Money, dict[str, dict[str, Any]]]:
        money = Money()
        campaigns: dict[str, dict[str, Any]] = defaultdict(
            lambda: {"visits": None, "leads": None, "sales": None, "money": Money()}
        )
        for campaign, currency, visits, leads, sales, revenue in await self.results.sums(
            read.brand_id, read.start, read.end
        ):
            found = campaigns[campaign]
            for name, value in (("visits", visits), ("leads", leads), ("sales", sales)):
                found[name] = kpis.add(found[name], None if value is None else int(value))
            if revenue is not None:
                for target in (money, found["money"]):
                    target.revenue[currency] = target.revenue.get(currency, Decimal(0)) + revenue
        for campaign, kind, currency, amount in await self.costs.sums(
            read.brand_id, read.start, read.end
        ):
            targets = [money] if campaign is None else [money, campaigns[campaign]["money"]]
            for target in targets:
                key = (kind, currency)
                target.costs[key] = target.costs.get(key, Decimal(0)) + amount
        return money, campaigns

    async def _marketing(
        self, read: Read, money: Money, by_campaign: dict[str, dict[str, Any]]
    ) -> MarketingSection:
        posts = {c.campaign: c for c in read.campaigns if c.campaign is not None}
        campaigns = []
        for name in sorted(set(posts) | set(by_campaign)):
            found = by_campaign.get(name) or {
                "visits": None,
                "leads": None,
                "sales": None,
                "money": Money(),
            }
            spent: Money = found["money"]
            cost = spent.cost()
            currency = spent.one()
            revenue = (
                sum(spent.revenue.values(), Decimal(0)) if currency and spent.revenue else None
            )
            campaigns.append(
                CampaignResultsOut(
                    campaign=name,
                    posts=posts[name].posts if name in posts else 0,
                    link_clicks=posts[name].link_clicks if name in posts else None,
                    visits=found["visits"],
                    leads=found["leads"],
                    sales=found["sales"],
                    revenue=_money(revenue),
                    cost=_money(cost),
                    currency=currency,
                    roi=roi(revenue, cost),
                    cost_per_lead=kpis.ratio(float(cost) if cost else None, found["leads"]),
                )
            )
        total = {
            name: _sum(c[name] for c in by_campaign.values())
            for name in ("visits", "leads", "sales")
        }
        cost = money.cost()
        return MarketingSection(
            link_clicks=read.current.link_clicks,
            click_through_rate=read.current.click_through_rate,
            visits=total["visits"],
            leads=total["leads"],
            sales=total["sales"],
            conversion_rate=kpis.ratio(total["leads"], total["visits"]),
            money=money.out(),
            cost_per_lead=kpis.ratio(float(cost) if cost else None, total["leads"]),
            campaigns=campaigns,
            utm_campaigns=read.utm_campaigns,
        )

    async def _communication(
        self, read: Read, coverage: Sequence[PressCoverage]
    ) -> CommunicationSection:
        zone = ZoneInfo(read.timezone)
        alerts: list[AlertOut] = []
        begin = datetime.combine(read.start, time(), zone)
        finish = datetime.combine(read.end + timedelta(days=1), time(), zone)
        tone: ToneOut | None = None
        response: ResponseOut | None = None
        by_network: list[ResponseOut] = []
        rows = await self.reads.comments(read.brand_id, begin, finish)
        if rows is not None:
            tone, response, by_network = comment_figures(rows)
        for started_at, reason in await self.reads.crises(read.brand_id, begin, finish):
            day = max(started_at.astimezone(zone).date(), read.start)
            alerts.append(AlertOut(kind="crisis", day=day, detail=f"Crisis mode: {reason}"))
        for entry in coverage:
            if entry.tone == "negative":
                detail = f"Negative coverage in {entry.outlet}" + (
                    f": {entry.title}" if entry.title else ""
                )
                alerts.append(
                    AlertOut(kind="negative_coverage", day=entry.published_on, detail=detail)
                )
        for network in read.networks:
            for channel in network.channels:
                lost = channel.current.audience_growth
                if lost is not None and lost < 0:
                    alerts.append(
                        AlertOut(
                            kind="audience_loss",
                            day=read.end,
                            detail=f"{channel.name} ({channel.network}) lost {-lost} followers",
                        )
                    )
        for name in ("engagement_rate_reach", "engagement_rate_followers"):
            drop = read.change.get(name)
            if drop is not None and drop <= ENGAGEMENT_DROP:
                basis = name.removeprefix("engagement_rate_")
                alerts.append(
                    AlertOut(
                        kind="engagement_drop",
                        day=read.end,
                        detail=f"Engagement by {basis} fell {-drop:.0%} from the previous period",
                    )
                )
        unread: dict[uuid.UUID, list[date]] = defaultdict(list)
        for gap in read.gaps:
            unread[gap.channel_id].append(gap.day)
        for channel_id, days in unread.items():
            alerts.append(
                AlertOut(
                    kind="gap",
                    day=min(days),
                    detail=f"Channel {channel_id} could not be read on {len(days)} day(s)",
                )
            )
        return CommunicationSection(
            reach=read.current.reach,
            impressions=read.current.impressions,
            audience_growth=read.current.audience_growth,
            audience_growth_rate=read.current.audience_growth_rate,
            comment_tone=tone,
            comment_tone_note=None if tone is not None else COMMENT_TONE_NOTE,
            comment_response=response,
            comment_response_by_network=by_network,
            coverage_tone=_tone(coverage),
            reputation_alerts=sorted(alerts, key=lambda a: (a.day, a.kind)),
        )

    @staticmethod
    def _press(read: Read, coverage: Sequence[PressCoverage], money: Money) -> PressSection:
        audience = _sum(e.audience for e in coverage)
        attention = kpis.add(read.current.reach, audience)
        cost = money.cost()
        return PressSection(
            coverage_count=sum(1 for e in coverage if e.kind == "press"),
            coverage_audience=audience,
            influencer_mentions=sum(1 for e in coverage if e.kind == "influencer"),
            coverage_tone=_tone(coverage),
            content_views=read.current.impressions
            if read.current.impressions is not None
            else read.current.video_views,
            earned_attention=attention,
            roa=kpis.ratio(attention, float(cost) if cost else None),
            coverage=[
                CoverageOut(
                    id=e.id,
                    kind=CoverageKind(e.kind),
                    outlet=e.outlet,
                    published_on=e.published_on,
                    url=e.url,
                    title=e.title,
                    audience=e.audience,
                    tone=e.tone,
                    note=e.note,
                )
                for e in coverage
            ],
        )


def _sum(values: Iterable[int | None]) -> int | None:
    total: int | None = None
    for value in values:
        total = kpis.add(total, value)
    return total
