"""Privilege: who issued each token and invitation; idempotency keys per credential.

``system_issued`` marks the tokens and invitations the admin command issued (directly or
through a token of its own); every other one follows its issuer's current role. Existing rows
are marked from the audit log, and anything whose issuer cannot be told is left unmarked, so
it is refused rather than trusted. Stored idempotent answers cannot be attributed to a
credential and are dropped (they live a day at most).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 19:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agency.kernel.rls import span_every_agency

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# An object created by the system itself, or by a token the system issued.
_ISSUED_BY_SYSTEM = """
UPDATE {table} SET system_issued = true
WHERE NOT system_issued AND {issuer} IS NULL AND EXISTS (
    SELECT 1 FROM audit_events a
    WHERE a.agency_id = {table}.agency_id AND a.action = '{action}'
      AND a.object_id = {table}.id
      AND (a.actor_type = 'system' OR (a.actor_type = 'api_token' AND a.actor_id IN (
          SELECT c.id FROM credentials c WHERE c.system_issued)))
)
"""


def _add_flag(table: str) -> None:
    with op.batch_alter_table(table) as batch:
        batch.add_column(
            sa.Column("system_issued", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def _drop_default(table: str) -> None:
    with op.batch_alter_table(table) as batch:
        batch.alter_column("system_issued", server_default=None)


def upgrade() -> None:
    bind = op.get_bind()
    span_every_agency()
    _add_flag("credentials")
    _add_flag("invitations")
    # A token made by a system token is a system token: repeat until the chains are walked.
    token_sql = _ISSUED_BY_SYSTEM.format(
        table="credentials", issuer="created_by", action="api_token.created"
    )
    while bind.execute(sa.text(token_sql)).rowcount:
        pass
    op.execute(
        _ISSUED_BY_SYSTEM.format(
            table="invitations", issuer="invited_by", action="invitation.created"
        )
    )
    _drop_default("credentials")
    _drop_default("invitations")

    op.execute("DELETE FROM idempotency_keys")
    op.drop_index("uq_idempotency_keys_agency_key", table_name="idempotency_keys")
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.add_column(sa.Column("credential_id", sa.Uuid(), nullable=False))
        batch.create_foreign_key(
            op.f("fk_idempotency_keys_credential_id_credentials"),
            "credentials",
            ["credential_id"],
            ["id"],
            ondelete="CASCADE",
        )
    op.create_index(
        "uq_idempotency_keys_agency_credential_key",
        "idempotency_keys",
        ["agency_id", "credential_id", "key"],
        unique=True,
    )


def downgrade() -> None:
    span_every_agency()
    op.execute("DELETE FROM idempotency_keys")
    op.drop_index("uq_idempotency_keys_agency_credential_key", table_name="idempotency_keys")
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_constraint(
            op.f("fk_idempotency_keys_credential_id_credentials"), type_="foreignkey"
        )
        batch.drop_column("credential_id")
    op.create_index(
        "uq_idempotency_keys_agency_key", "idempotency_keys", ["agency_id", "key"], unique=True
    )
    with op.batch_alter_table("invitations") as batch:
        batch.drop_column("system_issued")
    with op.batch_alter_table("credentials") as batch:
        batch.drop_column("system_issued")
