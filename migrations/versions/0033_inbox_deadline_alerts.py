"""Inbox deadlines tell the team: a warning before, an alert at the breach, each once.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-04 05:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WATCHED = (
    "(status = 'new' OR status = 'assigned' OR status = 'waiting') "
    "AND due_at IS NOT NULL AND breached_at IS NULL"
)


def upgrade() -> None:
    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("warned_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("breached_at", sa.DateTime(timezone=True), nullable=True))
    # Messages already past their deadline are not alerted years late.
    op.execute(
        "UPDATE inbox_messages SET breached_at = CURRENT_TIMESTAMP WHERE due_at IS NOT NULL AND due_at <= CURRENT_TIMESTAMP"
    )
    op.create_index(
        "ix_inbox_messages_deadline_watch",
        "inbox_messages",
        ["due_at"],
        unique=False,
        postgresql_where=sa.text(WATCHED),
        sqlite_where=sa.text(WATCHED),
    )


def downgrade() -> None:
    op.drop_index("ix_inbox_messages_deadline_watch", table_name="inbox_messages")
    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.drop_column("breached_at")
        batch_op.drop_column("warned_at")
