"""Authentication's lookup and the tenant binding in one statement.

Every authenticated request bound its agency (``set_config``) and then read the credential
with its holder's role: two round trips. ``authenticate_credential`` does both, in that order,
in one call. It runs as the caller (not ``SECURITY DEFINER``), so Row-Level Security binds
its read as it bound the two statements.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = """
CREATE FUNCTION authenticate_credential(p_agency uuid, p_credential uuid)
RETURNS TABLE (
    id uuid, kind varchar, user_id uuid, created_by uuid, system_issued boolean, scopes json,
    secret_hash varchar, expires_at timestamptz, revoked_at timestamptz,
    last_used_at timestamptz, role varchar
)
LANGUAGE sql VOLATILE SECURITY INVOKER AS $$
    SELECT set_config('app.agency_id', p_agency::text, true);
    SELECT c.id, c.kind, c.user_id, c.created_by, c.system_issued, c.scopes, c.secret_hash,
           c.expires_at, c.revoked_at, c.last_used_at, m.role
    FROM credentials AS c
    LEFT OUTER JOIN memberships AS m
      ON m.agency_id = c.agency_id AND m.user_id = coalesce(c.user_id, c.created_by)
    WHERE c.agency_id = p_agency AND c.id = p_credential;
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION authenticate_credential(uuid, uuid)")
