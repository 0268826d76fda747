"""Sessions remember the identity provider they came through (for its logout).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 20:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("credentials") as batch:
        batch.add_column(sa.Column("login_provider_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("id_token", sa.Text(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_credentials_login_provider_id_login_providers"),
            "login_providers",
            ["login_provider_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("credentials") as batch:
        batch.drop_constraint(
            op.f("fk_credentials_login_provider_id_login_providers"), type_="foreignkey"
        )
        batch.drop_column("id_token")
        batch.drop_column("login_provider_id")
