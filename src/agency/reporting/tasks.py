"""Collection as due work: the scheduler's claims, the pull jobs, and the daily follow-up.

- ``reporting.follow`` (periodic, every minute): posts published lately and channels not yet
  followed start being followed; the raw table's partitions for the months ahead exist.
- The claimers lease due pulls (``FOR UPDATE SKIP LOCKED``) and enqueue them per agency in
  batches; a lost message is claimed again when its lease ends, a duplicate finds its rows
  already read (and a pull recorded twice is one snapshot anyway).
- ``reporting.retain_snapshots`` (periodic, every 6 hours): raw snapshots older than
  ``AGENCY_REPORTING__RAW_RETENTION_MONTHS`` go, a whole monthly partition at a time; the
  rollups stay, so every report reads the same after.
- Pulls run on their own queue, ``reporting``: reading numbers never delays a post.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from dateutil.relativedelta import relativedelta
from sqlalchemy.ext.asyncio import AsyncSession

from agency.kernel.db import utcnow
from agency.kernel.jobs import enqueue, job
from agency.kernel.runtime import Runtime
from agency.kernel.scheduling import backlog, claimer, periodic
from agency.kernel.tenancy import Subject, bind_system, bind_tenant
from agency.reporting.collecting import Collector, post_row
from agency.reporting.pulling import Puller, rhythm
from agency.reporting.repository import ChannelMetricRepository, MetricSweepRepository

QUEUE = "reporting"
FOLLOW_EVERY = timedelta(minutes=1)
FOLLOW_BATCH = 2000
MONTHS_AHEAD = 3

RETAIN_EVERY = timedelta(hours=6)

periodic("reporting.follow", every=FOLLOW_EVERY)
periodic("reporting.retain_snapshots", every=RETAIN_EVERY)


def _batches(
    rows: Sequence[tuple[uuid.UUID, uuid.UUID]], size: int
) -> list[tuple[uuid.UUID, list[str]]]:
    by_agency: dict[uuid.UUID, list[str]] = defaultdict(list)
    for agency_id, object_id in rows:
        by_agency[agency_id].append(str(object_id))
    return [
        (agency_id, ids[start : start + size])
        for agency_id, ids in by_agency.items()
        for start in range(0, len(ids), size)
    ]


@claimer("metric_posts")
async def claim_post_pulls(session: AsyncSession, runtime: Runtime, now: datetime) -> int:
    settings = runtime.settings.reporting
    lease = now + timedelta(seconds=settings.lease_seconds)
    rows = await MetricSweepRepository(session).claim_posts(now, lease, settings.claim_batch)
    if len(rows) >= settings.claim_batch:
        backlog("metric_posts")
    for agency_id, ids in _batches([(r[0], r[1]) for r in rows], settings.pull_batch):
        enqueue("reporting.pull_posts", str(agency_id), ids)
    return len(rows)


@claimer("metric_accounts")
async def claim_account_pulls(session: AsyncSession, runtime: Runtime, now: datetime) -> int:
    settings = runtime.settings.reporting
    lease = now + timedelta(seconds=settings.lease_seconds)
    rows = await MetricSweepRepository(session).claim_accounts(now, lease, settings.claim_batch)
    if len(rows) >= settings.claim_batch:
        backlog("metric_accounts")
    for agency_id, ids in _batches([(r[0], r[1]) for r in rows], settings.pull_batch):
        enqueue("reporting.pull_accounts", str(agency_id), ids)
    return len(rows)


@job("reporting.pull_posts", queue=QUEUE, max_retries=0)
async def pull_posts(
    session: AsyncSession, runtime: Runtime, agency_id: str, post_ids: list[str]
) -> None:
    """No Dramatiq retry: the rows say what is due, and the claimer sends it again."""
    puller = Puller(session, uuid.UUID(agency_id), runtime)
    await puller.pull_posts([uuid.UUID(p) for p in post_ids])


@job("reporting.pull_accounts", queue=QUEUE, max_retries=0)
async def pull_accounts(
    session: AsyncSession, runtime: Runtime, agency_id: str, channel_ids: list[str]
) -> None:
    puller = Puller(session, uuid.UUID(agency_id), runtime)
    await puller.pull_accounts([uuid.UUID(c) for c in channel_ids])


def months_ahead(now: datetime) -> list[date]:
    """``now``'s month and the MONTHS_AHEAD after it."""
    this_month = now.date().replace(day=1)
    return [this_month + relativedelta(months=k) for k in range(MONTHS_AHEAD + 1)]


@job("reporting.follow", max_retries=0)
async def follow(session: AsyncSession, runtime: Runtime) -> None:
    """Start following what was published or connected lately (across agencies)."""
    await follow_new(session, runtime, utcnow())


async def follow_new(session: AsyncSession, runtime: Runtime, now: datetime) -> int:
    """Posts published within the window and channels not followed yet start being read;
    the months ahead get their partition. Returns the posts and channels now followed."""
    settings = runtime.settings.reporting
    await bind_system(session)
    sweep = MetricSweepRepository(session)
    await sweep.ensure_months(months_ahead(now))

    first = rhythm(runtime)[0]
    since = now - timedelta(hours=settings.enrol_window_hours)
    posts: dict[uuid.UUID, list[dict[str, object]]] = defaultdict(list)
    for variant, publication, timezone in await sweep.published_unfollowed(since, FOLLOW_BATCH):
        row = post_row(variant, publication, timezone, variant.published_at + first)
        posts[variant.agency_id].append(row)
    channels: dict[uuid.UUID, list[dict[str, object]]] = defaultdict(list)
    for agency_id, channel_id, brand_id, network in await sweep.channels_unfollowed(FOLLOW_BATCH):
        channels[agency_id].append(
            {"id": channel_id, "brand_id": brand_id, "network": network, "next_pull_at": now}
        )
    followed = 0
    for agency_id in sorted(set(posts) | set(channels)):
        # Each agency's rows are written as that agency (RLS checks what is inserted).
        await bind_tenant(session, agency_id)
        subject = Subject(agency_id=agency_id, kind="system")
        followed += await Collector(session, subject).enrol(posts.get(agency_id, []))
        await ChannelMetricRepository(session, subject).add_many(channels.get(agency_id, []))
        followed += len(channels.get(agency_id, []))
    return followed


@job("reporting.retain_snapshots", max_retries=0)
async def retain_snapshots(session: AsyncSession, runtime: Runtime) -> None:
    """Drop the raw months past retention; make the months ahead (across agencies)."""
    await retain(session, runtime, utcnow())


def retention_cutoff(now: datetime, months: int) -> date:
    """The first month kept: ``months`` whole months before ``now``'s month."""
    return now.date().replace(day=1) - relativedelta(months=months)


async def retain(session: AsyncSession, runtime: Runtime, now: datetime) -> list[str]:
    """The partitions dropped (none when retention is 0: keep everything). Idempotent: a
    month dropped is gone, and running again finds nothing more to drop."""
    await bind_system(session)
    sweep = MetricSweepRepository(session)
    await sweep.ensure_months(months_ahead(now))
    months = runtime.settings.reporting.raw_retention_months
    if months <= 0:
        return []
    return await sweep.drop_months_before(retention_cutoff(now, months))
