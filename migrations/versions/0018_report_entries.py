"""What reports read beyond the networks: campaign results, costs, press coverage, and
saved reports.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 07:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agency.kernel.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("press_coverage", "report_campaign_results", "report_costs", "saved_reports")


def upgrade() -> None:
    op.create_table(
        "press_coverage",
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("outlet", sa.String(length=200), nullable=False),
        sa.Column("published_on", sa.Date(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=True),
        sa.Column("audience", sa.BigInteger(), nullable=True),
        sa.Column("tone", sa.String(length=10), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_press_coverage_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_press_coverage_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_press_coverage")),
    )
    with op.batch_alter_table("press_coverage", schema=None) as batch_op:
        batch_op.create_index("ix_press_coverage_agency_id_id", ["agency_id", "id"], unique=False)
        batch_op.create_index(
            "ix_press_coverage_brand_day", ["agency_id", "brand_id", "published_on"], unique=False
        )

    op.create_table(
        "report_campaign_results",
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("campaign", sa.String(length=100), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("visits", sa.BigInteger(), nullable=True),
        sa.Column("leads", sa.BigInteger(), nullable=True),
        sa.Column("sales", sa.BigInteger(), nullable=True),
        sa.Column("revenue", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_report_campaign_results_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_report_campaign_results_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_campaign_results")),
    )
    with op.batch_alter_table("report_campaign_results", schema=None) as batch_op:
        batch_op.create_index(
            "ix_report_campaign_results_agency_id_id", ["agency_id", "id"], unique=False
        )
        batch_op.create_index(
            "ix_report_campaign_results_brand_day", ["agency_id", "brand_id", "day"], unique=False
        )
        batch_op.create_index(
            "uq_report_campaign_results_day",
            ["agency_id", "brand_id", "campaign", "day"],
            unique=True,
        )

    op.create_table(
        "report_costs",
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("campaign", sa.String(length=100), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_report_costs_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_report_costs_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_costs")),
    )
    with op.batch_alter_table("report_costs", schema=None) as batch_op:
        batch_op.create_index("ix_report_costs_agency_id_id", ["agency_id", "id"], unique=False)
        batch_op.create_index(
            "ix_report_costs_brand_day", ["agency_id", "brand_id", "day"], unique=False
        )

    op.create_table(
        "saved_reports",
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("line", sa.String(length=30), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("worked", sa.Text(), nullable=False),
        sa.Column("corrections", sa.Text(), nullable=False),
        sa.Column("roni", sa.Text(), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_saved_reports_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_saved_reports_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_reports")),
    )
    with op.batch_alter_table("saved_reports", schema=None) as batch_op:
        batch_op.create_index("ix_saved_reports_agency_id_id", ["agency_id", "id"], unique=False)
        batch_op.create_index(
            "ix_saved_reports_brand_period", ["agency_id", "brand_id", "period_start"], unique=False
        )

    for table in TENANT_TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in TENANT_TABLES:
        disable_tenant_rls(table)
    with op.batch_alter_table("saved_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_saved_reports_brand_period")
        batch_op.drop_index("ix_saved_reports_agency_id_id")

    op.drop_table("saved_reports")
    with op.batch_alter_table("report_costs", schema=None) as batch_op:
        batch_op.drop_index("ix_report_costs_brand_day")
        batch_op.drop_index("ix_report_costs_agency_id_id")

    op.drop_table("report_costs")
    with op.batch_alter_table("report_campaign_results", schema=None) as batch_op:
        batch_op.drop_index("uq_report_campaign_results_day")
        batch_op.drop_index("ix_report_campaign_results_brand_day")
        batch_op.drop_index("ix_report_campaign_results_agency_id_id")

    op.drop_table("report_campaign_results")
    with op.batch_alter_table("press_coverage", schema=None) as batch_op:
        batch_op.drop_index("ix_press_coverage_brand_day")
        batch_op.drop_index("ix_press_coverage_agency_id_id")

    op.drop_table("press_coverage")
