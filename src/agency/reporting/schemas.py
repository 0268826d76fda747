"""A brand's report as the API (and the report e-mails, exports) give it."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

import msgspec

from agency.brand.schemas import ReportingLine
from agency.channel.schemas import ChannelHealth
from agency.kernel.schemas import Input, Locale, Output
from agency.reporting.kpis import Figures, Regularity


class FiguresOut(Output):
    """The KPIs of one period; ``null`` is "not available" (see docs/reporting.md)."""

    posts: int
    impressions: int | None
    reach: int | None
    reactions: int | None
    comments: int | None
    shares: int | None
    saves: int | None
    link_clicks: int | None
    video_views: int | None
    interactions: int | None
    engagement_rate_reach: float | None
    engagement_rate_followers: float | None
    followers: int | None
    audience_growth: int | None
    audience_growth_rate: float | None
    click_through_rate: float | None
    interactions_per_post: float | None
    gap_days: int

    @classmethod
    def of(cls, figures: Figures) -> FiguresOut:
        return cls(**{name: getattr(figures, name) for name in Figures.names()})


class RegularityOut(Output):
    """Publishing frequency and regularity against the queue slots."""

    posts: int
    weeks: float
    posts_per_week: float | None
    slots_planned: int
    slots_kept: int
    regularity: float | None
    longest_silence_days: float | None

    @classmethod
    def of(cls, found: Regularity) -> RegularityOut:
        return cls(**dataclasses.asdict(found))


class PeriodOut(Output):
    """Local days of the brand's time zone, both included."""

    start: date
    end: date
    days: int


class ChannelBreakdown(Output):
    channel_id: uuid.UUID
    name: str
    handle: str | None
    network: str
    health: ChannelHealth
    current: FiguresOut
    previous: FiguresOut
    change: dict[str, float | None]
    publishing: RegularityOut


class NetworkBreakdown(Output):
    network: str
    # Which engagement rate this network's row is judged by ("reach" or "followers").
    engagement_basis: str
    engagement_rate: float | None
    current: FiguresOut
    previous: FiguresOut
    change: dict[str, float | None]
    channels: list[ChannelBreakdown]


class CampaignBreakdown(Output):
    """Posts of the period grouped by their publication's campaign (``null``: none)."""

    campaign: str | None
    posts: int
    impressions: int | None
    reach: int | None
    interactions: int | None
    link_clicks: int | None
    engagement_rate_reach: float | None


class PostOut(Output):
    variant_id: uuid.UUID
    publication_id: uuid.UUID
    channel_id: uuid.UUID
    network: str
    title: str
    post_url: str | None
    published_at: datetime
    campaign: str | None
    impressions: int | None
    reach: int | None
    reactions: int | None
    comments: int | None
    shares: int | None
    saves: int | None
    link_clicks: int | None
    video_views: int | None
    interactions: int | None


class GapOut(Output):
    """A day a channel could not be read (its figures are missing, not zero)."""

    channel_id: uuid.UUID
    day: date
    reason: str


class BrandReport(Output):
    """One brand's consolidated report for a period, compared with the period before."""

    brand_id: uuid.UUID
    brand_name: str
    timezone: str
    locale: Locale
    line: ReportingLine
    period: PeriodOut
    previous_period: PeriodOut
    generated_at: datetime
    current: FiguresOut
    previous: FiguresOut
    change: dict[str, float | None]
    publishing: RegularityOut
    networks: list[NetworkBreakdown]
    campaigns: list[CampaignBreakdown]
    best_posts: list[PostOut]
    worst_posts: list[PostOut]
    gaps: list[GapOut]
    # Every line's section, whichever ``line`` the report speaks to: the one-page summary
    # reads all of them (docs/reporting.md, "Reporting lines").
    lines: LineSections


# -- the reporting lines ---------------------------------------------------------------------


class MoneyOut(Output):
    """Amounts of one currency (``null``: nothing entered, or several currencies), as
    numbers with two decimals."""

    currency: str | None
    revenue: float | None
    cost: float | None
    production_cost: float | None
    paid_cost: float | None
    roi: float | None


class CampaignResultsOut(Output):
    campaign: str
    posts: int
    link_clicks: int | None
    visits: int | None
    leads: int | None
    sales: int | None
    revenue: float | None
    cost: float | None
    currency: str | None
    roi: float | None
    cost_per_lead: float | None


class UtmOut(Output):
    """Link clicks of the posts whose links carried this ``utm_campaign``."""

    utm_campaign: str
    posts: int
    link_clicks: int | None


class MarketingSection(Output):
    link_clicks: int | None
    click_through_rate: float | None
    visits: int | None
    leads: int | None
    sales: int | None
    conversion_rate: float | None
    money: MoneyOut
    cost_per_lead: float | None
    campaigns: list[CampaignResultsOut]
    utm_campaigns: list[UtmOut]


class ToneOut(Output):
    positive: int
    neutral: int
    negative: int


class ResponseOut(Output):
    """First-response times of the comments that expect an answer (the inbox's)."""

    network: str | None  # None: every network of the brand
    messages: int
    answered: int
    median_seconds: float | None
    p90_seconds: float | None
    # Of the comments with a deadline (the brand's SLA), the share answered by it.
    within_sla: float | None


class AlertOut(Output):
    """Something to look at for the brand's reputation in the period."""

    kind: Literal["crisis", "negative_coverage", "audience_loss", "engagement_drop", "gap"]
    day: date
    detail: str


class CommunicationSection(Output):
    reach: int | None
    impressions: int | None
    audience_growth: int | None
    audience_growth_rate: float | None
    # The tone of the comments the brand received and how fast they were answered, from the
    # inbox; not available (``comment_tone_note`` says why) when the inbox reads none of the
    # brand's channels, rather than zeros.
    comment_tone: ToneOut | None
    comment_tone_note: str | None
    comment_response: ResponseOut | None
    comment_response_by_network: list[ResponseOut]
    coverage_tone: ToneOut
    reputation_alerts: list[AlertOut]


class CoverageOut(Output):
    id: uuid.UUID
    kind: CoverageKind
    outlet: str
    published_on: date
    url: str | None
    title: str | None
    audience: int | None
    tone: str
    note: str | None


class PressSection(Output):
    coverage_count: int
    coverage_audience: int | None
    influencer_mentions: int
    coverage_tone: ToneOut
    content_views: int | None
    earned_attention: int | None
    roa: float | None
    coverage: list[CoverageOut]


class ManagementSection(Output):
    """The one-page summary: the headline of each line, and the RONI argument."""

    posts: int
    reach: int | None
    interactions: int | None
    engagement_rate_reach: float | None
    audience_growth: int | None
    leads: int | None
    sales: int | None
    roi: float | None
    coverage_count: int
    reputation_alerts: int
    roni: str | None


class LineSections(Output):
    marketing: MarketingSection
    communication: CommunicationSection
    press_relations: PressSection
    management: ManagementSection


# -- entries: the client's results, costs, press coverage, saved reports ---------------------

Campaign = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Count = Annotated[int, msgspec.Meta(ge=0, le=10**12)]
# Checked by the service (msgspec bounds no Decimal): 0 or more, two decimals at most.
Amount = Decimal
Currency = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
Note = Annotated[str, msgspec.Meta(max_length=1000)]
LongText = Annotated[str, msgspec.Meta(max_length=20000)]
CsvText = Annotated[str, msgspec.Meta(min_length=1, max_length=1_000_000)]


class CostKind(StrEnum):
    PRODUCTION = "production"
    PAID = "paid"
    OTHER = "other"


class Tone(StrEnum):
    POSITIVE = "positive"
    NEUTRAL = "neutral"
    NEGATIVE = "negative"


class CoverageKind(StrEnum):
    PRESS = "press"
    INFLUENCER = "influencer"


class CampaignResultIn(Input):
    campaign: Campaign
    day: date
    visits: Count | None = None
    leads: Count | None = None
    sales: Count | None = None
    revenue: Amount | None = None
    currency: Currency = "EUR"


class CampaignResultsImport(Input):
    """Rows sent as JSON (``rows``), or a CSV file's text (``csv``): one of the two."""

    rows: Annotated[list[CampaignResultIn], msgspec.Meta(max_length=5000)] | None = None
    csv: CsvText | None = None
    dry_run: bool = False


class CampaignResultOut(Output):
    id: uuid.UUID
    campaign: str
    day: date
    visits: int | None
    leads: int | None
    sales: int | None
    revenue: float | None
    currency: str


class ImportRowProblem(Output):
    row: int
    field: str
    message: str


class ImportReport(Output):
    """All rows or none: ``accepted`` rows written (0 on a dry run or any problem)."""

    rows: int
    accepted: int
    dry_run: bool
    problems: list[ImportRowProblem]


class CostIn(Input):
    day: date
    kind: CostKind
    amount: Amount
    currency: Currency = "EUR"
    campaign: Campaign | None = None
    note: Note | None = None


class CostOut(Output):
    id: uuid.UUID
    brand_id: uuid.UUID
    day: date
    kind: CostKind
    amount: float
    currency: str
    campaign: str | None
    note: str | None


class CoverageIn(Input):
    outlet: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    published_on: date
    tone: Tone
    kind: CoverageKind = CoverageKind.PRESS
    url: Annotated[str, msgspec.Meta(max_length=2000, pattern=r"^https?://")] | None = None
    title: Annotated[str, msgspec.Meta(max_length=300)] | None = None
    audience: Count | None = None
    note: Note | None = None


class CoverageImport(Input):
    """Entries sent as JSON (``rows``), or a CSV file's text (``csv``): one of the two."""

    rows: Annotated[list[CoverageIn], msgspec.Meta(max_length=5000)] | None = None
    csv: CsvText | None = None
    dry_run: bool = False


class SavedReportIn(Input):
    start: date
    end: date
    line: ReportingLine | None = None
    worked: LongText = ""
    corrections: LongText = ""
    roni: LongText = ""
    shared: bool = False


class SavedReportUpdate(Input):
    """The commentary and sharing; the figures never change."""

    worked: LongText | msgspec.UnsetType = msgspec.UNSET
    corrections: LongText | msgspec.UnsetType = msgspec.UNSET
    roni: LongText | msgspec.UnsetType = msgspec.UNSET
    shared: bool | msgspec.UnsetType = msgspec.UNSET


class SavedReportSummary(Output):
    id: uuid.UUID
    brand_id: uuid.UUID
    start: date
    end: date
    line: ReportingLine
    shared: bool
    created_at: datetime
    version: int
    # What an edit sends in If-Match (the ETag its GET answers with), so a list can edit.
    etag: str


class SavedReportOut(SavedReportSummary):
    worked: str
    corrections: str
    roni: str
    report: BrandReport


class SavedReportPage(Output):
    items: list[SavedReportSummary]
    next_cursor: str | None


# -- the agency's consolidation --------------------------------------------------------------


class BrandLine(Output):
    brand_id: uuid.UUID
    brand_name: str
    current: AgencyFiguresOut
    previous: AgencyFiguresOut


class AgencyFiguresOut(Output):
    """What brand rollups give (follower counts are per channel: see brand reports)."""

    posts: int
    impressions: int | None
    reach: int | None
    interactions: int | None
    engagement_rate_reach: float | None
    link_clicks: int | None
    video_views: int | None
    audience_growth: int | None


class AgencyReport(Output):
    start: date
    end: date
    previous_start: date
    previous_end: date
    generated_at: datetime
    current: AgencyFiguresOut
    previous: AgencyFiguresOut
    change: dict[str, float | None]
    brands: list[BrandLine]
