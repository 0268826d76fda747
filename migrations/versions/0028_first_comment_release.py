"""First comments a crisis held can be released: the scheduler claims the pending ones.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-04 04:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = "first_comment_status = 'pending'"


def upgrade() -> None:
    op.create_index(
        "ix_publication_variants_comment_pending",
        "publication_variants",
        ["lease_until"],
        unique=False,
        postgresql_where=sa.text(PENDING),
        sqlite_where=sa.text(PENDING),
    )


def downgrade() -> None:
    op.drop_index("ix_publication_variants_comment_pending", table_name="publication_variants")
