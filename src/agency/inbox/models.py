"""The inbox: what people say under the brand's posts, and what the brand answers.

- :class:`InboxRules` is one brand's triage rules and answer deadlines (SLA).
- :class:`InboxChannel` is one channel's collection: when it is read next, and its cursor
  (the time up to which everything was read), which moves only when a pull succeeded.
- :class:`Thread` is one conversation: under a post of the brand, or started by someone
  else's post that mentions the brand (its ``subject``).
- :class:`Message` is one comment, stored once (unique on channel and network id), with its
  triage (origin, type, each with why), status, assignee and deadline.
- :class:`Note` is an internal note on a message; :class:`SavedReply` a brand's canned answer.
- :class:`Answer` is a public reply, sent once by a job; :class:`AnswerAttempt` each call,
  committed before the network hears of it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, column, false
from sqlalchemy.orm import Mapped, mapped_column

from agency.kernel.db import Base, Choice, IdMixin, TimestampMixin
from agency.kernel.tenancy import ActorKind, TenantMixin


class ThreadSubject(StrEnum):
    """What a thread is the conversation under."""

    POST = "post"  # a post the brand published (through a publication)
    MENTION = "mention"  # someone else's post naming the brand's account
    PRIVATE = "private"  # one person's private messages to the brand's account


class Origin(StrEnum):
    CUSTOMER = "customer"
    PROSPECT = "prospect"
    BLOGGER = "blogger"
    INFLUENCER = "influencer"
    JOURNALIST = "journalist"
    TROLL = "troll"
    UNKNOWN = "unknown"


class Kind(StrEnum):
    QUESTION = "question"
    COMPLAINT = "complaint"
    PRAISE = "praise"
    SPAM = "spam"
    ABUSE = "abuse"
    OTHER = "other"


class MessageStatus(StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    WAITING = "waiting"
    ANSWERED = "answered"
    CLOSED = "closed"


class AnswerStatus(StrEnum):
    HELD = "held"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"
    CANCELED = "canceled"


class AnswerAttemptKind(StrEnum):
    SEND = "send"
    RECONCILE = "reconcile"


class AnswerAttemptOutcome(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"
    RATE_LIMITED = "rate_limited"
    RETRY = "retry"
    FOUND = "found"
    NOT_FOUND = "not_found"


class ModerationStatus(StrEnum):
    QUEUED = "queued"
    CALLING = "calling"
    DONE = "done"
    REFUSED = "refused"
    FAILED = "failed"


class InboxRules(TenantMixin, TimestampMixin, Base):
    """A brand's triage rules and answer deadlines; absent: the defaults (docs/inbox.md)."""

    __tablename__ = "inbox_rules"

    # The brand's own id: one row per brand.
    id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("brands.id", ondelete="CASCADE"), primary_key=True
    )
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    # origin -> handles known to be of that origin ({"journalist": ["@jdupont"]})
    handles: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # origin -> words that reveal it in a message ({"journalist": ["rédaction"]})
    origin_keywords: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # type -> words, tried before the built-in ones ({"complaint": ["colis"]})
    type_keywords: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # {"default_minutes": 240, "networks": {"x": 60}, "origins": {"journalist": 30}}
    sla: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class InboxChannel(TenantMixin, TimestampMixin, Base):
    """A channel whose comments are collected: its rhythm, lease and cursor."""

    __tablename__ = "inbox_channels"
    __tenant_indexes__ = (
        # The scheduler's claim runs across agencies, by due time.
        Index("ix_inbox_channels_next_pull_at", "next_pull_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True
    )
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    network: Mapped[str] = mapped_column(String(40))
    next_pull_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    # Everything the network dated before this was read; None: nothing read yet.
    cursor: Mapped[datetime | None]
    last_pulled_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))


class Thread(IdMixin, TenantMixin, TimestampMixin, Base):
    """The conversation under one post: the brand's own (``post``), or someone else's that
    mentions the brand (``mention``: the post is the thread's first message)."""

    __tablename__ = "inbox_threads"
    __tenant_indexes__ = (
        Index("uq_inbox_threads_post", "agency_id", "channel_id", "post_id", unique=True),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    network: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(
        Choice(ThreadSubject), default=ThreadSubject.POST, server_default="post"
    )
    # The post's id at the network: where the comments are read and answers go.
    post_id: Mapped[str] = mapped_column(String(300))
    post_url: Mapped[str | None] = mapped_column(String(2000))
    publication_id: Mapped[uuid.UUID | None]
    variant_id: Mapped[uuid.UUID | None]
    title: Mapped[str] = mapped_column(String(200), default="")
    published_at: Mapped[datetime | None]
    last_message_at: Mapped[datetime | None]


# Messages whose deadline the scheduler watches: still waiting for an answer, not alerted yet.
DEADLINE_WATCHED = (
    (
        (column("status") == "new")
        | (column("status") == "assigned")
        | (column("status") == "waiting")
    )
    & column("due_at").is_not(None)
    & column("breached_at").is_(None)
)


class Message(IdMixin, TenantMixin, TimestampMixin, Base):
    """One comment under a post of the brand, as the network gave it, and its triage."""

    __tablename__ = "inbox_messages"
    __tenant_indexes__ = (
        Index("uq_inbox_messages_network_id", "agency_id", "channel_id", "network_id", unique=True),
        Index("ix_inbox_messages_agency_brand_status", "agency_id", "brand_id", "status", "due_at"),
        Index("ix_inbox_messages_agency_due", "agency_id", "due_at"),
        Index("ix_inbox_messages_agency_thread", "agency_id", "thread_id", "received_at"),
        # Reports read a brand's comments of a period (reporting's migration adds it).
        Index("ix_inbox_messages_agency_brand_received", "agency_id", "brand_id", "received_at"),
        # A brand's inbox, newest first: walked backwards, one page read (migration 0034 adds
        # the statistics that make the planner take it).
        Index("ix_inbox_messages_agency_brand_id", "agency_id", "brand_id", "id"),
        # The scheduler's deadline claim, across agencies: open messages not yet alerted.
        Index(
            "ix_inbox_messages_deadline_watch",
            "due_at",
            postgresql_where=DEADLINE_WATCHED,
            sqlite_where=DEADLINE_WATCHED,
        ),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    thread_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inbox_threads.id", ondelete="CASCADE"))
    network: Mapped[str] = mapped_column(String(40))
    # The comment's id at the network (what a reply, a hide or a delete names).
    network_id: Mapped[str] = mapped_column(String(300))
    parent_id: Mapped[str | None] = mapped_column(String(300))
    author_id: Mapped[str | None] = mapped_column(String(300))
    author_name: Mapped[str | None] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text, default="")
    # When the network says it was written (else when it was collected): the SLA's start.
    received_at: Mapped[datetime]
    # customer | prospect | blogger | influencer | journalist | troll | unknown
    origin: Mapped[str] = mapped_column(Choice(Origin))
    origin_why: Mapped[str] = mapped_column(String(500))
    # question | complaint | praise | spam | abuse | other
    kind: Mapped[str] = mapped_column(Choice(Kind))
    kind_why: Mapped[str] = mapped_column(String(500))
    # new | assigned | waiting | answered | closed
    status: Mapped[str] = mapped_column(Choice(MessageStatus), default=MessageStatus.NEW)
    assigned_to: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    # None: no answer expected (spam, abuse).
    due_at: Mapped[datetime | None]
    # When the team was told the deadline was near, then passed (each once per deadline).
    warned_at: Mapped[datetime | None]
    breached_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    response_seconds: Mapped[int | None]
    hidden: Mapped[bool] = mapped_column(default=False)
    # Written to the brand privately: answered privately, to its author only.
    private: Mapped[bool] = mapped_column(default=False, server_default=false())
    deleted_at: Mapped[datetime | None]
    # The last moderation: {"action", "clause", "clause_text", "actor", "at"}
    moderation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class Note(IdMixin, TenantMixin, TimestampMixin, Base):
    """An internal note on a message: the team's, never sent anywhere."""

    __tablename__ = "inbox_notes"
    __tenant_indexes__ = (Index("ix_inbox_notes_agency_message", "agency_id", "message_id"),)

    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("inbox_messages.id", ondelete="CASCADE")
    )
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    author_kind: Mapped[str] = mapped_column(Choice(ActorKind))
    author_id: Mapped[uuid.UUID | None]
    text: Mapped[str] = mapped_column(Text)


class SavedReply(IdMixin, TenantMixin, TimestampMixin, Base):
    """A brand's canned answer, with placeholders filled in when it is used."""

    __tablename__ = "inbox_saved_replies"
    __tenant_indexes__ = (
        Index("uq_inbox_saved_replies_name", "agency_id", "brand_id", "name", unique=True),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)


class Answer(IdMixin, TenantMixin, TimestampMixin, Base):
    """A public reply to a message, sent exactly once by the ``inbox.send_answer`` job."""

    __tablename__ = "inbox_answers"
    __tenant_indexes__ = (
        Index("ix_inbox_answers_agency_message", "agency_id", "message_id"),
        # The scheduler's claim runs across agencies: queued answers and stale calls.
        Index("ix_inbox_answers_status_not_before", "status", "not_before"),
    )

    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("inbox_messages.id", ondelete="CASCADE")
    )
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    saved_reply_id: Mapped[uuid.UUID | None]
    status: Mapped[str] = mapped_column(Choice(AnswerStatus))
    author_kind: Mapped[str] = mapped_column(Choice(ActorKind))
    author_id: Mapped[uuid.UUID | None]
    # The crisis that held it, and whose decision makers cleared it (None: not cleared).
    crisis_id: Mapped[uuid.UUID | None]
    crisis_cleared: Mapped[uuid.UUID | None]
    approved_by: Mapped[uuid.UUID | None]
    approved_at: Mapped[datetime | None]
    idempotency_key: Mapped[str] = mapped_column(String(200))
    attempt_count: Mapped[int] = mapped_column(default=0)
    not_before: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    reply_id: Mapped[str | None] = mapped_column(String(300))
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(2000))


class AnswerAttempt(IdMixin, TenantMixin, Base):
    """One call to the network for an answer, committed *before* the call is made."""

    __tablename__ = "inbox_answer_attempts"
    __tenant_indexes__ = (
        Index("ix_inbox_answer_attempts_agency_answer", "agency_id", "answer_id", "number"),
    )

    answer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inbox_answers.id", ondelete="CASCADE"))
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    number: Mapped[int]
    # send | reconcile
    kind: Mapped[str] = mapped_column(Choice(AnswerAttemptKind))
    # pending | sent | failed | unknown | rate_limited | retry | found | not_found | held
    outcome: Mapped[str] = mapped_column(
        Choice(AnswerAttemptOutcome), default=AnswerAttemptOutcome.PENDING
    )
    idempotency_key: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    http_status: Mapped[int | None]
    message: Mapped[str | None] = mapped_column(String(2000))
    reply_id: Mapped[str | None] = mapped_column(String(300))


class Moderation(IdMixin, TenantMixin, TimestampMixin, Base):
    """A hide, show or delete at the network, citing the brand's community charter, carried
    out by the ``inbox.moderate`` job: recorded by the request, called by the worker."""

    __tablename__ = "inbox_moderations"
    __tenant_indexes__ = (
        Index("ix_inbox_moderations_agency_message", "agency_id", "message_id"),
        # The scheduler's claim runs across agencies: actions due and calls whose worker died.
        Index("ix_inbox_moderations_status_not_before", "status", "not_before"),
    )

    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("inbox_messages.id", ondelete="CASCADE")
    )
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    # hide | show | delete
    action: Mapped[str] = mapped_column(String(10))
    clause: Mapped[int]
    clause_text: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(Choice(ModerationStatus))
    attempt_count: Mapped[int] = mapped_column(default=0)
    not_before: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    http_status: Mapped[int | None]
    # The network's words for a refusal, or why the last call did not go through.
    outcome: Mapped[str | None] = mapped_column(String(2000))
    finished_at: Mapped[datetime | None]
