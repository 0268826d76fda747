"""Inbox moderation as due work: each hide, show or delete is a row the worker carries out.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-04 05:05:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agency.kernel.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbox_moderations",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("clause", sa.Integer(), nullable=False),
        sa.Column("clause_text", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=2000), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_inbox_moderations_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_inbox_moderations_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_inbox_moderations_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["inbox_messages.id"],
            name=op.f("fk_inbox_moderations_message_id_inbox_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_moderations")),
    )
    with op.batch_alter_table("inbox_moderations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inbox_moderations_agency_id_id", ["agency_id", "id"], unique=False
        )
        batch_op.create_index(
            "ix_inbox_moderations_agency_message", ["agency_id", "message_id"], unique=False
        )
        batch_op.create_index(
            "ix_inbox_moderations_status_not_before", ["status", "not_before"], unique=False
        )
    enable_tenant_rls("inbox_moderations")


def downgrade() -> None:
    disable_tenant_rls("inbox_moderations")
    with op.batch_alter_table("inbox_moderations", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_moderations_status_not_before")
        batch_op.drop_index("ix_inbox_moderations_agency_message")
        batch_op.drop_index("ix_inbox_moderations_agency_id_id")

    op.drop_table("inbox_moderations")
