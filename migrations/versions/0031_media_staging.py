"""Media uploaded ahead of their post: one staging row per publication variant, and an index
of the variants with media.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-04 04:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agency.kernel.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "publication_media_stagings"
WITH_MEDIA = "json_array_length(media_ids) > 0"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("variant_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("content_version", sa.Integer(), nullable=False),
        sa.Column("media_ids", sa.JSON(), nullable=False),
        sa.Column("references", sa.JSON(), nullable=False),
        sa.Column("staged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("renew_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=2000), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_publication_media_stagings_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["publication_variants.id"],
            name=op.f("fk_publication_media_stagings_variant_id_publication_variants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publication_media_stagings")),
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.create_index(
            "ix_publication_media_stagings_agency_id_id", ["agency_id", "id"], unique=False
        )
        batch_op.create_index(
            "uq_publication_media_stagings_variant", ["agency_id", "variant_id"], unique=True
        )
    enable_tenant_rls(TABLE)
    op.create_index(
        "ix_publication_variants_media_due",
        "publication_variants",
        ["status", "due_at"],
        unique=False,
        postgresql_where=sa.text(WITH_MEDIA),
        sqlite_where=sa.text(WITH_MEDIA),
    )


def downgrade() -> None:
    op.drop_index("ix_publication_variants_media_due", table_name="publication_variants")
    disable_tenant_rls(TABLE)
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_index("uq_publication_media_stagings_variant")
        batch_op.drop_index("ix_publication_media_stagings_agency_id_id")
    op.drop_table(TABLE)
