from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import msgspec

from agency.inbox.models import (
    Answer,
    AnswerAttempt,
    Message,
    Moderation,
    Note,
    SavedReply,
    Thread,
)
from agency.inbox.models import AnswerAttemptKind as AnswerAttemptKind
from agency.inbox.models import AnswerAttemptOutcome as AnswerAttemptOutcome
from agency.inbox.models import AnswerStatus as AnswerStatus
from agency.inbox.models import Kind as Kind
from agency.inbox.models import MessageStatus as MessageStatus
from agency.inbox.models import ModerationStatus as ModerationStatus
from agency.inbox.models import Origin as Origin
from agency.inbox.models import ThreadSubject as ThreadSubject
from agency.inbox.triage import OPEN
from agency.kernel.http import etag
from agency.kernel.schemas import Input, Output
from agency.kernel.tenancy import ActorKind


class Sort(StrEnum):
    NEWEST = "newest"
    DUE = "due"


Word = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Words = Annotated[list[Word], msgspec.Meta(max_length=500)]
Minutes = Annotated[int, msgspec.Meta(ge=1, le=10080)]
NetworkName = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
AnswerText = Annotated[str, msgspec.Meta(min_length=1, max_length=10000)]
NoteText = Annotated[str, msgspec.Meta(min_length=1, max_length=5000)]


class Sla(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Answer deadlines in minutes; the shortest that applies wins (docs/inbox.md)."""

    default_minutes: Minutes = 240
    networks: dict[NetworkName, Minutes] = msgspec.field(default_factory=lambda: {"x": 60})
    origins: dict[Origin, Minutes] = msgspec.field(default_factory=lambda: {Origin.JOURNALIST: 30})


class RulesIn(Input):
    """The brand's triage rules and deadlines, replaced as a whole."""

    handles: dict[Origin, Words] = {}
    origin_keywords: dict[Origin, Words] = {}
    type_keywords: dict[Kind, Words] = {}
    sla: Sla = msgspec.field(default_factory=Sla)


class RulesOut(Output):
    brand_id: uuid.UUID
    handles: dict[str, list[str]]
    origin_keywords: dict[str, list[str]]
    type_keywords: dict[str, list[str]]
    sla: Sla
    etag: str


class MessageUpdate(Input):
    """Only the fields present change. ``origin`` and ``kind`` override the rules' labels;
    ``assigned_to`` is a member's user id (null: nobody)."""

    origin: Origin | msgspec.UnsetType = msgspec.UNSET
    kind: Kind | msgspec.UnsetType = msgspec.UNSET
    status: MessageStatus | msgspec.UnsetType = msgspec.UNSET
    assigned_to: uuid.UUID | msgspec.UnsetType | None = msgspec.UNSET


class NoteIn(Input):
    text: NoteText


class NoteOut(Output):
    id: uuid.UUID
    message_id: uuid.UUID
    author_kind: ActorKind
    author_id: uuid.UUID | None
    text: str
    created_at: datetime

    @classmethod
    def of(cls, n: Note) -> NoteOut:
        return cls(
            id=n.id,
            message_id=n.message_id,
            author_kind=ActorKind(n.author_kind),
            author_id=n.author_id,
            text=n.text,
            created_at=n.created_at,
        )


class AnswerIn(Input):
    """Either ``text``, or a ``saved_reply_id`` whose placeholders are filled in from the
    message (``{author}``, ``{first_name}``, ``{brand}``) and from ``values``."""

    text: AnswerText | None = None
    saved_reply_id: uuid.UUID | None = None
    values: dict[Annotated[str, msgspec.Meta(max_length=40)], Word] = {}


class AnswerAttemptOut(Output):
    number: int
    kind: AnswerAttemptKind
    outcome: AnswerAttemptOutcome
    started_at: datetime
    finished_at: datetime | None
    http_status: int | None
    message: str | None
    reply_id: str | None

    @classmethod
    def of(cls, a: AnswerAttempt) -> AnswerAttemptOut:
        return cls(
            number=a.number,
            kind=AnswerAttemptKind(a.kind),
            outcome=AnswerAttemptOutcome(a.outcome),
            started_at=a.started_at,
            finished_at=a.finished_at,
            http_status=a.http_status,
            message=a.message,
            reply_id=a.reply_id,
        )


class AnswerOut(Output):
    id: uuid.UUID
    message_id: uuid.UUID
    brand_id: uuid.UUID
    text: str
    status: AnswerStatus
    author_id: uuid.UUID | None
    crisis_id: uuid.UUID | None
    approved_by: uuid.UUID | None
    approved_at: datetime | None
    reply_id: str | None
    sent_at: datetime | None
    last_error: str | None
    created_at: datetime
    attempts: list[AnswerAttemptOut] = []

    @classmethod
    def of(cls, a: Answer, attempts: list[AnswerAttempt] | None = None) -> AnswerOut:
        return cls(
            id=a.id,
            message_id=a.message_id,
            brand_id=a.brand_id,
            text=a.text,
            status=AnswerStatus(a.status),
            author_id=a.author_id,
            crisis_id=a.crisis_id,
            approved_by=a.approved_by,
            approved_at=a.approved_at,
            reply_id=a.reply_id,
            sent_at=a.sent_at,
            last_error=a.last_error,
            created_at=a.created_at,
            attempts=[AnswerAttemptOut.of(x) for x in attempts or []],
        )


class Label(Output):
    value: str
    why: str


class MessageOut(Output):
    id: uuid.UUID
    brand_id: uuid.UUID
    channel_id: uuid.UUID
    thread_id: uuid.UUID
    network: str
    network_id: str
    parent_id: str | None
    author_id: str | None
    author_name: str | None
    text: str
    received_at: datetime
    origin: Label
    kind: Label
    status: MessageStatus
    assigned_to: uuid.UUID | None
    due_at: datetime | None
    overdue: bool
    answered_at: datetime | None
    response_seconds: int | None
    hidden: bool
    # Written to the brand privately (its thread is the person's, ``subject: private``):
    # answered privately, to its author only.
    private: bool
    deleted: bool
    moderation: dict[str, Any] | None
    etag: str

    @classmethod
    def of(cls, m: Message, now: datetime) -> MessageOut:
        return cls(
            id=m.id,
            brand_id=m.brand_id,
            channel_id=m.channel_id,
            thread_id=m.thread_id,
            network=m.network,
            network_id=m.network_id,
            parent_id=m.parent_id,
            author_id=m.author_id,
            author_name=m.author_name,
            text=m.text,
            received_at=m.received_at,
            origin=Label(value=m.origin, why=m.origin_why),
            kind=Label(value=m.kind, why=m.kind_why),
            status=MessageStatus(m.status),
            assigned_to=m.assigned_to,
            due_at=m.due_at,
            overdue=m.status in OPEN and m.due_at is not None and m.due_at < now,
            answered_at=m.answered_at,
            response_seconds=m.response_seconds,
            hidden=m.hidden,
            private=m.private,
            deleted=m.deleted_at is not None,
            moderation=m.moderation,
            etag=etag(m.version),
        )

    @classmethod
    def of_row(cls, row: Sequence[Any], now: datetime) -> MessageOut:
        """From a row of ``LISTED`` (the repository's), read by position."""
        (
            id,
            brand_id,
            channel_id,
            thread_id,
            network,
            network_id,
            parent_id,
            author_id,
            author_name,
            text,
            received_at,
            origin,
            origin_why,
            kind,
            kind_why,
            status,
            assigned_to,
            due_at,
            answered_at,
            response_seconds,
            hidden,
            private,
            deleted_at,
            moderation,
            version,
        ) = row
        return cls(
            id=id,
            brand_id=brand_id,
            channel_id=channel_id,
            thread_id=thread_id,
            network=network,
            network_id=network_id,
            parent_id=parent_id,
            author_id=author_id,
            author_name=author_name,
            text=text,
            received_at=received_at,
            origin=Label(value=origin, why=origin_why),
            kind=Label(value=kind, why=kind_why),
            status=MessageStatus(status),
            assigned_to=assigned_to,
            due_at=due_at,
            overdue=status in OPEN and due_at is not None and due_at < now,
            answered_at=answered_at,
            response_seconds=response_seconds,
            hidden=hidden,
            private=private,
            deleted=deleted_at is not None,
            moderation=moderation,
            etag=etag(version),
        )


@dataclass(frozen=True)
class MessageFilter:
    """What the inbox list is narrowed to; an empty list or None filters nothing."""

    brand_id: uuid.UUID | None = None
    channel_id: uuid.UUID | None = None
    statuses: Sequence[str] = ()
    origins: Sequence[str] = ()
    kinds: Sequence[str] = ()
    assigned_to: uuid.UUID | None = None
    overdue: bool | None = None


class MessageDetail(MessageOut):
    notes: list[NoteOut] = []
    answers: list[AnswerOut] = []


class MessagePage(Output):
    items: list[MessageOut]
    next_cursor: str | None


class ThreadMessageOut(MessageOut):
    """A message in its thread, with what it answers: another message of the inbox
    (``parent_message_id``), one of the brand's answers (``parent_answer_id``), or the post
    itself (both null; also when the parent is not in the inbox: a reply not collected)."""

    parent_message_id: uuid.UUID | None = None
    parent_answer_id: uuid.UUID | None = None


class ThreadOut(Output):
    id: uuid.UUID
    brand_id: uuid.UUID
    channel_id: uuid.UUID
    network: str
    # ``post``: under a post of the brand; ``mention``: someone else's post naming the brand,
    # its first message (``title`` is then the start of its text); ``private``: one person's
    # private messages (``post_id`` names the person, ``title`` is their name).
    subject: ThreadSubject
    post_id: str
    post_url: str | None
    publication_id: uuid.UUID | None
    title: str
    published_at: datetime | None
    last_message_at: datetime | None
    messages: list[ThreadMessageOut]
    answers: list[AnswerOut]

    @classmethod
    def of(
        cls, t: Thread, messages: list[Message], answers: list[Answer], now: datetime
    ) -> ThreadOut:
        """Who answers whom, from the network's parent ids: a message whose parent is
        another message's network id answers that message; one whose parent is the reply id
        of a sent answer answers the brand."""
        by_network_id = {m.network_id: m.id for m in messages}
        by_reply_id = {a.reply_id: a.id for a in answers if a.reply_id}
        return cls(
            id=t.id,
            brand_id=t.brand_id,
            channel_id=t.channel_id,
            network=t.network,
            subject=ThreadSubject(t.subject),
            post_id=t.post_id,
            post_url=t.post_url,
            publication_id=t.publication_id,
            title=t.title,
            published_at=t.published_at,
            last_message_at=t.last_message_at,
            messages=[
                ThreadMessageOut(
                    **msgspec.structs.asdict(MessageOut.of(m, now)),
                    parent_message_id=by_network_id.get(m.parent_id or ""),
                    parent_answer_id=by_reply_id.get(m.parent_id or ""),
                )
                for m in messages
            ],
            answers=[AnswerOut.of(a) for a in answers],
        )


class ModerationIn(Input):
    """The clause of the brand's community charter that justifies the action (its number)."""

    clause: Annotated[int, msgspec.Meta(ge=1, le=999)] | None = None


class HideIn(ModerationIn):
    """``hidden: false`` shows a hidden message again (a clause is still required)."""

    hidden: bool = True


class SavedReplyIn(Input):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    text: AnswerText


class SavedReplyOut(Output):
    id: uuid.UUID
    brand_id: uuid.UUID
    name: str
    text: str
    created_at: datetime

    @classmethod
    def of(cls, s: SavedReply) -> SavedReplyOut:
        return cls(id=s.id, brand_id=s.brand_id, name=s.name, text=s.text, created_at=s.created_at)


class SavedReplyPage(Output):
    items: list[SavedReplyOut]
    next_cursor: str | None


class ModerationOut(Output):
    """A hide, show or delete, carried out by the worker (docs/inbox.md, Moderation)."""

    id: uuid.UUID
    message_id: uuid.UUID
    action: str
    clause: int
    clause_text: str
    actor: str
    status: ModerationStatus
    attempts: int
    http_status: int | None
    detail: str | None
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, m: Moderation) -> ModerationOut:
        return cls(
            id=m.id,
            message_id=m.message_id,
            action=m.action,
            clause=m.clause,
            clause_text=m.clause_text,
            actor=m.actor,
            status=ModerationStatus(m.status),
            attempts=m.attempt_count,
            http_status=m.http_status,
            detail=m.outcome,
            created_at=m.created_at,
            finished_at=m.finished_at,
        )
