"""Inbox private messages, and a brand's newest messages read by index.

A message says whether it was written to the brand privately (``private``).

The inbox list of one brand, newest first, walks ``(agency_id, brand_id, id)`` backwards and
stops after a page; the statistics tell the planner that a brand belongs to one agency
(without them it multiplies the two columns' selectivities, expects an eighth of a brand's
messages and reads and sorts all of them instead).

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-04 07:35:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATISTICS = "st_inbox_messages_agency_brand"


def upgrade() -> None:
    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("private", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_index(
        "ix_inbox_messages_agency_brand_id",
        "inbox_messages",
        ["agency_id", "brand_id", "id"],
        unique=False,
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE STATISTICS {STATISTICS} (dependencies, ndistinct) "
            "ON agency_id, brand_id FROM inbox_messages"
        )
        op.execute("ANALYZE inbox_messages")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP STATISTICS IF EXISTS {STATISTICS}")
    op.drop_index("ix_inbox_messages_agency_brand_id", table_name="inbox_messages")
    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.drop_column("private")
