"""Approvals: policies per brand, rounds of a publication's exact version through their
steps, the people asked, their decisions, and comments on a version.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agency.kernel.rls import disable_tenant_rls, enable_tenant_rls, tenant_columns

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = (
    "approval_policies",
    "approval_rounds",
    "approval_steps",
    "approval_assignments",
    "approval_decisions",
    "approval_comments",
)


def upgrade() -> None:
    op.create_table(
        "approval_policies",
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_approval_policies_brand_id_brands"),
            ondelete="CASCADE",
        ),
        *tenant_columns("approval_policies"),
    )
    op.create_index(
        "ix_approval_policies_agency_id_id", "approval_policies", ["agency_id", "id"], unique=False
    )
    op.create_index(
        "uq_approval_policies_brand_default",
        "approval_policies",
        ["agency_id", "brand_id"],
        unique=True,
        postgresql_where=sa.text("is_default"),
        sqlite_where=sa.text("is_default"),
    )
    op.create_index(
        "uq_approval_policies_brand_name",
        "approval_policies",
        ["agency_id", "brand_id", "name"],
        unique=True,
    )
    op.create_table(
        "approval_rounds",
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("publication_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.Uuid(), nullable=True),
        sa.Column("policy_name", sa.String(length=100), nullable=False),
        sa.Column("routed_by", sa.String(length=500), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("publication_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("current_step", sa.Integer(), nullable=True),
        sa.Column("authors", sa.JSON(), nullable=False),
        sa.Column("opened_by", sa.Uuid(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_approval_rounds_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["approval_policies.id"],
            name=op.f("fk_approval_rounds_policy_id_approval_policies"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publications.id"],
            name=op.f("fk_approval_rounds_publication_id_publications"),
            ondelete="CASCADE",
        ),
        *tenant_columns("approval_rounds"),
    )
    op.create_index(
        "ix_approval_rounds_agency_id_id", "approval_rounds", ["agency_id", "id"], unique=False
    )
    op.create_index(
        "ix_approval_rounds_agency_publication",
        "approval_rounds",
        ["agency_id", "publication_id", "number"],
        unique=False,
    )
    op.create_index("ix_approval_rounds_status", "approval_rounds", ["status"], unique=False)
    op.create_table(
        "approval_steps",
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("publication_id", sa.Uuid(), nullable=False),
        sa.Column("round_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("rule", sa.String(length=10), nullable=False),
        sa.Column("needed", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("approvals", sa.Integer(), nullable=False),
        sa.Column("kept_from", sa.Uuid(), nullable=True),
        sa.Column("timed_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("remind_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_approval_steps_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publications.id"],
            name=op.f("fk_approval_steps_publication_id_publications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["approval_rounds.id"],
            name=op.f("fk_approval_steps_round_id_approval_rounds"),
            ondelete="CASCADE",
        ),
        *tenant_columns("approval_steps"),
    )
    op.create_index(
        "ix_approval_steps_agency_id_id", "approval_steps", ["agency_id", "id"], unique=False
    )
    op.create_index(
        "ix_approval_steps_agency_round",
        "approval_steps",
        ["agency_id", "round_id", "position"],
        unique=False,
    )
    op.create_index(
        "ix_approval_steps_status_due", "approval_steps", ["status", "due_at"], unique=False
    )
    op.create_index(
        "ix_approval_steps_status_remind", "approval_steps", ["status", "remind_at"], unique=False
    )
    op.create_table(
        "approval_assignments",
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("publication_id", sa.Uuid(), nullable=False),
        sa.Column("round_id", sa.Uuid(), nullable=False),
        sa.Column("step_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("client_member_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("escalated", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_approval_assignments_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_member_id"],
            ["client_members.id"],
            name=op.f("fk_approval_assignments_client_member_id_client_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publications.id"],
            name=op.f("fk_approval_assignments_publication_id_publications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["approval_rounds.id"],
            name=op.f("fk_approval_assignments_round_id_approval_rounds"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["step_id"],
            ["approval_steps.id"],
            name=op.f("fk_approval_assignments_step_id_approval_steps"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_approval_assignments_user_id_users"),
            ondelete="CASCADE",
        ),
        *tenant_columns("approval_assignments"),
    )
    op.create_index(
        "ix_approval_assignments_agency_id_id",
        "approval_assignments",
        ["agency_id", "id"],
        unique=False,
    )
    op.create_index(
        "ix_approval_assignments_agency_user",
        "approval_assignments",
        ["agency_id", "user_id"],
        unique=False,
    )
    op.create_index(
        "uq_approval_assignments_step_user",
        "approval_assignments",
        ["agency_id", "step_id", "user_id"],
        unique=True,
    )
    op.create_table(
        "approval_decisions",
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("publication_id", sa.Uuid(), nullable=False),
        sa.Column("round_id", sa.Uuid(), nullable=False),
        sa.Column("step_id", sa.Uuid(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("actor_kind", sa.String(length=10), nullable=False),
        sa.Column("client_member_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.Column("via", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_approval_decisions_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_member_id"],
            ["client_members.id"],
            name=op.f("fk_approval_decisions_client_member_id_client_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publications.id"],
            name=op.f("fk_approval_decisions_publication_id_publications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["approval_rounds.id"],
            name=op.f("fk_approval_decisions_round_id_approval_rounds"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["step_id"],
            ["approval_steps.id"],
            name=op.f("fk_approval_decisions_step_id_approval_steps"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_approval_decisions_user_id_users"),
            ondelete="SET NULL",
        ),
        *tenant_columns("approval_decisions"),
    )
    op.create_index(
        "ix_approval_decisions_agency_id_id",
        "approval_decisions",
        ["agency_id", "id"],
        unique=False,
    )
    op.create_index(
        "ix_approval_decisions_agency_publication",
        "approval_decisions",
        ["agency_id", "publication_id"],
        unique=False,
    )
    op.create_index(
        "uq_approval_decisions_step_user",
        "approval_decisions",
        ["agency_id", "step_id", "user_id"],
        unique=True,
    )
    op.create_table(
        "approval_comments",
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("publication_id", sa.Uuid(), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("publication_version", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=True),
        sa.Column("quote", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("actor_kind", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_approval_comments_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["approval_comments.id"],
            name=op.f("fk_approval_comments_parent_id_approval_comments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publications.id"],
            name=op.f("fk_approval_comments_publication_id_publications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_approval_comments_user_id_users"),
            ondelete="SET NULL",
        ),
        *tenant_columns("approval_comments"),
    )
    op.create_index(
        "ix_approval_comments_agency_id_id", "approval_comments", ["agency_id", "id"], unique=False
    )
    op.create_index(
        "ix_approval_comments_agency_publication",
        "approval_comments",
        ["agency_id", "publication_id"],
        unique=False,
    )
    for table in TENANT_TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in reversed(TENANT_TABLES):
        disable_tenant_rls(table)
        op.drop_table(table)
