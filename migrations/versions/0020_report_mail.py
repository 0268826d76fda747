"""Report e-mails: schedules, confirmed addresses, opt-outs, runs, deliveries, branding.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 07:11:56.341097
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agency.kernel.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = (
    "report_brandings",
    "report_schedules",
    "report_opt_outs",
    "report_runs",
    "report_schedule_addresses",
    "report_deliveries",
)


def upgrade() -> None:
    op.create_table(
        "report_brandings",
        sa.Column("sender_name", sa.String(length=100), nullable=True),
        sa.Column("sender_address", sa.String(length=320), nullable=True),
        sa.Column("reply_to", sa.String(length=320), nullable=True),
        sa.Column("subjects", sa.JSON(), nullable=False),
        sa.Column("footers", sa.JSON(), nullable=False),
        sa.Column("accent_color", sa.String(length=7), nullable=False),
        sa.Column("logo_png", sa.LargeBinary(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_report_brandings_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_brandings")),
    )
    with op.batch_alter_table("report_brandings", schema=None) as batch_op:
        batch_op.create_index("ix_report_brandings_agency_id_id", ["agency_id", "id"], unique=False)
        batch_op.create_index("uq_report_brandings_agency", ["agency_id"], unique=True)

    op.create_table(
        "report_schedules",
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("rule", sa.String(length=500), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("line", sa.String(length=30), nullable=True),
        sa.Column("client_lines", sa.JSON(), nullable=False),
        sa.Column("members", sa.JSON(), nullable=False),
        sa.Column("data_delay_hours", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_report_schedules_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_report_schedules_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_schedules")),
    )
    with op.batch_alter_table("report_schedules", schema=None) as batch_op:
        batch_op.create_index(
            "ix_report_schedules_agency_brand", ["agency_id", "brand_id"], unique=False
        )
        batch_op.create_index("ix_report_schedules_agency_id_id", ["agency_id", "id"], unique=False)
        batch_op.create_index("ix_report_schedules_next_run_at", ["next_run_at"], unique=False)

    op.create_table(
        "report_opt_outs",
        sa.Column("schedule_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_report_opt_outs_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["report_schedules.id"],
            name=op.f("fk_report_opt_outs_schedule_id_report_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_opt_outs")),
    )
    with op.batch_alter_table("report_opt_outs", schema=None) as batch_op:
        batch_op.create_index("ix_report_opt_outs_agency_id_id", ["agency_id", "id"], unique=False)
        batch_op.create_index(
            "uq_report_opt_outs_email", ["agency_id", "schedule_id", "email"], unique=True
        )

    op.create_table(
        "report_runs",
        sa.Column("schedule_id", sa.Uuid(), nullable=True),
        sa.Column("brand_id", sa.Uuid(), nullable=True),
        sa.Column("schedule_name", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("trigger", sa.String(length=10), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_report_runs_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_report_runs_brand_id_brands"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["report_schedules.id"],
            name=op.f("fk_report_runs_schedule_id_report_schedules"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_runs")),
    )
    with op.batch_alter_table("report_runs", schema=None) as batch_op:
        batch_op.create_index("ix_report_runs_agency_id_id", ["agency_id", "id"], unique=False)
        batch_op.create_index("ix_report_runs_next", ["status", "not_before"], unique=False)
        batch_op.create_index(
            "uq_report_runs_schedule_key", ["agency_id", "schedule_id", "key"], unique=True
        )

    op.create_table(
        "report_schedule_addresses",
        sa.Column("schedule_id", sa.Uuid(), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmation_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_report_schedule_addresses_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_report_schedule_addresses_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["report_schedules.id"],
            name=op.f("fk_report_schedule_addresses_schedule_id_report_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_schedule_addresses")),
    )
    with op.batch_alter_table("report_schedule_addresses", schema=None) as batch_op:
        batch_op.create_index(
            "ix_report_schedule_addresses_agency_id_id", ["agency_id", "id"], unique=False
        )
        batch_op.create_index(
            "uq_report_schedule_addresses_email", ["agency_id", "schedule_id", "email"], unique=True
        )

    op.create_table(
        "report_deliveries",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("schedule_id", sa.Uuid(), nullable=True),
        sa.Column("mail_id", sa.Uuid(), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.String(length=2000), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_report_deliveries_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["mail_id"],
            ["mail_messages.id"],
            name=op.f("fk_report_deliveries_mail_id_mail_messages"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["report_runs.id"],
            name=op.f("fk_report_deliveries_run_id_report_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["report_schedules.id"],
            name=op.f("fk_report_deliveries_schedule_id_report_schedules"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_deliveries")),
    )
    with op.batch_alter_table("report_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_report_deliveries_agency_id_id", ["agency_id", "id"], unique=False
        )
        batch_op.create_index("ix_report_deliveries_mail", ["agency_id", "mail_id"], unique=False)
        batch_op.create_index(
            "uq_report_deliveries_run_email", ["agency_id", "run_id", "email"], unique=True
        )

    for table in TENANT_TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in TENANT_TABLES:
        disable_tenant_rls(table)
    with op.batch_alter_table("report_deliveries", schema=None) as batch_op:
        batch_op.drop_index("uq_report_deliveries_run_email")
        batch_op.drop_index("ix_report_deliveries_mail")
        batch_op.drop_index("ix_report_deliveries_agency_id_id")

    op.drop_table("report_deliveries")
    with op.batch_alter_table("report_schedule_addresses", schema=None) as batch_op:
        batch_op.drop_index("uq_report_schedule_addresses_email")
        batch_op.drop_index("ix_report_schedule_addresses_agency_id_id")

    op.drop_table("report_schedule_addresses")
    with op.batch_alter_table("report_runs", schema=None) as batch_op:
        batch_op.drop_index("uq_report_runs_schedule_key")
        batch_op.drop_index("ix_report_runs_next")
        batch_op.drop_index("ix_report_runs_agency_id_id")

    op.drop_table("report_runs")
    with op.batch_alter_table("report_opt_outs", schema=None) as batch_op:
        batch_op.drop_index("uq_report_opt_outs_email")
        batch_op.drop_index("ix_report_opt_outs_agency_id_id")

    op.drop_table("report_opt_outs")
    with op.batch_alter_table("report_schedules", schema=None) as batch_op:
        batch_op.drop_index("ix_report_schedules_next_run_at")
        batch_op.drop_index("ix_report_schedules_agency_id_id")
        batch_op.drop_index("ix_report_schedules_agency_brand")

    op.drop_table("report_schedules")
    with op.batch_alter_table("report_brandings", schema=None) as batch_op:
        batch_op.drop_index("uq_report_brandings_agency")
        batch_op.drop_index("ix_report_brandings_agency_id_id")

    op.drop_table("report_brandings")
