"""The inbox on the request path: reading, triage, notes, rules, saved replies, moderation.

Answers are in :mod:`agency.inbox.answers`. Services hold the rules and never commit: the
request owns the transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from agency.audit.repository import AuditRepository
from agency.brand.repository import BrandRepository
from agency.connector.base import Capability
from agency.inbox import triage
from agency.inbox.models import (
    Answer,
    InboxRules,
    Message,
    Moderation,
    Note,
    SavedReply,
    Thread,
)
from agency.inbox.moderating import moderation_view
from agency.inbox.repository import (
    AnswerRepository,
    MessageRepository,
    ModerationRepository,
    NoteRepository,
    RulesRepository,
    SavedReplyRepository,
    ThreadRepository,
)
from agency.inbox.schemas import MessageFilter, MessageUpdate, RulesIn, SavedReplyIn, Sort
from agency.kernel.db import utcnow
from agency.kernel.errors import Conflict, FieldError, InvalidInput
from agency.kernel.http import check_if_match
from agency.kernel.i18n import Text
from agency.kernel.jobs import enqueue
from agency.kernel.pagination import PageRequest
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import Subject
from agency.member.repository import MembershipRepository


class InboxService:
    def __init__(self, session: AsyncSession, subject: Subject, runtime: Runtime) -> None:
        self.session = session
        self.subject = subject
        self.runtime = runtime
        self.messages = MessageRepository(session, subject)
        self.threads = ThreadRepository(session, subject)
        self.notes = NoteRepository(session, subject)
        self.rules = RulesRepository(session, subject)
        self.saved = SavedReplyRepository(session, subject)
        self.brands = BrandRepository(session, subject)
        self.audit = AuditRepository(session, subject)

    # -- reading ---------------------------------------------------------------------------

    async def messages_page(
        self, page: PageRequest, where: MessageFilter, sort: Sort
    ) -> tuple[Sequence[Sequence[Any]], str | None]:
        """A page of the inbox: rows of ``LISTED`` (the repository's), by position."""
        return await self.messages.listed(page, where, by_due=sort == Sort.DUE, now=utcnow())

    async def get(self, message_id: uuid.UUID) -> Message:
        return await self.messages.get(message_id)

    async def notes_of(self, message_id: uuid.UUID) -> list[Note]:
        return await self.notes.of_message(message_id)

    async def thread(self, thread_id: uuid.UUID) -> tuple[Thread, list[Message], list[Answer]]:
        """The thread, its messages and the answers to them (who answers whom is drawn from
        the network's parent ids, see :meth:`ThreadOut.of`)."""
        thread = await self.threads.get(thread_id)
        messages = await self.messages.of_thread(thread.id, 500)
        answers = await AnswerRepository(self.session, self.subject).of_messages(
            [m.id for m in messages]
        )
        return thread, messages, answers

    # -- triage ----------------------------------------------------------------------------

    async def update(
        self, message_id: uuid.UUID, data: MessageUpdate, if_match: str | None
    ) -> Message:
        """Override the origin or type, move the status, assign; the deadline follows the
        origin (a journalist's comes sooner)."""
        message = await self.messages.lock(message_id)
        check_if_match(if_match, message.version)
        changes: dict[str, Any] = {}
        who = self._who()
        due_before, now = message.due_at, utcnow()
        if data.assigned_to is not msgspec.UNSET:
            if data.assigned_to is not None:
                member = await MembershipRepository(self.session, self.subject).of_user(
                    data.assigned_to
                )
                if member is None:
                    raise InvalidInput(
                        Text("The message cannot be assigned as sent."),
                        errors=[
                            FieldError(
                                Text(
                                    "No member of this agency has the user id {id}.",
                                    id=data.assigned_to,
                                ),
                                "unknown_member",
                                "assigned_to",
                            )
                        ],
                    )
            changes["assigned_to"] = [_text(message.assigned_to), _text(data.assigned_to)]
            message.assigned_to = data.assigned_to
            if data.assigned_to is not None and message.status == "new":
                message.status = "assigned"
        if data.origin is not msgspec.UNSET and data.origin != message.origin:
            changes["origin"] = [message.origin, str(data.origin)]
            message.origin = str(data.origin)
            message.origin_why = f"Set by {who}."
            rules = await self._rules_of(message.brand_id)
            message.due_at = triage.due_at(
                rules, message.network, message.origin, message.kind, message.received_at
            )
        if data.kind is not msgspec.UNSET and data.kind != message.kind:
            changes["kind"] = [message.kind, str(data.kind)]
            message.kind = str(data.kind)
            message.kind_why = f"Set by {who}."
            rules = await self._rules_of(message.brand_id)
            message.due_at = triage.due_at(
                rules, message.network, message.origin, message.kind, message.received_at
            )
        if message.due_at != due_before and (message.due_at is None or message.due_at > now):
            # A new deadline still ahead: told again of it, when it comes near and passes.
            message.warned_at = message.breached_at = None
        if data.status is not msgspec.UNSET and data.status != message.status:
            changes["status"] = [message.status, str(data.status)]
            message.status = str(data.status)
        if changes:
            message.updated_at = utcnow()
            await self.messages.flush()
            self.audit.record("inbox.message.updated", "inbox_message", message.id, changes)
        return message

    async def add_note(self, message_id: uuid.UUID, text: str) -> Note:
        message = await self.messages.get(message_id)
        kind, actor = self.subject.actor
        note = Note(
            message_id=message.id,
            brand_id=message.brand_id,
            author_kind=str(kind),
            author_id=actor,
            text=text,
        )
        await self.notes.add(note)
        return note

    # -- rules -----------------------------------------------------------------------------

    async def get_rules(self, brand_id: uuid.UUID) -> tuple[uuid.UUID, InboxRules | None]:
        brand = await self.brands.get(brand_id)
        return brand.id, await self.rules.find(brand.id)

    async def put_rules(
        self, brand_id: uuid.UUID, data: RulesIn, if_match: str | None
    ) -> InboxRules:
        """Replace the brand's rules; messages already triaged keep their labels."""
        brand = await self.brands.get(brand_id)
        rules = await self.rules.find(brand.id)
        fields = {
            "handles": {k: triage.words(v) for k, v in data.handles.items()},
            "origin_keywords": {k: triage.words(v) for k, v in data.origin_keywords.items()},
            "type_keywords": {k: triage.words(v) for k, v in data.type_keywords.items()},
            "sla": msgspec.to_builtins(data.sla),
        }
        if rules is None:
            check_if_match(if_match, 0)  # no rules yet: their ETag is "0"
            rules = InboxRules(id=brand.id, brand_id=brand.id, **fields)
            await self.rules.add(rules)
        else:
            check_if_match(if_match, rules.version)
            for name, value in fields.items():
                setattr(rules, name, value)
            rules.updated_at = utcnow()
            await self.rules.flush()
        self.audit.record("inbox.rules.updated", "brand", brand.id, {"sla": fields["sla"]})
        return rules

    async def _rules_of(self, brand_id: uuid.UUID) -> dict[str, Any]:
        found = await self.rules.find(brand_id)
        if found is None:
            return {}
        return {
            "handles": found.handles,
            "origin_keywords": found.origin_keywords,
            "type_keywords": found.type_keywords,
            "sla": found.sla,
        }

    # -- saved replies ---------------------------------------------------------------------

    async def saved_replies(
        self, brand_id: uuid.UUID, page: PageRequest
    ) -> tuple[Sequence[SavedReply], str | None]:
        brand = await self.brands.get(brand_id)
        return await self.saved.page(page, self.saved.of_brand(brand.id))

    async def add_saved_reply(self, brand_id: uuid.UUID, data: SavedReplyIn) -> SavedReply:
        brand = await self.brands.get(brand_id)
        unknown = triage.unknown_placeholders(data.text)
        if unknown:
            known = ", ".join("{" + p + "}" for p in triage.PLACEHOLDERS)
            raise InvalidInput(
                Text("The saved reply cannot be created as sent."),
                errors=[
                    FieldError(
                        Text(
                            "Unknown placeholder {placeholder}; the known ones are {known}.",
                            placeholder="{" + name + "}",
                            known=known,
                        ),
                        "unknown_placeholder",
                        "text",
                        params={"placeholder": name},
                    )
                    for name in unknown
                ],
            )
        saved = SavedReply(brand_id=brand.id, name=data.name, text=data.text)
        await self.saved.add(
            saved, conflict=Text("The brand already has a saved reply of this name.")
        )
        self.audit.record("inbox.saved_reply.created", "inbox_saved_reply", saved.id, {})
        return saved

    async def delete_saved_reply(self, saved_reply_id: uuid.UUID) -> None:
        await self.saved.delete(saved_reply_id)
        self.audit.record("inbox.saved_reply.deleted", "inbox_saved_reply", saved_reply_id, {})

    # -- moderation ------------------------------------------------------------------------

    async def moderate(
        self, message_id: uuid.UUID, action: str, clause: int | None, hidden: bool = True
    ) -> Moderation:
        """Record a hide, show or delete citing the clause of the brand's community charter
        that justifies it (kept with the message and in the audit log); the
        ``inbox.moderate`` job carries it out at the network (:mod:`agency.inbox.moderating`)."""
        message = await self.messages.lock(message_id)
        brand = await self.brands.get(message.brand_id)
        clauses = {
            c["number"]: c["text"] for c in (brand.community_charter or {}).get("clauses", [])
        }
        if clause is None or clause not in clauses:
            numbers = ", ".join(str(n) for n in sorted(clauses)) or Text("none yet")
            words = (
                Text(
                    "Cite the clause of the brand's community charter that justifies this "
                    "(its clauses: {numbers}).",
                    numbers=numbers,
                )
                if clause is None
                else Text(
                    "The brand's community charter has no clause {clause} (its clauses: "
                    "{numbers}).",
                    clause=clause,
                    numbers=numbers,
                )
            )
            raise InvalidInput(
                words,
                errors=[
                    FieldError(
                        words,
                        "charter_clause_required" if clause is None else "unknown_clause",
                        "clause",
                        params={"clauses": sorted(clauses)},
                    )
                ],
            )
        if message.deleted_at is not None:
            raise Conflict(Text("This message was deleted."))
        connector = self.runtime.connectors.get(message.network)
        needed = Capability.DELETE_COMMENT if action == "delete" else Capability.HIDE_COMMENT
        if connector is None or needed not in connector.capabilities:
            raise InvalidInput(
                Text("{network} cannot do this.", network=message.network),
                errors=[FieldError(Text("This network cannot do this."), "not_supported", None)],
            )
        moderations = ModerationRepository(self.session, self.subject)
        if await moderations.in_flight(message.id) is not None:
            raise Conflict(Text("A moderation of this message is already on its way."))
        done = action if action == "delete" else ("hide" if hidden else "show")
        now = utcnow()
        moderation = Moderation(
            message_id=message.id,
            brand_id=message.brand_id,
            channel_id=message.channel_id,
            action=done,
            clause=clause,
            clause_text=clauses[clause],
            actor=self._who(),
            status="queued",
            created_at=now,
            # The job is on its way: the claim leaves it alone until the lease ends.
            lease_until=now + timedelta(seconds=self.runtime.settings.inbox.lease_seconds),
        )
        await moderations.add(moderation)
        message.moderation = moderation_view(moderation)
        message.updated_at = now
        self.audit.record(
            f"inbox.message.{done}",
            "inbox_message",
            message.id,
            {"clause": clause, "clause_text": clauses[clause], "network_id": message.network_id},
        )
        enqueue("inbox.moderate", str(self.subject.agency_id), str(moderation.id))
        return moderation

    def _who(self) -> str:
        kind, actor = self.subject.actor
        return f"{kind} {actor}" if actor else str(kind)


def _text(value: object) -> str | None:
    return None if value is None else str(value)
