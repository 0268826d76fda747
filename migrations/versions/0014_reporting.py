"""Reporting: raw metric snapshots (partitioned by month), the pull schedule, daily rollups.

On PostgreSQL ``metric_snapshots`` is partitioned by range of ``due_at``, one partition per
month in the schema ``metric_partitions`` (out of the app's way: the app reads and writes the
parent only). The app role owns nothing and so cannot create tables: the owner's function
``metric_snapshot_partition(day)`` creates the month of ``day`` when it is missing, and runs
with the owner's rights (``SECURITY DEFINER``, fixed ``search_path``; it takes only a date).
The scheduler calls it for the months ahead; this migration creates the months around now.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 06:44:03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agency.kernel.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = (
    "metric_snapshots",
    "metric_posts",
    "metric_channels",
    "metric_channel_days",
    "metric_brand_days",
)
PARTITIONS = "metric_partitions"
ENSURE_PARTITION = f"""
CREATE FUNCTION metric_snapshot_partition(day date) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    first date := date_trunc('month', day)::date;
    name text := 'metric_snapshots_' || to_char(first, 'YYYY_MM');
BEGIN
    IF to_regclass('{PARTITIONS}.' || name) IS NULL THEN
        EXECUTE format(
            'CREATE TABLE IF NOT EXISTS {PARTITIONS}.%I PARTITION OF public.metric_snapshots '
            'FOR VALUES FROM (%L) TO (%L)',
            name,
            first::timestamp AT TIME ZONE 'UTC',
            (first + interval '1 month')::timestamp AT TIME ZONE 'UTC'
        );
    END IF;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "metric_snapshots",
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("target_id", sa.Uuid(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("network", sa.String(length=40), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("followers", sa.BigInteger(), nullable=True),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.Column("impressions", sa.BigInteger(), nullable=True),
        sa.Column("reach", sa.BigInteger(), nullable=True),
        sa.Column("reactions", sa.BigInteger(), nullable=True),
        sa.Column("comments", sa.BigInteger(), nullable=True),
        sa.Column("shares", sa.BigInteger(), nullable=True),
        sa.Column("saves", sa.BigInteger(), nullable=True),
        sa.Column("link_clicks", sa.BigInteger(), nullable=True),
        sa.Column("video_views", sa.BigInteger(), nullable=True),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_metric_snapshots_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "agency_id", "kind", "target_id", "due_at", name=op.f("pk_metric_snapshots")
        ),
        postgresql_partition_by="RANGE (due_at)",
    )
    op.create_table(
        "metric_brand_days",
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("posts", sa.Integer(), nullable=False),
        sa.Column("interactions", sa.BigInteger(), nullable=True),
        sa.Column("reach_interactions", sa.BigInteger(), nullable=True),
        sa.Column("followers_change", sa.BigInteger(), nullable=True),
        sa.Column("impressions", sa.BigInteger(), nullable=True),
        sa.Column("reach", sa.BigInteger(), nullable=True),
        sa.Column("reactions", sa.BigInteger(), nullable=True),
        sa.Column("comments", sa.BigInteger(), nullable=True),
        sa.Column("shares", sa.BigInteger(), nullable=True),
        sa.Column("saves", sa.BigInteger(), nullable=True),
        sa.Column("link_clicks", sa.BigInteger(), nullable=True),
        sa.Column("video_views", sa.BigInteger(), nullable=True),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_metric_brand_days_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_metric_brand_days_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agency_id", "brand_id", "day", name=op.f("pk_metric_brand_days")),
    )
    with op.batch_alter_table("metric_brand_days", schema=None) as batch_op:
        batch_op.create_index("ix_metric_brand_days_agency_day", ["agency_id", "day"], unique=False)

    op.create_table(
        "metric_channel_days",
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("network", sa.String(length=40), nullable=False),
        sa.Column("followers", sa.BigInteger(), nullable=True),
        sa.Column("gap", sa.String(length=500), nullable=True),
        sa.Column("posts", sa.Integer(), nullable=False),
        sa.Column("interactions", sa.BigInteger(), nullable=True),
        sa.Column("reach_interactions", sa.BigInteger(), nullable=True),
        sa.Column("followers_change", sa.BigInteger(), nullable=True),
        sa.Column("impressions", sa.BigInteger(), nullable=True),
        sa.Column("reach", sa.BigInteger(), nullable=True),
        sa.Column("reactions", sa.BigInteger(), nullable=True),
        sa.Column("comments", sa.BigInteger(), nullable=True),
        sa.Column("shares", sa.BigInteger(), nullable=True),
        sa.Column("saves", sa.BigInteger(), nullable=True),
        sa.Column("link_clicks", sa.BigInteger(), nullable=True),
        sa.Column("video_views", sa.BigInteger(), nullable=True),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_metric_channel_days_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_metric_channel_days_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_metric_channel_days_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "agency_id", "channel_id", "day", name=op.f("pk_metric_channel_days")
        ),
    )
    with op.batch_alter_table("metric_channel_days", schema=None) as batch_op:
        batch_op.create_index(
            "ix_metric_channel_days_agency_brand_day",
            ["agency_id", "brand_id", "day"],
            unique=False,
        )

    op.create_table(
        "metric_channels",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("network", sa.String(length=40), nullable=False),
        sa.Column("next_pull_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("followers", sa.BigInteger(), nullable=True),
        sa.Column("followers_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_metric_channels_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_metric_channels_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["id"], ["channels.id"], name=op.f("fk_metric_channels_id_channels"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_channels")),
    )
    with op.batch_alter_table("metric_channels", schema=None) as batch_op:
        batch_op.create_index("ix_metric_channels_agency_id_id", ["agency_id", "id"], unique=False)
        batch_op.create_index("ix_metric_channels_next_pull_at", ["next_pull_at"], unique=False)

    op.create_table(
        "metric_posts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("publication_id", sa.Uuid(), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("network", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("post_url", sa.String(length=2000), nullable=True),
        sa.Column("campaign", sa.String(length=100), nullable=True),
        sa.Column("utm_campaign", sa.String(length=200), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("next_pull_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("interactions", sa.BigInteger(), nullable=True),
        sa.Column("impressions", sa.BigInteger(), nullable=True),
        sa.Column("reach", sa.BigInteger(), nullable=True),
        sa.Column("reactions", sa.BigInteger(), nullable=True),
        sa.Column("comments", sa.BigInteger(), nullable=True),
        sa.Column("shares", sa.BigInteger(), nullable=True),
        sa.Column("saves", sa.BigInteger(), nullable=True),
        sa.Column("link_clicks", sa.BigInteger(), nullable=True),
        sa.Column("video_views", sa.BigInteger(), nullable=True),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_metric_posts_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_metric_posts_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_metric_posts_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["id"],
            ["publication_variants.id"],
            name=op.f("fk_metric_posts_id_publication_variants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_posts")),
    )
    with op.batch_alter_table("metric_posts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_metric_posts_agency_brand_day", ["agency_id", "brand_id", "day"], unique=False
        )
        batch_op.create_index("ix_metric_posts_agency_id_id", ["agency_id", "id"], unique=False)
        batch_op.create_index("ix_metric_posts_next_pull_at", ["next_pull_at"], unique=False)

    for table in TENANT_TABLES:
        enable_tenant_rls(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE SCHEMA {PARTITIONS}")
        op.execute(ENSURE_PARTITION)
        # Thirteen months back (imports of history) to three ahead; the scheduler adds more.
        op.execute(
            "SELECT metric_snapshot_partition((date_trunc('month', now()) + m * interval '1 month')::date)"
            " FROM generate_series(-13, 3) AS m"
        )


def downgrade() -> None:
    for table in TENANT_TABLES:
        disable_tenant_rls(table)
    with op.batch_alter_table("metric_posts", schema=None) as batch_op:
        batch_op.drop_index("ix_metric_posts_next_pull_at")
        batch_op.drop_index("ix_metric_posts_agency_id_id")
        batch_op.drop_index("ix_metric_posts_agency_brand_day")

    op.drop_table("metric_posts")
    with op.batch_alter_table("metric_channels", schema=None) as batch_op:
        batch_op.drop_index("ix_metric_channels_next_pull_at")
        batch_op.drop_index("ix_metric_channels_agency_id_id")

    op.drop_table("metric_channels")
    with op.batch_alter_table("metric_channel_days", schema=None) as batch_op:
        batch_op.drop_index("ix_metric_channel_days_agency_brand_day")

    op.drop_table("metric_channel_days")
    with op.batch_alter_table("metric_brand_days", schema=None) as batch_op:
        batch_op.drop_index("ix_metric_brand_days_agency_day")

    op.drop_table("metric_brand_days")
    op.drop_table("metric_snapshots")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION metric_snapshot_partition(date)")
        op.execute(f"DROP SCHEMA {PARTITIONS}")
