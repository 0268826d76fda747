"""Crisis mode per brand: the crisis under way, its timeline, and held variants.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agency.kernel.rls import disable_tenant_rls, enable_tenant_rls, tenant_columns

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("crises", "crisis_events")


def upgrade() -> None:
    with op.batch_alter_table("brands") as batch:
        batch.add_column(sa.Column("crisis_id", sa.Uuid(), nullable=True))
    with op.batch_alter_table("publication_variants") as batch:
        batch.add_column(sa.Column("held_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "crises",
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_by_kind", sa.String(length=20), nullable=False),
        sa.Column("started_by", sa.Uuid(), nullable=True),
        sa.Column("started_by_name", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_by_kind", sa.String(length=20), nullable=True),
        sa.Column("ended_by", sa.Uuid(), nullable=True),
        sa.Column("ended_by_name", sa.String(length=320), nullable=True),
        sa.Column("end_reason", sa.String(length=2000), nullable=True),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_crises_brand_id_brands"), ondelete="CASCADE"
        ),
        *tenant_columns("crises"),
    )
    op.create_index(
        "ix_crises_agency_brand", "crises", ["agency_id", "brand_id", "started_at"], unique=False
    )
    op.create_index(
        "uq_crises_open_per_brand",
        "crises",
        ["agency_id", "brand_id"],
        unique=True,
        postgresql_where=sa.text("ended_at IS NULL"),
        sqlite_where=sa.text("ended_at IS NULL"),
    )
    op.create_table(
        "crisis_events",
        sa.Column("crisis_id", sa.Uuid(), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("actor_kind", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_name", sa.String(length=320), nullable=True),
        sa.Column("publication_id", sa.Uuid(), nullable=True),
        sa.Column("variant_id", sa.Uuid(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["crisis_id"],
            ["crises.id"],
            name=op.f("fk_crisis_events_crisis_id_crises"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_crisis_events_brand_id_brands"),
            ondelete="CASCADE",
        ),
        *tenant_columns("crisis_events"),
    )
    op.create_index(
        "ix_crisis_events_agency_crisis",
        "crisis_events",
        ["agency_id", "crisis_id", "at"],
        unique=False,
    )
    for table in TENANT_TABLES:
        op.create_index(f"ix_{table}_agency_id_id", table, ["agency_id", "id"], unique=False)
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in reversed(TENANT_TABLES):
        disable_tenant_rls(table)
        op.drop_table(table)
    with op.batch_alter_table("publication_variants") as batch:
        batch.drop_column("held_at")
    with op.batch_alter_table("brands") as batch:
        batch.drop_column("crisis_id")
