"""Metrics as time series: raw snapshots, the pull schedule, and the daily rollups.

- :class:`MetricSnapshot` is what a network answered, once per pull (its key is the pull's
  point on the rhythm, so the same pull twice is one row). On PostgreSQL the table is
  partitioned by month of that point; nothing on the request path reads it.
- :class:`PostMetric` is one published variant: when it is read next, and its latest
  figures (best and worst posts, campaigns are read here).
- :class:`ChannelMetric` is one channel's account pulls: next one, Retry-After, last count.
- :class:`ChannelDay` and :class:`BrandDay` are the rollups, one row per channel (brand) and
  local day, kept current as snapshots land: a report reads these and nothing else.

A measure a network does not give stays NULL everywhere ("not available"), never 0.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from agency.kernel.db import Base, IdMixin, TimestampMixin
from agency.kernel.tenancy import TenantMixin

# The common measures of a post, in the order reports show them.
POST_MEASURES = (
    "impressions",
    "reach",
    "reactions",
    "comments",
    "shares",
    "saves",
    "link_clicks",
    "video_views",
)
# Reactions, comments, shares and saves: what "interactions" adds up.
INTERACTION_MEASURES = ("reactions", "comments", "shares", "saves")


class _PostMeasures:
    impressions: Mapped[int | None] = mapped_column(BigInteger)
    reach: Mapped[int | None] = mapped_column(BigInteger)
    reactions: Mapped[int | None] = mapped_column(BigInteger)
    comments: Mapped[int | None] = mapped_column(BigInteger)
    shares: Mapped[int | None] = mapped_column(BigInteger)
    saves: Mapped[int | None] = mapped_column(BigInteger)
    link_clicks: Mapped[int | None] = mapped_column(BigInteger)
    video_views: Mapped[int | None] = mapped_column(BigInteger)


class _Rollup(_PostMeasures):
    posts: Mapped[int] = mapped_column(default=0)
    # Sums of per-post interactions: all posts, and only those that give reach (the
    # numerator of the engagement rate by reach, so both sides count the same posts).
    interactions: Mapped[int | None] = mapped_column(BigInteger)
    reach_interactions: Mapped[int | None] = mapped_column(BigInteger)
    # Followers gained (or lost) that day, from the account pulls.
    followers_change: Mapped[int | None] = mapped_column(BigInteger)


class MetricSnapshot(_PostMeasures, TenantMixin, Base):
    """One pull's answer, kept as the network gave it (``raw``) and mapped to measures."""

    __tablename__ = "metric_snapshots"

    # No surrogate id: the pull's own key is the primary key (it includes the partition key,
    # as PostgreSQL requires of a partitioned table's unique constraints).
    __table_args__ = (
        PrimaryKeyConstraint("agency_id", "kind", "target_id", "due_at"),
        {"postgresql_partition_by": "RANGE (due_at)"},
    )

    # "post" (target: the variant) or "account" (target: the channel)
    kind: Mapped[str] = mapped_column(String(10))
    target_id: Mapped[uuid.UUID]
    # The pull's point on the rhythm (publication + 1 h, a day's account pull...): the same
    # pull taken twice has the same key, whenever the worker ran.
    due_at: Mapped[datetime]
    brand_id: Mapped[uuid.UUID]
    channel_id: Mapped[uuid.UUID]
    network: Mapped[str] = mapped_column(String(40))
    taken_at: Mapped[datetime]
    # ok | gap (not pulled: the channel needs reconnecting...) | rejected (nonsense answer)
    outcome: Mapped[str] = mapped_column(String(10))
    note: Mapped[str | None] = mapped_column(String(500))
    followers: Mapped[int | None] = mapped_column(BigInteger)
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PostMetric(_PostMeasures, TenantMixin, TimestampMixin, Base):
    """A published variant followed by the collection: its rhythm and its latest figures."""

    __tablename__ = "metric_posts"
    __tenant_indexes__ = (
        # Best and worst posts, campaigns: a brand's posts of a period.
        Index("ix_metric_posts_agency_brand_day", "agency_id", "brand_id", "day"),
        # The scheduler's claim runs across agencies, by due time.
        Index("ix_metric_posts_next_pull_at", "next_pull_at"),
    )

    # The variant's own id: one row per published variant.
    id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("publication_variants.id", ondelete="CASCADE"), primary_key=True
    )
    publication_id: Mapped[uuid.UUID]
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    network: Mapped[str] = mapped_column(String(40))
    # The post's id at the network (what the connector reads the metrics of).
    post_id: Mapped[str] = mapped_column(String(300))
    title: Mapped[str] = mapped_column(String(200))
    post_url: Mapped[str | None] = mapped_column(String(2000))
    campaign: Mapped[str | None] = mapped_column(String(100))
    utm_campaign: Mapped[str | None] = mapped_column(String(200))
    published_at: Mapped[datetime]
    # The publication's day in the brand's time zone: the rollup row its figures go to.
    day: Mapped[date] = mapped_column(Date)
    # Index of the next step of the rhythm; next_pull_at None once the last one is taken.
    step: Mapped[int] = mapped_column(default=0)
    next_pull_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    # The latest pull recorded, by its point on the rhythm: an older one arriving late is
    # kept raw but does not move the latest figures back.
    last_due_at: Mapped[datetime | None]
    interactions: Mapped[int | None] = mapped_column(BigInteger)


class ChannelMetric(TenantMixin, TimestampMixin, Base):
    """A channel's account pulls: when the next is due, and what the last one said."""

    __tablename__ = "metric_channels"
    __tenant_indexes__ = (Index("ix_metric_channels_next_pull_at", "next_pull_at"),)

    id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True
    )
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    network: Mapped[str] = mapped_column(String(40))
    next_pull_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    # The network said Retry-After: no pull of this channel (account or posts) before this.
    blocked_until: Mapped[datetime | None]
    followers: Mapped[int | None] = mapped_column(BigInteger)
    followers_due_at: Mapped[datetime | None]


class ChannelDay(_Rollup, TenantMixin, Base):
    """One channel on one local day of its brand: posts published that day and their
    figures, the followers counted that day, and whether a pull was missed (a gap)."""

    __tablename__ = "metric_channel_days"

    __table_args__ = (
        PrimaryKeyConstraint("agency_id", "channel_id", "day"),
        Index("ix_metric_channel_days_agency_brand_day", "agency_id", "brand_id", "day"),
    )

    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    network: Mapped[str] = mapped_column(String(40))
    followers: Mapped[int | None] = mapped_column(BigInteger)
    gap: Mapped[str | None] = mapped_column(String(500))


class BrandDay(_Rollup, TenantMixin, Base):
    """One brand on one of its local days: every channel's figures added up."""

    __tablename__ = "metric_brand_days"

    __table_args__ = (
        PrimaryKeyConstraint("agency_id", "brand_id", "day"),
        # The agency's consolidation: every brand of a period.
        Index("ix_metric_brand_days_agency_day", "agency_id", "day"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)


# -- what the reporting lines add: the client's results, costs, press coverage ---------------


class CampaignResult(IdMixin, TenantMixin, TimestampMixin, Base):
    """A campaign's results on one day, as the client measured them (their site, their
    shop): imported by CSV or through the API, one row per brand, campaign and day."""

    __tablename__ = "report_campaign_results"
    __tenant_indexes__ = (
        Index(
            "uq_report_campaign_results_day",
            "agency_id",
            "brand_id",
            "campaign",
            "day",
            unique=True,
        ),
        Index("ix_report_campaign_results_brand_day", "agency_id", "brand_id", "day"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    campaign: Mapped[str] = mapped_column(String(100))
    day: Mapped[date] = mapped_column(Date)
    visits: Mapped[int | None] = mapped_column(BigInteger)
    leads: Mapped[int | None] = mapped_column(BigInteger)
    sales: Mapped[int | None] = mapped_column(BigInteger)
    revenue: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3))


class Cost(IdMixin, TenantMixin, TimestampMixin, Base):
    """Money spent for a brand on a day: production or paid promotion, for a campaign or
    the brand as a whole (the denominator of ROI and ROA)."""

    __tablename__ = "report_costs"
    __tenant_indexes__ = (Index("ix_report_costs_brand_day", "agency_id", "brand_id", "day"),)

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    campaign: Mapped[str | None] = mapped_column(String(100))
    day: Mapped[date] = mapped_column(Date)
    # production | paid | other
    kind: Mapped[str] = mapped_column(String(20))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3))
    note: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[uuid.UUID | None]


class PressCoverage(IdMixin, TenantMixin, TimestampMixin, Base):
    """One piece of press coverage (*retombée presse*) or influencer mention of the brand."""

    __tablename__ = "press_coverage"
    __tenant_indexes__ = (
        Index("ix_press_coverage_brand_day", "agency_id", "brand_id", "published_on"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    # press | influencer
    kind: Mapped[str] = mapped_column(String(20))
    outlet: Mapped[str] = mapped_column(String(200))
    published_on: Mapped[date] = mapped_column(Date)
    url: Mapped[str | None] = mapped_column(String(2000))
    title: Mapped[str | None] = mapped_column(String(300))
    audience: Mapped[int | None] = mapped_column(BigInteger)
    # positive | neutral | negative
    tone: Mapped[str] = mapped_column(String(10))
    note: Mapped[str | None] = mapped_column(String(1000))
    created_by: Mapped[uuid.UUID | None]


class SavedReport(IdMixin, TenantMixin, TimestampMixin, Base):
    """A report kept as it was: its figures never change; the community manager's
    commentary (what worked, what we correct) and RONI argument sit next to them."""

    __tablename__ = "saved_reports"
    __tenant_indexes__ = (
        Index("ix_saved_reports_brand_period", "agency_id", "brand_id", "period_start"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    line: Mapped[str] = mapped_column(String(30))
    # The BrandReport as it was read, exactly (msgspec's JSON of it).
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
    worked: Mapped[str] = mapped_column(Text, default="")
    corrections: Mapped[str] = mapped_column(Text, default="")
    roni: Mapped[str] = mapped_column(Text, default="")
    # Shown to the brand's client members (those who may read reports).
    shared: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[uuid.UUID | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}
