"""What a pull's answer does: one raw snapshot, and the rollups moved by what changed.

The snapshot is written first, keyed by the pull's point on the rhythm; when that key is
already there (the same pull taken twice: a message delivered twice, a worker retried),
nothing else happens. Otherwise a post's latest figures move to the new answer and the
difference is added to its channel's and brand's day: the rollups always equal the latest
figures of every post, added up per day, without reading a raw row again. An answer that
makes no sense (negative counts...) is recorded, and kept out of the rollups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from agency.kernel.tenancy import Subject
from agency.reporting import measures
from agency.reporting.measures import Measured
from agency.reporting.models import POST_MEASURES, ChannelMetric, PostMetric
from agency.reporting.repository import (
    DayChange,
    PostMetricRepository,
    RollupRepository,
    SnapshotRepository,
)

OK, GAP, REJECTED = "ok", "gap", "rejected"


def local_day(moment: datetime, timezone: str) -> date:
    return moment.astimezone(ZoneInfo(timezone)).date()


def post_row(
    variant: Any, publication: Any, timezone: str, first_pull: datetime | None
) -> dict[str, Any]:
    """The :class:`PostMetric` fields of a published variant (a ``Variant`` and its
    ``Publication``, or rows with their columns), its day in the brand's ``timezone``."""
    published_at: datetime = variant.published_at
    utm = publication.utm or {}
    return {
        "id": variant.id,
        "publication_id": publication.id,
        "brand_id": variant.brand_id,
        "channel_id": variant.channel_id,
        "network": variant.network,
        "post_id": variant.post_id,
        "title": (publication.title or "")[:200],
        "post_url": variant.post_url,
        "campaign": publication.campaign,
        "utm_campaign": (utm.get("utm_campaign") or utm.get("campaign") or None),
        "published_at": published_at,
        "day": local_day(published_at, timezone),
        "step": 0,
        "next_pull_at": first_pull,
    }


class Collector:
    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.session = session
        self.subject = subject
        self.snapshots = SnapshotRepository(session, subject)
        self.rollups = RollupRepository(session, subject)
        self.posts = PostMetricRepository(session, subject)

    async def enrol(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Follow published variants (``PostMetric`` fields); each new one counts as a post
        of its day. Variants already followed are left as they are."""
        added = set(await self.posts.enrol(rows))
        await self.rollups.apply(
            [
                DayChange(row["channel_id"], row["brand_id"], row["network"], row["day"], posts=1)
                for row in rows
                if row["id"] in added
            ]
        )
        return len(added)

    async def post_answer(
        self, post: PostMetric, due_at: datetime, taken_at: datetime, measured: Measured
    ) -> str:
        """Record a post's figures for the pull due at ``due_at``: ``ok``; ``rejected``
        (nonsense, kept out of the rollups); ``seen`` (this pull was recorded before: nothing
        changed); ``late`` (an older pull than the latest: kept raw only)."""
        wrong = measures.nonsense(measured)
        outcome = REJECTED if wrong else OK
        written = await self.snapshots.insert(
            kind="post",
            target_id=post.id,
            due_at=due_at,
            brand_id=post.brand_id,
            channel_id=post.channel_id,
            network=post.network,
            taken_at=taken_at,
            outcome=outcome,
            note=wrong,
            raw=dict(measured.raw),
            **{name: None if wrong else measured.get(name) for name in POST_MEASURES},
        )
        if not written:
            return "seen"
        if wrong:
            return outcome
        if post.last_due_at is not None and due_at < post.last_due_at:
            return "late"  # kept raw; the latest figures are newer
        old = {name: getattr(post, name) for name in POST_MEASURES}
        new = measures.latest(old, measured.values)
        change = measures.delta(measures.contribution(old), measures.contribution(new))
        for name, value in new.items():
            setattr(post, name, value)
        post.interactions = measures.interactions(new)
        post.last_due_at = due_at
        await self.rollups.apply(
            [DayChange(post.channel_id, post.brand_id, post.network, post.day, values=change)]
        )
        return outcome

    async def post_gap(
        self, post: PostMetric, due_at: datetime, taken_at: datetime, why: str
    ) -> None:
        """The pull could not be made (the channel needs reconnecting): said, not zero."""
        await self.snapshots.insert(
            kind="post",
            target_id=post.id,
            due_at=due_at,
            brand_id=post.brand_id,
            channel_id=post.channel_id,
            network=post.network,
            taken_at=taken_at,
            outcome=GAP,
            note=why[:500],
            raw={},
        )

    async def account_answer(
        self,
        channel: ChannelMetric,
        due_at: datetime,
        taken_at: datetime,
        measured: Measured,
        timezone: str,
    ) -> str:
        """Record an account's follower count for its daily pull due at ``due_at``."""
        wrong = measures.nonsense(measured)
        followers = None if wrong else measured.get("followers")
        written = await self.snapshots.insert(
            kind="account",
            target_id=channel.id,
            due_at=due_at,
            brand_id=channel.brand_id,
            channel_id=channel.id,
            network=channel.network,
            taken_at=taken_at,
            outcome=REJECTED if wrong else OK,
            note=wrong,
            raw=dict(measured.raw),
            followers=followers,
        )
        if not written:
            return "seen"
        if wrong:
            return REJECTED
        if followers is None:
            return OK  # the network gives no count: not available, and no change either
        change = None
        newest = channel.followers_due_at is None or due_at > channel.followers_due_at
        if newest:
            if channel.followers is not None:
                change = followers - channel.followers
            channel.followers = followers
            channel.followers_due_at = due_at
        await self.rollups.apply(
            [
                DayChange(
                    channel.id,
                    channel.brand_id,
                    channel.network,
                    local_day(due_at, timezone),
                    followers=followers,
                    followers_change=change,
                )
            ]
        )
        return OK

    async def account_gap(
        self,
        channel: ChannelMetric,
        due_at: datetime,
        taken_at: datetime,
        why: str,
        timezone: str,
    ) -> None:
        """The day's pull could not be made: the day is marked, its figures stay missing."""
        written = await self.snapshots.insert(
            kind="account",
            target_id=channel.id,
            due_at=due_at,
            brand_id=channel.brand_id,
            channel_id=channel.id,
            network=channel.network,
            taken_at=taken_at,
            outcome=GAP,
            note=why[:500],
            raw={},
        )
        if written:
            await self.rollups.apply(
                [
                    DayChange(
                        channel.id,
                        channel.brand_id,
                        channel.network,
                        local_day(due_at, timezone),
                        gap=why[:500],
                    )
                ]
            )
