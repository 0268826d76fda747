"""Approval policies of a brand, and the rounds, steps, decisions and comments of each
publication sent through one.

A *round* is one pass of one exact version (its ``content_hash``) through the steps of the
policy that routing chose; an edit closes it (``superseded``) and opens the next. Every table
carries ``brand_id``, so a client member sees the rows of their brands and nothing else.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, column
from sqlalchemy.orm import Mapped, mapped_column

from agency.kernel.db import Base, IdMixin, TimestampMixin
from agency.kernel.tenancy import TenantMixin


class ApprovalPolicy(IdMixin, TenantMixin, TimestampMixin, Base):
    """Ordered steps, and the routing conditions under which this policy applies."""

    __tablename__ = "approval_policies"
    __tenant_indexes__ = (
        Index("uq_approval_policies_brand_name", "agency_id", "brand_id", "name", unique=True),
        # One default per brand.
        Index(
            "uq_approval_policies_brand_default",
            "agency_id",
            "brand_id",
            unique=True,
            postgresql_where=column("is_default"),
            sqlite_where=column("is_default"),
        ),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(2000), default="")
    # The fallback when no routed policy matches; its conditions are empty.
    is_default: Mapped[bool] = mapped_column(default=False)
    # Routed policies are tried by priority (lowest first); the first that matches wins.
    priority: Mapped[int] = mapped_column(default=100)
    # {"reporting_lines": [...], "networks": [...], "campaigns": [...], "tags": [...],
    #  "has_video": bool, "has_link": bool, "is_reply": bool}: each given one must hold.
    conditions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # [{"name", "approvers": {"roles": [...], "reporting_lines": [...]}, "rule", "count",
    #   "applies_when": {...} | None, "due_minutes_before", "remind_minutes_before",
    #   "again_after_edit"}]
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class ApprovalRound(IdMixin, TenantMixin, TimestampMixin, Base):
    """One exact version of a publication going through a policy's steps."""

    __tablename__ = "approval_rounds"
    __tenant_indexes__ = (
        Index("ix_approval_rounds_agency_publication", "agency_id", "publication_id", "number"),
        # The scheduler's pass over rounds still open (holds at the publication's time).
        Index("ix_approval_rounds_status", "status"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    publication_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("publications.id", ondelete="CASCADE")
    )
    number: Mapped[int]
    policy_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("approval_policies.id", ondelete="SET NULL")
    )
    policy_name: Mapped[str] = mapped_column(String(100))
    # Why routing chose it: "default", or the conditions that matched.
    routed_by: Mapped[str] = mapped_column(String(500))
    # sha256 of every variant's channel and content (text, link, title, first comment,
    # options, media): what the decisions of this round are bound to.
    content_hash: Mapped[str] = mapped_column(String(64))
    publication_version: Mapped[int]
    # open | changes_requested | approved | rejected | superseded | closed
    status: Mapped[str] = mapped_column(String(20), default="open")
    current_step: Mapped[int | None]
    # The people who wrote this content: none of them decides on it.
    authors: Mapped[list[str]] = mapped_column(JSON, default=list)
    opened_by: Mapped[uuid.UUID | None]
    closed_at: Mapped[datetime | None]
    # Set when the publication's time came before the approval: held, and the team told.
    held_at: Mapped[datetime | None]


class ApprovalStep(IdMixin, TenantMixin, TimestampMixin, Base):
    """One step of a round: who decides, by which rule, by when."""

    __tablename__ = "approval_steps"
    __tenant_indexes__ = (
        Index("ix_approval_steps_agency_round", "agency_id", "round_id", "position"),
        # The scheduler's claim of reminders and escalations, across agencies.
        Index("ix_approval_steps_status_remind", "status", "remind_at"),
        Index("ix_approval_steps_status_due", "status", "due_at"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    publication_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("publications.id", ondelete="CASCADE")
    )
    round_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("approval_rounds.id", ondelete="CASCADE")
    )
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(100))
    # any | all | count
    rule: Mapped[str] = mapped_column(String(10))
    needed: Mapped[int]
    # The step as the policy said it when the round opened (approvers, deadlines...).
    definition: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # waiting | open | approved | changes_requested | rejected | skipped | kept | superseded
    status: Mapped[str] = mapped_column(String(20), default="waiting")
    approvals: Mapped[int] = mapped_column(default=0)
    # Kept from an earlier round (again_after_edit false): that round's step.
    kept_from: Mapped[uuid.UUID | None]
    # The publication time the deadlines below were computed from.
    timed_for: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    remind_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    opened_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]


class ApprovalAssignment(IdMixin, TenantMixin, TimestampMixin, Base):
    """A person who may decide on a step: an agency member or a client member."""

    __tablename__ = "approval_assignments"
    __tenant_indexes__ = (
        Index("uq_approval_assignments_step_user", "agency_id", "step_id", "user_id", unique=True),
        Index("ix_approval_assignments_agency_user", "agency_id", "user_id"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    publication_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("publications.id", ondelete="CASCADE")
    )
    round_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("approval_rounds.id", ondelete="CASCADE")
    )
    step_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("approval_steps.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # staff | client
    kind: Mapped[str] = mapped_column(String(10))
    client_member_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("client_members.id", ondelete="CASCADE")
    )
    # Why: "role:manager", "line:press_relations", or "escalation:..."
    reason: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    locale: Mapped[str] = mapped_column(String(8))
    escalated: Mapped[bool] = mapped_column(default=False)


class ApprovalDecision(IdMixin, TenantMixin, TimestampMixin, Base):
    """Who decided what, on which exact version, at which step; never changed afterwards."""

    __tablename__ = "approval_decisions"
    __tenant_indexes__ = (
        Index("ix_approval_decisions_agency_publication", "agency_id", "publication_id"),
        # Deciding twice on one step is refused; the index is the last word under a race.
        Index("uq_approval_decisions_step_user", "agency_id", "step_id", "user_id", unique=True),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    publication_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("publications.id", ondelete="CASCADE")
    )
    round_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("approval_rounds.id", ondelete="CASCADE")
    )
    step_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("approval_steps.id", ondelete="CASCADE"))
    content_hash: Mapped[str] = mapped_column(String(64))
    # approve | request_changes | reject
    decision: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str | None] = mapped_column(Text)
    # Kept when the person's account goes: the name below still says who it was.
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # staff | client
    actor_kind: Mapped[str] = mapped_column(String(10))
    client_member_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("client_members.id", ondelete="SET NULL")
    )
    name: Mapped[str] = mapped_column(String(200))
    # Whether it moved the step: false when another decision had settled it a moment before.
    counted: Mapped[bool] = mapped_column(default=True)
    # How it came: api | link (a decision link by e-mail)
    via: Mapped[str] = mapped_column(String(10), default="api")


class ApprovalComment(IdMixin, TenantMixin, TimestampMixin, Base):
    """A comment on one version, threaded, pointing at the text it is about."""

    __tablename__ = "approval_comments"
    __tenant_indexes__ = (
        Index("ix_approval_comments_agency_publication", "agency_id", "publication_id"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    publication_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("publications.id", ondelete="CASCADE")
    )
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("approval_comments.id", ondelete="CASCADE")
    )
    content_hash: Mapped[str] = mapped_column(String(64))
    publication_version: Mapped[int]
    channel_id: Mapped[uuid.UUID | None]
    # The passage the comment points at, as it read in that version.
    quote: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_kind: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(200))
