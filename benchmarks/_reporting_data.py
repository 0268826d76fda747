"""The data of the reporting benchmark, and its collection run.

The agency and its API token come from the app's own code; the bulk (brands, channels,
published posts, 10 million raw snapshots, the rollups they make) from SQL, as the owner
role with ``app.system`` on. The rollups are computed here from the raw rows in bulk (the
collection's incremental path equals that computation: tests/reporting/test_reporting.py checks it).
The collection run uses the app's own claim and worker code on fresh posts.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, ClassVar, cast

import psycopg
from sqlalchemy import insert
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.ext.asyncio import AsyncSession
from tests.support.servers import PostgresServer

from agency.access.permissions import ALL_PERMISSIONS, Permission
from agency.assembly import build_runtime
from agency.auth.service import CredentialService
from agency.channel.credentials import seal
from agency.channel.models import Channel
from agency.config import Settings
from agency.connector import (
    AccountMetrics,
    Capability,
    Connector,
    Credentials,
    Limits,
    PostMetrics,
)
from agency.connector.registry import Registry
from agency.kernel.db import new_id, utcnow
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import Subject, bind_system, bind_tenant
from agency.models import Base
from agency.publication.models import Publication, Variant
from agency.reporting.collecting import Collector, post_row
from agency.reporting.pulling import Puller
from agency.reporting.repository import (
    ChannelMetricRepository,
    MetricSweepRepository,
    ReportRepository,
)
from agency.reporting.service import FOLLOWERS_WINDOW, Period
from agency.tenant.service import bootstrap_agency
from benchmarks._data import APP_PW, APP_ROLE, DB, OWNER, OWNER_PW, UUID7_AT

NETWORKS = (
    "facebook",
    "instagram",
    "x",
    "linkedin",
    "youtube",
    "pinterest",
    "tiktok",
    "threads",
    "bluesky",
    "mastodon",
)
RHYTHM_HOURS = (1, 6, 24, 72, 168, 720)
DAYS = 395  # 13 months


@dataclass(frozen=True)
class Scale:
    brands: int
    channels_per_brand: int
    posts: int


FULL = Scale(brands=1000, channels_per_brand=10, posts=1_000_000)
QUICK = Scale(brands=100, channels_per_brand=10, posts=100_000)


@dataclass
class Seeded:
    agency_id: uuid.UUID
    token: str
    brand_ids: list[uuid.UUID]
    report_month: date
    counts: dict[str, int] = field(default_factory=dict)


def _insert_select(
    conn: psycopg.Connection[Any], table: str, values: Mapping[str, str], source: str
) -> int:
    """``INSERT INTO table (columns) SELECT values FROM source``, every required column of
    the model given (a column another change makes required fails here, not in PostgreSQL)."""
    model = Base.metadata.tables[table]
    required = {c.name for c in model.columns if not c.nullable and c.server_default is None}
    missing = required - set(values)
    if missing:
        raise RuntimeError(f"{table}: give a value for {sorted(missing)}")
    columns = ", ".join(values)
    exprs = ", ".join(values.values())
    cursor = conn.execute(f"INSERT INTO {table} ({columns}) SELECT {exprs} FROM {source}")
    return cursor.rowcount


def brand_columns(agency: str) -> dict[str, str]:
    """A brand's columns for ``_insert_select`` over ``generate_series(...) AS g``."""
    return {
        "id": "pg_temp.uuid7_at(now() - interval '400 days' + g * interval '1 second')",
        "agency_id": agency,
        "name": "'Brand ' || lpad(g::text, 4, '0')",
        "slug": "'brand-' || g",
        "timezone": "'Europe/Paris'",
        "locale": "'fr'",
        "reporting_line": "'marketing'",
        "editorial_charter": "'{}'",
        "community_charter": "'{}'",
        "network_objectives": "'{}'",
        "publish_grace_minutes": "60",
        "approval_policy": "'none'",
        "version": "1",
        "created_at": "now()",
    }


async def _agency(settings: Settings) -> tuple[uuid.UUID, str]:
    runtime = build_runtime(settings)
    try:
        async with runtime.session() as session:
            await bind_system(session)
            agency, _ = await bootstrap_agency(
                session,
                name="Bench agency",
                slug="bench-agency",
                owner_email="owner@bench.example",
                owner_name="Owner",
                owner_password=None,
            )
            await bind_tenant(session, agency.id)
            subject = Subject(agency_id=agency.id, kind="system", permissions=ALL_PERMISSIONS)
            issued = await CredentialService(session, subject).create_api_token(
                "benchmark", [Permission.REPORTS_READ.value, Permission.BRANDS_READ.value], None
            )
            await session.commit()
            return agency.id, issued.token
    finally:
        await runtime.dispose_current_loop()


def seed(pg: PostgresServer, settings: Settings, scale: Scale) -> Seeded:
    import asyncio

    agency_id, token = asyncio.run(_agency(settings))
    now = utcnow()
    first_day = (now - timedelta(days=DAYS)).date()
    counts: dict[str, int] = {}
    channels = scale.brands * scale.channels_per_brand
    with psycopg.connect(pg.url(OWNER, OWNER_PW, DB), autocommit=True) as conn:
        conn.execute("SELECT set_config('app.system', 'on', false)")
        conn.execute(UUID7_AT)
        conn.execute(
            "SELECT metric_snapshot_partition((date_trunc('month', now()) + m * interval "
            "'1 month')::date) FROM generate_series(-14, 2) AS m"
        )
        a = f"'{agency_id}'::uuid"
        counts["brands"] = _insert_select(
            conn,
            "brands",
            brand_columns(a),
            f"generate_series(1, {scale.brands}) AS g",
        )
        conn.execute(
            "CREATE TEMP TABLE bench_brand AS SELECT (row_number() OVER (ORDER BY id) - 1)::int "
            "AS n, id FROM brands"
        )
        networks = "ARRAY[" + ", ".join(f"'{n}'" for n in NETWORKS) + "]"
        counts["channels"] = _insert_select(
            conn,
            "channels",
            {
                "id": "pg_temp.uuid7_at(now() - interval '399 days' + g * interval '1 second')",
                "agency_id": a,
                "brand_id": "b.id",
                "network": f"({networks})[1 + g % {len(NETWORKS)}]",
                "account_id": "'acct-' || g",
                "account_kind": "'page'",
                "name": "'Account ' || g",
                "scopes": "'[]'",
                "refreshable": "false",
                "health": "'ok'",
                "connected_at": "now()",
                "version": "1",
                "created_at": "now()",
            },
            f"generate_series(0, {channels - 1}) AS g "
            f"JOIN bench_brand b ON b.n = g / {scale.channels_per_brand}",
        )
        conn.execute(
            "CREATE TEMP TABLE bench_channel AS SELECT (row_number() OVER (ORDER BY id) - 1)::int"
            " AS n, id, brand_id, network FROM channels"
        )
        conn.execute("CREATE UNIQUE INDEX ON bench_channel (n)")
        _posts(conn, a, scale, channels, first_day, counts)
        _snapshots(conn, a, first_day, counts)
        _rollups(conn, a, counts)
        conn.execute(
            "VACUUM (ANALYZE) brands, channels, publications, publication_variants, metric_posts,"
            " metric_channels, metric_channel_days, metric_brand_days, metric_snapshots"
        )
        brand_ids = [row[0] for row in conn.execute("SELECT id FROM bench_brand ORDER BY n")]
    last = now.date().replace(day=1) - timedelta(days=1)
    return Seeded(agency_id, token, brand_ids, last.replace(day=1), counts)


def _posts(
    conn: psycopg.Connection[Any],
    a: str,
    scale: Scale,
    channels: int,
    first_day: date,
    counts: dict[str, int],
) -> None:
    """Published posts spread evenly over the 13 months, round-robin over the channels."""
    chunk = 200_000
    span = f"(interval '{DAYS - 1} days' / {scale.posts})"
    start = f"'{first_day.isoformat()}'::timestamptz + interval '8 hours'"
    for low in range(0, scale.posts, chunk):
        high = min(low + chunk, scale.posts) - 1
        source = (
            f"generate_series({low}, {high}) AS g JOIN bench_channel c ON c.n = g % {channels} "
            f"CROSS JOIN LATERAL (SELECT {start} + g * {span}) AS t(at)"
        )
        _insert_select(
            conn,
            "publications",
            {
                "id": "pg_temp.uuid7_at(t.at)",
                "agency_id": a,
                "brand_id": "c.brand_id",
                "title": "'Post ' || g",
                "status": "'published'",
                "scheduled_at": "t.at",
                "campaign": "(ARRAY['spring', 'summer', NULL, NULL])[1 + g % 4]",
                "tags": "'[]'",
                "utm": "'{}'",
                "version": "1",
                "created_at": "t.at",
            },
            source,
        )
        print(f"  posts: {high + 1:,} / {scale.posts:,}", flush=True)
    counts["publications"] = scale.posts
    counts["variants"] = _insert_select(
        conn,
        "publication_variants",
        {
            "id": "pg_temp.uuid7_at(p.scheduled_at)",
            "agency_id": a,
            "publication_id": "p.id",
            "brand_id": "p.brand_id",
            "channel_id": "c.id",
            "network": "c.network",
            "text": "p.title",
            "options": "'{}'",
            "media_ids": "'[]'",
            "status": "'published'",
            "due_at": "p.scheduled_at",
            "published_at": "p.scheduled_at",
            "post_id": "'net-' || substr(p.title, 6)",
            "content_version": "1",
            "approved_version": "1",
            "attempt_count": "1",
            "created_at": "p.scheduled_at",
        },
        f"publications p JOIN bench_channel c ON c.n = substr(p.title, 6)::int % {channels}",
    )
    offsets = "ARRAY[" + ", ".join(str(h) for h in RHYTHM_HOURS) + "]"
    done = (
        f"(SELECT count(*) FROM unnest({offsets}) h "
        "WHERE v.published_at + h * interval '1 hour' <= now())"
    )
    base = "(400 + (hashtext(v.id::text) & 4095))"
    reach = "CASE WHEN v.network IN ('facebook', 'instagram') THEN base * 7 / 10 END"
    clicks = "CASE WHEN v.network IN ('facebook', 'pinterest') THEN base / 40 END"
    views = "CASE WHEN v.network IN ('youtube', 'tiktok') THEN base * 2 END"
    saves = "CASE WHEN v.network IN ('instagram', 'x', 'pinterest') THEN base / 60 END"
    counts["metric_posts"] = _insert_select(
        conn,
        "metric_posts",
        {
            "id": "v.id",
            "agency_id": a,
            "publication_id": "v.publication_id",
            "brand_id": "v.brand_id",
            "channel_id": "v.channel_id",
            "network": "v.network",
            "post_id": "v.post_id",
            "title": "v.text",
            "campaign": "p.campaign",
            "published_at": "v.published_at",
            "day": "(v.published_at AT TIME ZONE 'Europe/Paris')::date",
            "step": f"LEAST({done}, {len(RHYTHM_HOURS) - 1})",
            "next_pull_at": f"CASE WHEN {done} < {len(RHYTHM_HOURS)} THEN v.published_at + "
            f"({offsets})[{done} + 1] * interval '1 hour' END",
            "last_due_at": f"v.published_at + ({offsets})[GREATEST({done}, 1)] * interval '1 hour'",
            "impressions": "base",
            "reach": reach,
            "reactions": "base / 20",
            "comments": "base / 100",
            "shares": "base / 150",
            "saves": saves,
            "link_clicks": clicks,
            "video_views": views,
            "interactions": f"base / 20 + base / 100 + base / 150 + COALESCE({saves}, 0)",
            "created_at": "v.published_at",
        },
        f"publication_variants v JOIN publications p ON p.id = v.publication_id "
        f"CROSS JOIN LATERAL (SELECT {base}) AS b(base)",
    )


def _snapshots(
    conn: psycopg.Connection[Any], a: str, first_day: date, counts: dict[str, int]
) -> None:
    """Each post's pulls (its figures growing to its latest), each channel's daily count."""
    offsets = "ARRAY[" + ", ".join(str(h) for h in RHYTHM_HOURS) + "]"
    scaled = {
        name: f"m.{name} * k / {len(RHYTHM_HOURS)}"
        for name in (
            "impressions",
            "reach",
            "reactions",
            "comments",
            "shares",
            "saves",
            "link_clicks",
            "video_views",
        )
    }
    total = 0
    for k in range(1, len(RHYTHM_HOURS) + 1):
        total += _insert_select(
            conn,
            "metric_snapshots",
            {
                "agency_id": a,
                "kind": "'post'",
                "target_id": "m.id",
                "due_at": f"m.published_at + ({offsets})[{k}] * interval '1 hour'",
                "brand_id": "m.brand_id",
                "channel_id": "m.channel_id",
                "network": "m.network",
                "taken_at": f"m.published_at + ({offsets})[{k}] * interval '1 hour'",
                "outcome": "'ok'",
                "raw": "json_build_object('impressions', m.impressions)",
                **{name: expr.replace(" k ", f" {k} ") for name, expr in scaled.items()},
            },
            f"metric_posts m WHERE m.published_at + ({offsets})[{k}] * interval '1 hour' <= now()",
        )
        print(f"  post snapshots, pull {k}: {total:,}", flush=True)
    counts["post_snapshots"] = total
    counts["account_snapshots"] = _insert_select(
        conn,
        "metric_snapshots",
        {
            "agency_id": a,
            "kind": "'account'",
            "target_id": "c.id",
            "due_at": "d.at",
            "brand_id": "c.brand_id",
            "channel_id": "c.id",
            "network": "c.network",
            "taken_at": "d.at",
            "outcome": "'ok'",
            "followers": "1000 + c.n * 3 + d.n * 2",
            "raw": "'{}'",
        },
        f"bench_channel c CROSS JOIN LATERAL (SELECT n, '{first_day.isoformat()}'::timestamptz "
        f"+ interval '6 hours' + n * interval '1 day' FROM generate_series(0, {DAYS - 1}) AS n)"
        " AS d(n, at)",
    )
    counts["snapshots"] = counts["post_snapshots"] + counts["account_snapshots"]
    print(f"  raw snapshots: {counts['snapshots']:,}", flush=True)


def _rollups(conn: psycopg.Connection[Any], a: str, counts: dict[str, int]) -> None:
    """Channel days and brand days, added up from the posts' latest figures and the counts."""
    measures = (
        "impressions",
        "reach",
        "reactions",
        "comments",
        "shares",
        "saves",
        "link_clicks",
        "video_views",
    )
    sums = {name: f"p.{name}" for name in (*measures, "interactions", "reach_interactions")}
    conn.execute(
        "CREATE TEMP TABLE bench_post_days AS SELECT channel_id, day, count(*) AS posts, "
        + ", ".join(f"sum({n}) AS {n}" for n in (*measures, "interactions"))
        + ", sum(CASE WHEN reach IS NOT NULL THEN interactions END) AS reach_interactions"
        " FROM metric_posts GROUP BY channel_id, day"
    )
    conn.execute(
        "CREATE TEMP TABLE bench_account_days AS SELECT channel_id, "
        "(due_at AT TIME ZONE 'Europe/Paris')::date AS day, followers, followers - lag(followers) "
        "OVER (PARTITION BY channel_id ORDER BY due_at) AS change FROM metric_snapshots "
        "WHERE kind = 'account'"
    )
    counts["channel_days"] = _insert_select(
        conn,
        "metric_channel_days",
        {
            "agency_id": a,
            "channel_id": "d.channel_id",
            "day": "d.day",
            "brand_id": "c.brand_id",
            "network": "c.network",
            "posts": "COALESCE(p.posts, 0)",
            **sums,
            "followers": "d.followers",
            "followers_change": "d.change",
        },
        "bench_account_days d JOIN bench_channel c ON c.id = d.channel_id "
        "LEFT JOIN bench_post_days p ON p.channel_id = d.channel_id AND p.day = d.day",
    )
    counts["brand_days"] = _insert_select(
        conn,
        "metric_brand_days",
        {
            "agency_id": a,
            "brand_id": "brand_id",
            "day": "day",
            "posts": "sum(posts)",
            **{
                n: f"sum({n})"
                for n in (*measures, "interactions", "reach_interactions", "followers_change")
            },
        },
        "metric_channel_days GROUP BY brand_id, day",
    )
    counts["followed_channels"] = _insert_select(
        conn,
        "metric_channels",
        {
            "id": "c.id",
            "agency_id": a,
            "brand_id": "c.brand_id",
            "network": "c.network",
            "next_pull_at": "now() + interval '1 day'",
            "followers": "1000 + c.n * 3",
            "created_at": "now()",
        },
        "bench_channel c",
    )


def explain(pg: PostgresServer, seeded: Seeded) -> dict[str, list[str]]:
    """EXPLAIN ANALYZE of what the two reports read most, as the app role under RLS."""
    month = seeded.report_month
    previous = month - timedelta(days=31)
    end = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    a, b = seeded.agency_id, seeded.brand_ids[0]
    sums = ", ".join(
        f"sum({n})"
        for n in (
            "impressions",
            "reach",
            "reactions",
            "comments",
            "shares",
            "saves",
            "link_clicks",
            "video_views",
            "interactions",
            "reach_interactions",
            "followers_change",
        )
    )
    queries = {
        "a brand's channel days, the month and the one before": (
            f"SELECT channel_id, day >= '{month}' AS current, sum(posts), count(gap), {sums} "
            f"FROM metric_channel_days WHERE agency_id = '{a}' AND brand_id = '{b}' "
            f"AND day >= '{previous}' AND day <= '{end}' GROUP BY channel_id, current"
        ),
        "the agency's brand days, the month and the one before": (
            f"SELECT brand_id, day >= '{month}' AS current, sum(posts), {sums} "
            f"FROM metric_brand_days WHERE agency_id = '{a}' "
            f"AND day >= '{previous}' AND day <= '{end}' GROUP BY brand_id, current"
        ),
    }
    queries["the stamp of a brand's report (what a kept report costs)"] = stamp_sql(seeded, b)
    found: dict[str, list[str]] = {}
    with psycopg.connect(pg.url(APP_ROLE, APP_PW, DB)) as conn:
        conn.execute("SELECT set_config('app.agency_id', %s, false)", (str(a),))
        for title, sql in queries.items():
            for _ in range(3):
                rows = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}").fetchall()  # type: ignore[arg-type]
            found[title] = [str(r[0]) for r in rows]
    return found


# -- collection -----------------------------------------------------------------------------


class BenchConnector(Connector):
    """A network that answers at once: what is measured is our side of a pull."""

    network: ClassVar[str] = "benchnet"
    display_name: ClassVar[str] = "BenchNet"
    default_base_url: ClassVar[str] = "http://benchnet.invalid"
    limits = Limits(max_text_length=500)
    capabilities = frozenset({Capability.POST_METRICS, Capability.ACCOUNT_METRICS})

    async def post_metrics(self, post_id: str) -> PostMetrics:
        n = int(post_id.rsplit("-", 1)[1])
        return PostMetrics(impressions=900 + n, reach=700 + n, likes=40, comments=4, shares=2)

    async def account_metrics(self) -> AccountMetrics:
        return AccountMetrics(followers=1000)


async def collection_rate(settings: Settings, seeded: Seeded, pulls: int) -> dict[str, Any]:
    """``pulls`` posts published an hour ago on 50 fresh channels: claimed and recorded by
    the app's code, one batch after another (one worker thread); pulls per second."""
    runtime = Runtime(settings, build_runtime(settings).broker, Registry([BenchConnector]))
    subject = Subject(agency_id=seeded.agency_id, kind="system")
    brand_id = seeded.brand_ids[0]
    published = utcnow() - timedelta(hours=1, minutes=1)
    try:
        channel_ids = [new_id() for _ in range(50)]
        async with runtime.session() as session:
            await bind_tenant(session, seeded.agency_id)
            sealed = seal(runtime.secrets, Credentials(access_token="bench"))
            await session.execute(
                insert(Channel),
                [
                    {
                        "id": cid,
                        "agency_id": seeded.agency_id,
                        "brand_id": brand_id,
                        "network": "benchnet",
                        "account_id": f"bench-{i}",
                        "account_kind": "page",
                        "name": f"Bench {i}",
                        "connected_at": published,
                        "credentials": sealed,
                    }
                    for i, cid in enumerate(channel_ids)
                ],
            )
            publications, variants = [], []
            for i in range(pulls):
                pid, vid = new_id(), new_id()
                publications.append(
                    {
                        "id": pid,
                        "agency_id": seeded.agency_id,
                        "brand_id": brand_id,
                        "title": f"Bench {i}",
                    }
                )
                variants.append(
                    {
                        "id": vid,
                        "agency_id": seeded.agency_id,
                        "publication_id": pid,
                        "brand_id": brand_id,
                        "channel_id": channel_ids[i % len(channel_ids)],
                        "network": "benchnet",
                        "status": "published",
                        "due_at": published,
                        "published_at": published,
                        "post_id": f"bench-{i}",
                    }
                )
            await session.execute(insert(Publication), publications)
            await session.execute(insert(Variant), variants)
            rows = [
                post_row(_Row(v), _Row(p), "Europe/Paris", published + timedelta(hours=1))
                for v, p in zip(variants, publications, strict=True)
            ]
            await Collector(session, subject).enrol(rows)
            await ChannelMetricRepository(session, subject).add_many(
                [
                    {
                        "id": cid,
                        "brand_id": brand_id,
                        "network": "benchnet",
                        "next_pull_at": published + timedelta(days=1),
                    }
                    for cid in channel_ids
                ]
            )
            await session.commit()

        batch = settings.reporting.pull_batch
        started = time.perf_counter()
        done = 0
        while True:
            async with runtime.session() as session:
                await bind_system(session)
                now = utcnow()
                claimed = await MetricSweepRepository(session).claim_posts(
                    now, now + timedelta(minutes=5), settings.reporting.claim_batch
                )
                await session.commit()
            if not claimed:
                break
            ids = [row[1] for row in claimed]
            for low in range(0, len(ids), batch):
                async with runtime.session() as session:
                    await Puller(session, seeded.agency_id, runtime).pull_posts(
                        ids[low : low + batch]
                    )
            done += len(ids)
        seconds = time.perf_counter() - started
        return {"pulls": done, "seconds": seconds, "pulls_per_second": done / seconds}
    finally:
        await runtime.dispose_current_loop()


class _Row:
    """A dict read as attributes (``post_row`` takes ORM rows or anything with columns)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update({"utm": {}, "campaign": None, "post_url": None, **values})


# -- the floor of a kept report ---------------------------------------------------------------


def stamp_sql(seeded: Seeded, brand_id: uuid.UUID) -> str:
    """The report's stamp statement for the seeded month (what a kept report costs the
    database), as the app renders it, with its values inlined."""
    month = seeded.report_month
    end = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    period = Period(month, end)
    first_day = period.previous().start - timedelta(days=1) - FOLLOWERS_WINDOW
    subject = Subject(agency_id=seeded.agency_id, kind="system")
    reads = ReportRepository(cast(AsyncSession, None), subject)  # builds, never runs
    stmt = reads.stamp_statement(brand_id, first_day, period.start, period.end)
    dialect: Any = pg_dialect.dialect()  # type: ignore[no-untyped-call]
    return str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
