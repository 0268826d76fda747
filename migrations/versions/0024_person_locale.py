"""A person's own language (``users.locale``), read by authentication with the credential.

``authenticate_credential`` (0022) returns it too, from a join on the credential's user: the
request knows the language its answers are in without another round trip.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = """
    id uuid, kind varchar, user_id uuid, created_by uuid, system_issued boolean, scopes json,
    secret_hash varchar, expires_at timestamptz, revoked_at timestamptz,
    last_used_at timestamptz, role varchar{extra}
"""
SELECTED = """
    SELECT c.id, c.kind, c.user_id, c.created_by, c.system_issued, c.scopes, c.secret_hash,
           c.expires_at, c.revoked_at, c.last_used_at, m.role{extra}
    FROM credentials AS c
    LEFT OUTER JOIN memberships AS m
      ON m.agency_id = c.agency_id AND m.user_id = coalesce(c.user_id, c.created_by){join}
    WHERE c.agency_id = p_agency AND c.id = p_credential;
"""


def _function(with_locale: bool) -> str:
    columns = COLUMNS.format(extra=", locale varchar" if with_locale else "")
    selected = SELECTED.format(
        extra=", u.locale" if with_locale else "",
        join="\n    LEFT OUTER JOIN users AS u ON u.id = c.user_id" if with_locale else "",
    )
    return f"""
CREATE FUNCTION authenticate_credential(p_agency uuid, p_credential uuid)
RETURNS TABLE ({columns})
LANGUAGE sql VOLATILE SECURITY INVOKER AS $$
    SELECT set_config('app.agency_id', p_agency::text, true);
    {selected}
$$
"""


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("locale", sa.String(length=8), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        # Its result type changes: replaced, not altered.
        op.execute("DROP FUNCTION authenticate_credential(uuid, uuid)")
        op.execute(_function(with_locale=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION authenticate_credential(uuid, uuid)")
        op.execute(_function(with_locale=False))
    with op.batch_alter_table("users") as batch:
        batch.drop_column("locale")
