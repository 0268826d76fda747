"""Row-Level Security policies, written by migrations on PostgreSQL (the second wall).

A row is visible and writable only when its agency is the one bound to the transaction
(``SET LOCAL app.agency_id``), or when the transaction is the scheduler's or a maintenance
job's (``app.system``). ``FORCE`` makes the policies bind the table owner too; the app
connects as a role that owns nothing anyway. Changing these strings means a new migration.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

CURRENT_AGENCY = "NULLIF(current_setting('app.agency_id', true), '')::uuid"
CURRENT_USER = "NULLIF(current_setting('app.user_id', true), '')::uuid"
SYSTEM_SETTING = "app.system"
SYSTEM = f"coalesce(current_setting('{SYSTEM_SETTING}', true), '') = 'on'"


def enable_tenant_rls(table: str, column: str = "agency_id", extra: str | None = None) -> None:
    """Enable and force RLS on ``table`` with the tenant policy (PostgreSQL only)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    condition = f"({column} = {CURRENT_AGENCY} OR {SYSTEM})"
    read_condition = f"({condition} OR {extra})" if extra else condition
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} USING {read_condition} WITH CHECK {condition}"
    )


def disable_tenant_rls(table: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
    op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")


def span_every_agency() -> None:
    """Let a migration's data changes reach every agency's rows: FORCE binds its role too."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"SELECT set_config('{SYSTEM_SETTING}', 'on', true)")


def tenant_columns(table: str) -> list[SchemaItem]:
    """The columns and keys every tenant table shares (``IdMixin``, ``TenantMixin``,
    ``TimestampMixin``), for migrations that create one."""
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f(f"fk_{table}_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]
