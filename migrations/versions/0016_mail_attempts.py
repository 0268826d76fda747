"""Outgoing e-mail: whole messages sealed, attempts scheduled in the database, the outbox log.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mail_messages") as batch:
        batch.add_column(sa.Column("mime", sa.Text(), nullable=True))
        batch.add_column(sa.Column("message_id", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("route", sa.String(length=10), nullable=True))
        batch.add_column(sa.Column("on_settled", sa.String(length=60), nullable=True))
    op.create_index(
        "ix_mail_messages_next_attempt_at", "mail_messages", ["next_attempt_at"], unique=False
    )
    # Messages queued before this version: due now, the scheduler sends them.
    op.execute("UPDATE mail_messages SET next_attempt_at = created_at WHERE status = 'pending'")


def downgrade() -> None:
    op.drop_index("ix_mail_messages_next_attempt_at", table_name="mail_messages")
    with op.batch_alter_table("mail_messages") as batch:
        for column in ("on_settled", "route", "next_attempt_at", "message_id", "mime"):
            batch.drop_column(column)
