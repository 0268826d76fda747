"""Metric pulls: a followed post keeps its id at the network.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 07:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("metric_posts") as batch:
        # Rows followed before this revision are test data at most: their id at the network
        # is unknown, and they are no longer read.
        batch.add_column(
            sa.Column("post_id", sa.String(length=300), nullable=False, server_default="")
        )
    with op.batch_alter_table("metric_posts") as batch:
        batch.alter_column("post_id", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("metric_posts") as batch:
        batch.drop_column("post_id")
