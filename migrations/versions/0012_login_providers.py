"""Identity providers per brand or agency, sign-in attempts, and the agency's login origins.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 19:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agency.kernel.rls import disable_tenant_rls, enable_tenant_rls, tenant_columns

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("login_providers", "login_attempts")


def upgrade() -> None:
    op.add_column(
        "agencies",
        sa.Column("login_origins", sa.JSON(), nullable=False, server_default=sa.text("'[]'")),
    )
    op.create_table(
        "login_providers",
        sa.Column("brand_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("issuer", sa.String(length=2000), nullable=True),
        sa.Column("authorization_endpoint", sa.String(length=2000), nullable=True),
        sa.Column("token_endpoint", sa.String(length=2000), nullable=True),
        sa.Column("userinfo_endpoint", sa.String(length=2000), nullable=True),
        sa.Column("client_id", sa.String(length=500), nullable=False),
        sa.Column("client_secret", sa.Text(), nullable=True),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("allowed_domains", sa.JSON(), nullable=False),
        sa.Column("required_claim", sa.String(length=200), nullable=True),
        sa.Column("required_value", sa.String(length=500), nullable=True),
        sa.Column("email_claim", sa.String(length=200), nullable=False),
        sa.Column("name_claim", sa.String(length=200), nullable=False),
        sa.Column("reporting_line_claim", sa.String(length=200), nullable=True),
        sa.Column("reporting_lines", sa.JSON(), nullable=False),
        sa.Column("default_reporting_line", sa.String(length=30), nullable=True),
        sa.Column("just_in_time", sa.Boolean(), nullable=False),
        sa.Column("member_permissions", sa.JSON(), nullable=False),
        sa.Column("member_locale", sa.String(length=8), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_login_providers_brand_id_brands"),
            ondelete="CASCADE",
        ),
        *tenant_columns("login_providers"),
    )
    op.create_index(
        "ix_login_providers_agency_brand",
        "login_providers",
        ["agency_id", "brand_id"],
        unique=False,
    )
    op.create_table(
        "login_attempts",
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=100), nullable=False),
        sa.Column("code_verifier", sa.Text(), nullable=False),
        sa.Column("return_to", sa.String(length=2000), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["login_providers.id"],
            name=op.f("fk_login_attempts_provider_id_login_providers"),
            ondelete="CASCADE",
        ),
        *tenant_columns("login_attempts"),
    )
    for table in TENANT_TABLES:
        op.create_index(f"ix_{table}_agency_id_id", table, ["agency_id", "id"], unique=False)
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in reversed(TENANT_TABLES):
        disable_tenant_rls(table)
        op.drop_table(table)
    op.drop_column("agencies", "login_origins")
