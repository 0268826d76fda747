"""Publications, variants, attempts, versions and queue slots; brands' grace and policy.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agency.kernel.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = (
    "publications",
    "publication_variants",
    "publication_versions",
    "queue_slots",
    "publication_attempts",
)


def upgrade() -> None:
    op.create_table(
        "publications",
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("campaign", sa.String(length=100), nullable=True),
        sa.Column("reporting_line", sa.String(length=30), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("utm", sa.JSON(), nullable=False),
        sa.Column("recurrence", sa.String(length=500), nullable=True),
        sa.Column("series_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.Uuid(), nullable=True),
        sa.Column("canceled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_publications_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["approved_by"], ["users.id"], name=op.f("fk_publications_approved_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_publications_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_publications_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publications")),
    )
    with op.batch_alter_table("publications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_publications_agency_brand_scheduled",
            ["agency_id", "brand_id", "scheduled_at"],
            unique=False,
        )
        batch_op.create_index("ix_publications_agency_id_id", ["agency_id", "id"], unique=False)
        batch_op.create_index(
            "ix_publications_agency_scheduled", ["agency_id", "scheduled_at"], unique=False
        )

    op.create_table(
        "publication_variants",
        sa.Column("publication_id", sa.Uuid(), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("network", sa.String(length=40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=2000), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=True),
        sa.Column("first_comment", sa.Text(), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("media_ids", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hold_reason", sa.String(length=500), nullable=True),
        sa.Column("content_version", sa.Integer(), nullable=False),
        sa.Column("approved_version", sa.Integer(), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.String(length=300), nullable=True),
        sa.Column("post_url", sa.String(length=2000), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_comment_status", sa.String(length=20), nullable=True),
        sa.Column("last_error", sa.String(length=2000), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_publication_variants_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_publication_variants_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_publication_variants_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publications.id"],
            name=op.f("fk_publication_variants_publication_id_publications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publication_variants")),
    )
    with op.batch_alter_table("publication_variants", schema=None) as batch_op:
        batch_op.create_index(
            "ix_publication_variants_agency_channel_due",
            ["agency_id", "channel_id", "due_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_publication_variants_agency_id_id", ["agency_id", "id"], unique=False
        )
        batch_op.create_index(
            "ix_publication_variants_status_due", ["status", "due_at"], unique=False
        )
        batch_op.create_index(
            "uq_publication_variants_channel",
            ["agency_id", "publication_id", "channel_id"],
            unique=True,
        )

    op.create_table(
        "publication_versions",
        sa.Column("publication_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("actor_kind", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_publication_versions_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publications.id"],
            name=op.f("fk_publication_versions_publication_id_publications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publication_versions")),
    )
    with op.batch_alter_table("publication_versions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_publication_versions_agency_id_id", ["agency_id", "id"], unique=False
        )
        batch_op.create_index(
            "ix_publication_versions_agency_publication",
            ["agency_id", "publication_id", "number"],
            unique=False,
        )

    op.create_table(
        "queue_slots",
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("local_time", sa.String(length=5), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_queue_slots_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_queue_slots_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_slots")),
    )
    with op.batch_alter_table("queue_slots", schema=None) as batch_op:
        batch_op.create_index("ix_queue_slots_agency_id_id", ["agency_id", "id"], unique=False)
        batch_op.create_index(
            "uq_queue_slots_channel_time",
            ["agency_id", "channel_id", "weekday", "local_time"],
            unique=True,
        )

    op.create_table(
        "publication_attempts",
        sa.Column("variant_id", sa.Uuid(), nullable=False),
        sa.Column("publication_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("message", sa.String(length=2000), nullable=True),
        sa.Column("retry_after_seconds", sa.Double(), nullable=True),
        sa.Column("post_id", sa.String(length=300), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_publication_attempts_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publications.id"],
            name=op.f("fk_publication_attempts_publication_id_publications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["publication_variants.id"],
            name=op.f("fk_publication_attempts_variant_id_publication_variants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publication_attempts")),
    )
    with op.batch_alter_table("publication_attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_publication_attempts_agency_id_id", ["agency_id", "id"], unique=False
        )
        batch_op.create_index(
            "ix_publication_attempts_agency_variant",
            ["agency_id", "variant_id", "number"],
            unique=False,
        )
        batch_op.create_index(
            "ix_publication_attempts_outcome_started", ["outcome", "started_at"], unique=False
        )

    with op.batch_alter_table("brands", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("publish_grace_minutes", sa.Integer(), nullable=False, server_default="60")
        )
        batch_op.add_column(
            sa.Column(
                "approval_policy", sa.String(length=30), nullable=False, server_default="none"
            )
        )

    for table in TENANT_TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in TENANT_TABLES:
        disable_tenant_rls(table)
    with op.batch_alter_table("brands", schema=None) as batch_op:
        batch_op.drop_column("approval_policy")
        batch_op.drop_column("publish_grace_minutes")

    with op.batch_alter_table("publication_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_publication_attempts_outcome_started")
        batch_op.drop_index("ix_publication_attempts_agency_variant")
        batch_op.drop_index("ix_publication_attempts_agency_id_id")

    op.drop_table("publication_attempts")
    with op.batch_alter_table("queue_slots", schema=None) as batch_op:
        batch_op.drop_index("uq_queue_slots_channel_time")
        batch_op.drop_index("ix_queue_slots_agency_id_id")

    op.drop_table("queue_slots")
    with op.batch_alter_table("publication_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_publication_versions_agency_publication")
        batch_op.drop_index("ix_publication_versions_agency_id_id")

    op.drop_table("publication_versions")
    with op.batch_alter_table("publication_variants", schema=None) as batch_op:
        batch_op.drop_index("uq_publication_variants_channel")
        batch_op.drop_index("ix_publication_variants_status_due")
        batch_op.drop_index("ix_publication_variants_agency_id_id")
        batch_op.drop_index("ix_publication_variants_agency_channel_due")

    op.drop_table("publication_variants")
    with op.batch_alter_table("publications", schema=None) as batch_op:
        batch_op.drop_index("ix_publications_agency_scheduled")
        batch_op.drop_index("ix_publications_agency_id_id")
        batch_op.drop_index("ix_publications_agency_brand_scheduled")

    op.drop_table("publications")
