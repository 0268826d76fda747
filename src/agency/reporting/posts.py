"""A period's posts, read once (one statement) and turned into everything a report says of
them: best and worst by interactions, campaigns, UTM-tagged links, publishing times.

A brand publishes tens to a few thousand posts a month; reading them once and counting here
costs less than a statement per figure (each round trip and its statement cost more than
adding up a few hundred rows).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agency.reporting import kpis
from agency.reporting.measures import contribution
from agency.reporting.models import POST_MEASURES
from agency.reporting.schemas import CampaignBreakdown, PostOut, UtmOut

# The columns :func:`period_posts` reads, in order.
COLUMNS = (
    "id",
    "publication_id",
    "channel_id",
    "network",
    "title",
    "post_url",
    "published_at",
    "campaign",
    "utm_campaign",
    *POST_MEASURES,
    "interactions",
)
RANKED = 5


@dataclass(frozen=True)
class PeriodPosts:
    rows: Sequence[Any]

    def times(self) -> dict[uuid.UUID, list[datetime]]:
        found: dict[uuid.UUID, list[datetime]] = defaultdict(list)
        for row in self.rows:
            found[row.channel_id].append(row.published_at)
        return found

    def ranked(self, best: bool) -> list[PostOut]:
        """The posts with the most (fewest) interactions; those without any figure are in
        neither list. Ties: the earlier post first."""
        measured = [r for r in self.rows if r.interactions is not None]
        ordered = sorted(
            measured,
            key=lambda r: (-r.interactions if best else r.interactions, r.published_at),
        )
        return [_post(r) for r in ordered[:RANKED]]

    def campaigns(self) -> list[CampaignBreakdown]:
        groups: dict[str | None, list[Any]] = defaultdict(list)
        for row in self.rows:
            groups[row.campaign].append(row)
        found = []
        for campaign in sorted(groups, key=lambda c: (c is None, c or "")):
            sums = kpis.Sums(posts=len(groups[campaign]))
            for row in groups[campaign]:
                part = contribution({name: getattr(row, name) for name in POST_MEASURES})
                sums.values = {k: kpis.add(sums.values[k], part[k]) for k in kpis.SUMMED}
            values = sums.values
            found.append(
                CampaignBreakdown(
                    campaign=campaign,
                    posts=sums.posts,
                    impressions=values["impressions"],
                    reach=values["reach"],
                    interactions=values["interactions"],
                    link_clicks=values["link_clicks"],
                    engagement_rate_reach=kpis.ratio(values["reach_interactions"], values["reach"]),
                )
            )
        return found

    def utm_campaigns(self) -> list[UtmOut]:
        groups: dict[str, list[Any]] = defaultdict(list)
        for row in self.rows:
            if row.utm_campaign is not None:
                groups[row.utm_campaign].append(row)
        return [
            UtmOut(
                utm_campaign=name,
                posts=len(rows),
                link_clicks=_total(r.link_clicks for r in rows),
            )
            for name, rows in sorted(groups.items())
        ]


def _total(values: Any) -> int | None:
    total: int | None = None
    for value in values:
        total = kpis.add(total, value)
    return total


def _post(row: Any) -> PostOut:
    return PostOut(
        variant_id=row.id,
        publication_id=row.publication_id,
        channel_id=row.channel_id,
        network=row.network,
        title=row.title,
        post_url=row.post_url,
        published_at=row.published_at,
        campaign=row.campaign,
        **{name: getattr(row, name) for name in (*POST_MEASURES, "interactions")},
    )
