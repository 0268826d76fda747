"""Media assets uploaded once per brand.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agency.kernel.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "media",
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("mime_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("duration_seconds", sa.Double(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=300), nullable=True),
        sa.Column("storage_key", sa.String(length=500), nullable=False),
        sa.Column("alt_text", sa.String(length=1500), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("frames", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_media_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_media_brand_id_brands"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_media_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media")),
    )
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.create_index("ix_media_agency_id_id", ["agency_id", "id"], unique=False)
        batch_op.create_index(
            "ix_media_agency_brand", ["agency_id", "brand_id", "id"], unique=False
        )
    enable_tenant_rls("media")


def downgrade() -> None:
    disable_tenant_rls("media")
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.drop_index("ix_media_agency_brand")
        batch_op.drop_index("ix_media_agency_id_id")
    op.drop_table("media")
