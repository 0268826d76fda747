"""Each agency's access version, so that replicas may cache verified credentials.

``agencies.access_version`` counts the changes to what authentication reads: a credential
revoked, expired, deleted or re-scoped (a session ended, a token revoked), a member's role
changed, a member added or removed, a person's language changed. Triggers bump it in the
transaction that makes the change, so the bump commits with it or not at all; whatever the
code path that writes (a service, a sweep, a cascade), none can forget it.

``authenticate_credential`` now returns the agency's version with the credential, read in one
statement and one snapshot (the version first in the row: the credential is at least that
recent). ``bind_agency`` binds the agency and returns its version alone: a request whose
credential the process keeps at that version uses what it keeps; any other reads the
credential again. A revoked token is refused by every replica on its next use.

The trigger function turns ``app.system`` on for its one UPDATE and back to what it was:
a person changing their language bumps every agency they hold credentials in, whichever
agency the transaction is bound to (an error aborts the transaction, setting and all).

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-04 04:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CREDENTIAL_COLUMNS = """
    id uuid, kind varchar, user_id uuid, created_by uuid, system_issued boolean, scopes json,
    secret_hash varchar, expires_at timestamptz, revoked_at timestamptz,
    last_used_at timestamptz, role varchar, locale varchar
"""
HELD = """c.id, c.kind, c.user_id, c.created_by, c.system_issued, c.scopes, c.secret_hash,
           c.expires_at, c.revoked_at, c.last_used_at, m.role, u.locale"""
HOLDER_JOINS = """
    LEFT OUTER JOIN memberships AS m
      ON m.agency_id = c.agency_id AND m.user_id = coalesce(c.user_id, c.created_by)
    LEFT OUTER JOIN users AS u ON u.id = c.user_id"""

AUTHENTICATE = """
CREATE FUNCTION authenticate_credential(p_agency uuid, p_credential uuid)
RETURNS TABLE (access_version bigint, {columns})
LANGUAGE sql VOLATILE SECURITY INVOKER AS $$
    SELECT set_config('app.agency_id', p_agency::text, true);
    SELECT a.access_version, {held}
    FROM agencies AS a
    LEFT OUTER JOIN credentials AS c ON c.agency_id = a.id AND c.id = p_credential{joins}
    WHERE a.id = p_agency;
$$
"""
# A request whose credential the process knows: the binding and the version, nothing else.
BIND = """
CREATE FUNCTION bind_agency(p_agency uuid) RETURNS bigint
LANGUAGE sql VOLATILE SECURITY INVOKER AS $$
    SELECT set_config('app.agency_id', p_agency::text, true);
    SELECT access_version FROM agencies WHERE id = p_agency;
$$
"""
# 0024's, restored by the downgrade.
AUTHENTICATE_BEFORE = """
CREATE FUNCTION authenticate_credential(p_agency uuid, p_credential uuid)
RETURNS TABLE ({columns})
LANGUAGE sql VOLATILE SECURITY INVOKER AS $$
    SELECT set_config('app.agency_id', p_agency::text, true);
    SELECT {held}
    FROM credentials AS c{joins}
    WHERE c.agency_id = p_agency AND c.id = p_credential;
$$
"""


def _function(template: str) -> str:
    return template.format(columns=CREDENTIAL_COLUMNS, held=HELD, joins=HOLDER_JOINS)


BUMP = """
CREATE FUNCTION bump_access_version() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    bound_system text := coalesce(current_setting('app.system', true), '');
BEGIN
    PERFORM set_config('app.system', 'on', true);
    IF TG_TABLE_NAME = 'users' THEN
        UPDATE agencies SET access_version = access_version + 1
        WHERE id IN (SELECT agency_id FROM credentials WHERE user_id = NEW.id);
    ELSE
        UPDATE agencies SET access_version = access_version + 1
        WHERE id = (CASE WHEN TG_OP = 'DELETE' THEN OLD.agency_id ELSE NEW.agency_id END);
    END IF;
    PERFORM set_config('app.system', bound_system, true);
    RETURN NULL;
END
$$
"""
# What authentication reads of a credential; last_used_at moves on use and changes nothing.
CREDENTIAL_CHANGED = " OR ".join(
    f"OLD.{column} IS DISTINCT FROM NEW.{column}"
    for column in (
        "kind",
        "user_id",
        "created_by",
        "system_issued",
        "scopes::text",
        "secret_hash",
        "expires_at",
        "revoked_at",
    )
)
TRIGGERS = {
    "credentials_access_changed": f"""
        AFTER UPDATE ON credentials FOR EACH ROW WHEN ({CREDENTIAL_CHANGED})""",
    "credentials_access_removed": "AFTER DELETE ON credentials FOR EACH ROW",
    "memberships_access_changed": """
        AFTER UPDATE ON memberships FOR EACH ROW
        WHEN (OLD.role IS DISTINCT FROM NEW.role OR OLD.user_id IS DISTINCT FROM NEW.user_id)""",
    "memberships_access_added_or_removed": "AFTER INSERT OR DELETE ON memberships FOR EACH ROW",
    "users_locale_changed": """
        AFTER UPDATE ON users FOR EACH ROW WHEN (OLD.locale IS DISTINCT FROM NEW.locale)""",
}


def upgrade() -> None:
    with op.batch_alter_table("agencies") as batch:
        batch.add_column(
            sa.Column("access_version", sa.BigInteger(), server_default="0", nullable=False)
        )
    if op.get_bind().dialect.name != "postgresql":
        return
    # Its result type changes: replaced, not altered.
    op.execute("DROP FUNCTION authenticate_credential(uuid, uuid)")
    op.execute(_function(AUTHENTICATE))
    op.execute(BIND)
    op.execute(BUMP)
    for name, when in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {when} EXECUTE FUNCTION bump_access_version()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, when in TRIGGERS.items():
            table = when.split(" ON ")[1].split()[0]
            op.execute(f"DROP TRIGGER {name} ON {table}")
        op.execute("DROP FUNCTION bump_access_version()")
        op.execute("DROP FUNCTION bind_agency(uuid)")
        op.execute("DROP FUNCTION authenticate_credential(uuid, uuid)")
        op.execute(_function(AUTHENTICATE_BEFORE))
    with op.batch_alter_table("agencies") as batch:
        batch.drop_column("access_version")
