"""The inbox: messages under the brand's posts, their threads, answers, notes, saved
replies, each channel's collection cursor and each brand's triage rules.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-04 00:25:37.431000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agency.kernel.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbox_rules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("handles", sa.JSON(), nullable=False),
        sa.Column("origin_keywords", sa.JSON(), nullable=False),
        sa.Column("type_keywords", sa.JSON(), nullable=False),
        sa.Column("sla", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_inbox_rules_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_inbox_rules_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["id"], ["brands.id"], name=op.f("fk_inbox_rules_id_brands"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_rules")),
    )
    with op.batch_alter_table("inbox_rules", schema=None) as batch_op:
        batch_op.create_index("ix_inbox_rules_agency_id_id", ["agency_id", "id"], unique=False)

    op.create_table(
        "inbox_saved_replies",
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_inbox_saved_replies_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_inbox_saved_replies_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_saved_replies")),
    )
    with op.batch_alter_table("inbox_saved_replies", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inbox_saved_replies_agency_id_id", ["agency_id", "id"], unique=False
        )
        batch_op.create_index(
            "uq_inbox_saved_replies_name", ["agency_id", "brand_id", "name"], unique=True
        )

    op.create_table(
        "inbox_channels",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("network", sa.String(length=40), nullable=False),
        sa.Column("next_pull_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cursor", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_pulled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_inbox_channels_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_inbox_channels_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["id"], ["channels.id"], name=op.f("fk_inbox_channels_id_channels"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_channels")),
    )
    with op.batch_alter_table("inbox_channels", schema=None) as batch_op:
        batch_op.create_index("ix_inbox_channels_agency_id_id", ["agency_id", "id"], unique=False)
        batch_op.create_index("ix_inbox_channels_next_pull_at", ["next_pull_at"], unique=False)

    op.create_table(
        "inbox_threads",
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("network", sa.String(length=40), nullable=False),
        sa.Column("post_id", sa.String(length=300), nullable=False),
        sa.Column("post_url", sa.String(length=2000), nullable=True),
        sa.Column("publication_id", sa.Uuid(), nullable=True),
        sa.Column("variant_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_inbox_threads_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_inbox_threads_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_inbox_threads_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_threads")),
    )
    with op.batch_alter_table("inbox_threads", schema=None) as batch_op:
        batch_op.create_index("ix_inbox_threads_agency_id_id", ["agency_id", "id"], unique=False)
        batch_op.create_index(
            "uq_inbox_threads_post", ["agency_id", "channel_id", "post_id"], unique=True
        )

    op.create_table(
        "inbox_messages",
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("thread_id", sa.Uuid(), nullable=False),
        sa.Column("network", sa.String(length=40), nullable=False),
        sa.Column("network_id", sa.String(length=300), nullable=False),
        sa.Column("parent_id", sa.String(length=300), nullable=True),
        sa.Column("author_id", sa.String(length=300), nullable=True),
        sa.Column("author_name", sa.String(length=300), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("origin", sa.String(length=20), nullable=False),
        sa.Column("origin_why", sa.String(length=500), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("kind_why", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("assigned_to", sa.Uuid(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("response_seconds", sa.Integer(), nullable=True),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("moderation", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_inbox_messages_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["assigned_to"], ["users.id"], name=op.f("fk_inbox_messages_assigned_to_users")
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_inbox_messages_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_inbox_messages_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["inbox_threads.id"],
            name=op.f("fk_inbox_messages_thread_id_inbox_threads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_messages")),
    )
    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inbox_messages_agency_brand_status",
            ["agency_id", "brand_id", "status", "due_at"],
            unique=False,
        )
        batch_op.create_index("ix_inbox_messages_agency_due", ["agency_id", "due_at"], unique=False)
        batch_op.create_index("ix_inbox_messages_agency_id_id", ["agency_id", "id"], unique=False)
        batch_op.create_index(
            "ix_inbox_messages_agency_thread",
            ["agency_id", "thread_id", "received_at"],
            unique=False,
        )
        batch_op.create_index(
            "uq_inbox_messages_network_id", ["agency_id", "channel_id", "network_id"], unique=True
        )

    op.create_table(
        "inbox_answers",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("saved_reply_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("author_kind", sa.String(length=20), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("crisis_id", sa.Uuid(), nullable=True),
        sa.Column("crisis_cleared", sa.Uuid(), nullable=True),
        sa.Column("approved_by", sa.Uuid(), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reply_id", sa.String(length=300), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=2000), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_inbox_answers_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_inbox_answers_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_inbox_answers_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["inbox_messages.id"],
            name=op.f("fk_inbox_answers_message_id_inbox_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_answers")),
    )
    with op.batch_alter_table("inbox_answers", schema=None) as batch_op:
        batch_op.create_index("ix_inbox_answers_agency_id_id", ["agency_id", "id"], unique=False)
        batch_op.create_index(
            "ix_inbox_answers_agency_message", ["agency_id", "message_id"], unique=False
        )
        batch_op.create_index(
            "ix_inbox_answers_status_not_before", ["status", "not_before"], unique=False
        )

    op.create_table(
        "inbox_notes",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("author_kind", sa.String(length=20), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_inbox_notes_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_inbox_notes_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["inbox_messages.id"],
            name=op.f("fk_inbox_notes_message_id_inbox_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_notes")),
    )
    with op.batch_alter_table("inbox_notes", schema=None) as batch_op:
        batch_op.create_index("ix_inbox_notes_agency_id_id", ["agency_id", "id"], unique=False)
        batch_op.create_index(
            "ix_inbox_notes_agency_message", ["agency_id", "message_id"], unique=False
        )

    op.create_table(
        "inbox_answer_attempts",
        sa.Column("answer_id", sa.Uuid(), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("message", sa.String(length=2000), nullable=True),
        sa.Column("reply_id", sa.String(length=300), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_inbox_answer_attempts_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["answer_id"],
            ["inbox_answers.id"],
            name=op.f("fk_inbox_answer_attempts_answer_id_inbox_answers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_inbox_answer_attempts_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_answer_attempts")),
    )
    with op.batch_alter_table("inbox_answer_attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inbox_answer_attempts_agency_answer",
            ["agency_id", "answer_id", "number"],
            unique=False,
        )
        batch_op.create_index(
            "ix_inbox_answer_attempts_agency_id_id", ["agency_id", "id"], unique=False
        )
    enable_tenant_rls("inbox_rules")
    enable_tenant_rls("inbox_saved_replies")
    enable_tenant_rls("inbox_channels")
    enable_tenant_rls("inbox_threads")
    enable_tenant_rls("inbox_messages")
    enable_tenant_rls("inbox_answers")
    enable_tenant_rls("inbox_notes")
    enable_tenant_rls("inbox_answer_attempts")


def downgrade() -> None:
    disable_tenant_rls("inbox_answer_attempts")
    disable_tenant_rls("inbox_notes")
    disable_tenant_rls("inbox_answers")
    disable_tenant_rls("inbox_messages")
    disable_tenant_rls("inbox_threads")
    disable_tenant_rls("inbox_channels")
    disable_tenant_rls("inbox_saved_replies")
    disable_tenant_rls("inbox_rules")
    with op.batch_alter_table("inbox_answer_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_answer_attempts_agency_id_id")
        batch_op.drop_index("ix_inbox_answer_attempts_agency_answer")

    op.drop_table("inbox_answer_attempts")
    with op.batch_alter_table("inbox_notes", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_notes_agency_message")
        batch_op.drop_index("ix_inbox_notes_agency_id_id")

    op.drop_table("inbox_notes")
    with op.batch_alter_table("inbox_answers", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_answers_status_not_before")
        batch_op.drop_index("ix_inbox_answers_agency_message")
        batch_op.drop_index("ix_inbox_answers_agency_id_id")

    op.drop_table("inbox_answers")
    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.drop_index("uq_inbox_messages_network_id")
        batch_op.drop_index("ix_inbox_messages_agency_thread")
        batch_op.drop_index("ix_inbox_messages_agency_id_id")
        batch_op.drop_index("ix_inbox_messages_agency_due")
        batch_op.drop_index("ix_inbox_messages_agency_brand_status")

    op.drop_table("inbox_messages")
    with op.batch_alter_table("inbox_threads", schema=None) as batch_op:
        batch_op.drop_index("uq_inbox_threads_post")
        batch_op.drop_index("ix_inbox_threads_agency_id_id")

    op.drop_table("inbox_threads")
    with op.batch_alter_table("inbox_channels", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_channels_next_pull_at")
        batch_op.drop_index("ix_inbox_channels_agency_id_id")

    op.drop_table("inbox_channels")
    with op.batch_alter_table("inbox_saved_replies", schema=None) as batch_op:
        batch_op.drop_index("uq_inbox_saved_replies_name")
        batch_op.drop_index("ix_inbox_saved_replies_agency_id_id")

    op.drop_table("inbox_saved_replies")
    with op.batch_alter_table("inbox_rules", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_rules_agency_id_id")

    op.drop_table("inbox_rules")
