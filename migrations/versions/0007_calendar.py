"""Recurring series, calendar feeds, and the indexes of the calendar and of series.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agency.kernel.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("publication_series", "calendar_feeds")


def upgrade() -> None:
    op.create_table(
        "publication_series",
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("origin_id", sa.Uuid(), nullable=True),
        sa.Column("rule", sa.String(length=500), nullable=False),
        sa.Column("dtstart", sa.String(length=19), nullable=False),
        sa.Column("offsets", sa.JSON(), nullable=False),
        sa.Column("last_start", sa.String(length=19), nullable=False),
        sa.Column("last_publication_id", sa.Uuid(), nullable=True),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("refill_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("canceled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("canceled_by", sa.Uuid(), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_publication_series_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_publication_series_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["canceled_by"], ["users.id"], name=op.f("fk_publication_series_canceled_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["last_publication_id"],
            ["publications.id"],
            name=op.f("fk_publication_series_last_publication_id_publications"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["origin_id"],
            ["publications.id"],
            name=op.f("fk_publication_series_origin_id_publications"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publication_series")),
    )
    with op.batch_alter_table("publication_series", schema=None) as batch_op:
        batch_op.create_index(
            "ix_publication_series_agency_id_id", ["agency_id", "id"], unique=False
        )
        batch_op.create_index("ix_publication_series_refill_at", ["refill_at"], unique=False)

    op.create_table(
        "calendar_feeds",
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_calendar_feeds_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_calendar_feeds_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_calendar_feeds_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_feeds")),
    )
    with op.batch_alter_table("calendar_feeds", schema=None) as batch_op:
        batch_op.create_index(
            "ix_calendar_feeds_agency_brand", ["agency_id", "brand_id"], unique=False
        )
        batch_op.create_index("ix_calendar_feeds_agency_id_id", ["agency_id", "id"], unique=False)

    with op.batch_alter_table("publication_variants", schema=None) as batch_op:
        batch_op.create_index(
            "ix_publication_variants_agency_due", ["agency_id", "due_at"], unique=False
        )
    with op.batch_alter_table("publications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_publications_agency_series", ["agency_id", "series_id"], unique=False
        )

    for table in TENANT_TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in TENANT_TABLES:
        disable_tenant_rls(table)
    with op.batch_alter_table("publications", schema=None) as batch_op:
        batch_op.drop_index("ix_publications_agency_series")
    with op.batch_alter_table("publication_variants", schema=None) as batch_op:
        batch_op.drop_index("ix_publication_variants_agency_due")
    with op.batch_alter_table("calendar_feeds", schema=None) as batch_op:
        batch_op.drop_index("ix_calendar_feeds_agency_id_id")
        batch_op.drop_index("ix_calendar_feeds_agency_brand")
    op.drop_table("calendar_feeds")
    with op.batch_alter_table("publication_series", schema=None) as batch_op:
        batch_op.drop_index("ix_publication_series_refill_at")
        batch_op.drop_index("ix_publication_series_agency_id_id")
    op.drop_table("publication_series")
