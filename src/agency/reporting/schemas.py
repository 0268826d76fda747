"""A brand's report as the API (and the report e-mails, exports) give it."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import date, datetime

from agency.kernel.schemas import Output
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
    health: str
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
    locale: str
    line: str
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
