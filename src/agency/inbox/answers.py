"""Answers on the request path: written, checked, held in a crisis, approved, canceled.

An answer is checked before anything is stored: the network's length for a reply (as the
network counts it), then the brand's editorial charter; every problem is listed in one 422.
Outside a crisis it is queued and ``inbox.send_answer`` is enqueued after the commit (the
worker's side is :mod:`agency.inbox.answering`). While the brand is in crisis it is held
until one of the crisis decision makers (``crisis:manage``: the agency's managers and above,
the client's general management) approves it; the author never approves their own.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from agency.audit.repository import AuditRepository
from agency.brand.crisis import crisis_event
from agency.brand.repository import BrandRepository
from agency.connector.base import Capability
from agency.connector.errors import ConnectorError
from agency.inbox import triage
from agency.inbox.answering import answer_key
from agency.inbox.models import Answer, AnswerAttempt, Message
from agency.inbox.repository import (
    AnswerAttemptRepository,
    AnswerRepository,
    MessageRepository,
    SavedReplyRepository,
)
from agency.inbox.schemas import AnswerIn
from agency.kernel.db import new_id, utcnow
from agency.kernel.errors import Conflict, FieldError, Forbidden, InvalidInput
from agency.kernel.i18n import Text
from agency.kernel.jobs import enqueue
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import Subject
from agency.publication.charter import charter_problems

# An answer still on its way: a second one for the same message is refused meanwhile.
IN_FLIGHT = ("held", "queued", "sending", "unknown")


class AnswerService:
    def __init__(self, session: AsyncSession, subject: Subject, runtime: Runtime) -> None:
        self.session = session
        self.subject = subject
        self.runtime = runtime
        self.messages = MessageRepository(session, subject)
        self.answers = AnswerRepository(session, subject)
        self.attempts = AnswerAttemptRepository(session, subject)
        self.brands = BrandRepository(session, subject)
        self.audit = AuditRepository(session, subject)

    async def of_message(self, message_id: uuid.UUID) -> list[tuple[Answer, list[AnswerAttempt]]]:
        answers = await self.answers.of_message(message_id)
        attempts = await self.attempts.of_answers([a.id for a in answers])
        return [(a, [x for x in attempts if x.answer_id == a.id]) for a in answers]

    async def get(self, answer_id: uuid.UUID) -> tuple[Answer, list[AnswerAttempt]]:
        answer = await self.answers.get(answer_id)
        return answer, await self.attempts.of_answers([answer.id])

    async def create(self, message_id: uuid.UUID, data: AnswerIn) -> Answer:
        """A public reply to the message, checked, then queued (or held in a crisis)."""
        message = await self.messages.lock(message_id)
        brand = await self.brands.get(message.brand_id)
        text = await self._text(message, brand.name, data)
        self._check(message, text, brand.editorial_charter or {})
        if message.deleted_at is not None:
            raise Conflict(Text("This message was deleted; it cannot be answered."))
        if any(a.status in IN_FLIGHT for a in await self.answers.of_message(message.id)):
            raise Conflict(Text("An answer to this message is already on its way."))
        kind, actor = self.subject.actor
        answer_id = new_id()
        answer = Answer(
            id=answer_id,
            message_id=message.id,
            brand_id=message.brand_id,
            channel_id=message.channel_id,
            text=text,
            saved_reply_id=data.saved_reply_id,
            status="queued",
            author_kind=str(kind),
            author_id=actor,
            idempotency_key=answer_key(answer_id),
        )
        if brand.crisis_id is not None:
            answer.status = "held"
            answer.crisis_id = brand.crisis_id
            answer.last_error = "Held: the brand is in crisis mode; a crisis decision maker "
            answer.last_error += "must approve it."
            self.session.add(
                crisis_event(
                    self.subject.agency_id,
                    brand.crisis_id,
                    brand.id,
                    "answer_held",
                    actor=(str(kind), actor),
                    answer=str(answer_id),
                    message=str(message.id),
                )
            )
        else:
            self._queue(answer)
        await self.answers.add(answer)
        if message.status in ("new", "assigned"):
            message.status = "waiting" if answer.status == "held" else message.status
        self.audit.record(
            "inbox.answer.created",
            "inbox_answer",
            answer.id,
            {"message": str(message.id), "status": answer.status},
        )
        return answer

    async def approve(self, answer_id: uuid.UUID) -> Answer:
        """A crisis decision maker lets a held answer leave (never its own author)."""
        answer = await self.answers.lock(answer_id)
        if answer is None:
            raise self.answers.not_found(answer_id)
        if answer.status != "held":
            raise Conflict(
                Text("This answer is {status}, not held: nothing to approve.", status=answer.status)
            )
        kind, actor = self.subject.actor
        if actor is not None and answer.author_id == actor:
            raise Forbidden(Text("The author of an answer cannot approve it (four eyes)."))
        brand = await self.brands.get(answer.brand_id)
        now = utcnow()
        answer.approved_by = actor
        answer.approved_at = now
        answer.crisis_cleared = brand.crisis_id
        answer.last_error = None
        self._queue(answer)
        crisis_id = brand.crisis_id or answer.crisis_id
        if crisis_id is not None:
            self.session.add(
                crisis_event(
                    self.subject.agency_id,
                    crisis_id,
                    brand.id,
                    "answer_decided",
                    actor=(str(kind), actor),
                    answer=str(answer.id),
                    decision="approve",
                )
            )
        self.audit.record("inbox.answer.approved", "inbox_answer", answer.id, {})
        return answer

    async def cancel(self, answer_id: uuid.UUID) -> Answer:
        answer = await self.answers.lock(answer_id)
        if answer is None:
            raise self.answers.not_found(answer_id)
        if answer.status not in ("held", "queued"):
            raise Conflict(
                Text(
                    "This answer is {status}; only a held or queued one stops.",
                    status=answer.status,
                )
            )
        answer.status = "canceled"
        answer.lease_until = None
        self.audit.record("inbox.answer.canceled", "inbox_answer", answer.id, {})
        return answer

    def _queue(self, answer: Answer) -> None:
        answer.status = "queued"
        answer.not_before = None
        # The job is on its way: the claim leaves it alone until the lease ends.
        answer.lease_until = utcnow() + timedelta(seconds=self.runtime.settings.inbox.lease_seconds)
        enqueue("inbox.send_answer", str(self.subject.agency_id), str(answer.id))

    async def _text(self, message: Message, brand_name: str, data: AnswerIn) -> str:
        if (data.text is None) == (data.saved_reply_id is None):
            raise InvalidInput(
                Text("Send either text or saved_reply_id."),
                errors=[FieldError(Text("Send either text or saved_reply_id."), "one_of", "text")],
            )
        if data.text is not None:
            return data.text
        assert data.saved_reply_id is not None
        saved = await SavedReplyRepository(self.session, self.subject).find(data.saved_reply_id)
        if saved is None or saved.brand_id != message.brand_id:
            raise InvalidInput(
                Text("The answer cannot be written as sent."),
                errors=[
                    FieldError(
                        Text("No saved reply of this brand has this id."),
                        "unknown_saved_reply",
                        "saved_reply_id",
                    )
                ],
            )
        values = triage.placeholder_values(message.author_name, brand_name, data.values)
        return triage.render(saved.text, values)

    def _check(self, message: Message, text: str, charter: dict[str, object]) -> None:
        """The network's limit for a reply, then the brand's charter; every problem."""
        connector = self.runtime.connectors.get(message.network)
        if connector is None or Capability.REPLY not in connector.capabilities:
            raise InvalidInput(
                Text("Replies cannot be sent on {network} from here.", network=message.network),
                errors=[
                    FieldError(Text("This network takes no replies."), "not_supported", "text")
                ],
            )
        problems: list[FieldError] = []
        limits = connector.limits
        limit = limits.max_comment_length or limits.max_text_length
        try:
            length = connector.count_text(text)
        except ConnectorError:  # pragma: no cover - counting never calls the network
            length = len(text)
        if length > limit:
            problems.append(
                FieldError(
                    Text(
                        "The reply is {length} characters as {network} counts them; the limit "
                        "is {limit}.",
                        length=length,
                        network=connector.display_name,
                        limit=limit,
                    ),
                    "too_long",
                    "text",
                    params={"max": limit, "length": length, "network": message.network},
                )
            )
        for problem in charter_problems(charter, text):
            problems.append(FieldError(problem.message, problem.code, "text"))
        if problems:
            raise InvalidInput(
                Text("The answer cannot be sent: {problem}", problem=problems[0].message),
                problems,
            )
