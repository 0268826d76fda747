"""The staging rows that still hold uploads, indexed: the scheduler sweeps them to delete
what no post will name and to settle what a published post named.

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-04 07:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "publication_media_stagings"
HOLDING = 'json_array_length("references") > 0'


def upgrade() -> None:
    op.create_index(
        "ix_publication_media_stagings_holding",
        TABLE,
        ["id"],
        unique=False,
        postgresql_where=sa.text(HOLDING),
        sqlite_where=sa.text(HOLDING),
    )


def downgrade() -> None:
    op.drop_index("ix_publication_media_stagings_holding", table_name=TABLE)
