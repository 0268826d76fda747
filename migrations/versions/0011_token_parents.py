"""API tokens remember the token that created them, and go with it.

Existing tokens learn their parent from the audit log (a token created by a token is recorded
with that token as its actor); those whose parent was already revoked are revoked now.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 19:35:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agency.kernel.rls import span_every_agency

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PARENTS = """
UPDATE credentials SET parent_id = (
    SELECT a.actor_id FROM audit_events a
    WHERE a.agency_id = credentials.agency_id AND a.action = 'api_token.created'
      AND a.object_id = credentials.id AND a.actor_type = 'api_token'
      AND a.actor_id IN (SELECT p.id FROM credentials p)
)
WHERE kind = 'api_token'
"""

_ORPHANS_OF_REVOKED = """
UPDATE credentials SET revoked_at = CURRENT_TIMESTAMP
WHERE revoked_at IS NULL
  AND parent_id IN (SELECT p.id FROM credentials p WHERE p.revoked_at IS NOT NULL)
"""


def upgrade() -> None:
    bind = op.get_bind()
    span_every_agency()
    with op.batch_alter_table("credentials") as batch:
        batch.add_column(sa.Column("parent_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_credentials_parent_id_credentials"),
            "credentials",
            ["parent_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.execute(_PARENTS)
    while bind.execute(sa.text(_ORPHANS_OF_REVOKED)).rowcount:
        pass


def downgrade() -> None:
    with op.batch_alter_table("credentials") as batch:
        batch.drop_constraint(op.f("fk_credentials_parent_id_credentials"), type_="foreignkey")
        batch.drop_column("parent_id")
