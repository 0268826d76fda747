"""Inbox threads started by someone else's post that mentions the brand.

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-04 07:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbox_threads", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("subject", sa.String(length=20), server_default="post", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("inbox_threads", schema=None) as batch_op:
        batch_op.drop_column("subject")
