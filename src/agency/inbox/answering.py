"""Answers sent exactly once: the worker's side, with the publishing discipline.

1. An answer is ``queued`` by the request (or by its approval during a crisis) and its job
   enqueued after the commit; the scheduler's claim re-sends what a lost message left.
2. The worker locks the answer (a duplicate message finds it taken or no longer queued),
   reads the brand's crisis state ``FOR SHARE`` and the channel: in crisis and not cleared
   by the crisis approvers -> ``held``; a channel to reconnect -> tried again later.
3. It commits an attempt row and the ``sending`` state *before* the network hears of the
   reply, with an idempotency key (``agency-answer-<id>``, the same for every attempt) sent
   where the network takes one.
4. The answer decides: ``sent`` (the reply's network id; the message is answered and its
   response time recorded); ``failed`` with the network's words (a refusal, content it
   will not take); back to ``queued`` after ``Retry-After``; or ``unknown`` (a timeout, a
   5xx, a worker that died mid-call): the thread is read for the reply before anything is
   sent again. Found -> sent; absent -> queued again (same key); a network whose comments
   cannot be read -> a person checks (``last_error`` says so).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from agency.audit.repository import AuditRepository
from agency.brand.crisis import crisis_event
from agency.brand.repository import BrandRepository
from agency.channel.models import Channel
from agency.channel.repository import ChannelRepository
from agency.channel.schemas import ChannelHealth
from agency.channel.service import ChannelService
from agency.connector.base import Comment, Connector
from agency.connector.errors import (
    AuthExpired,
    ConnectorError,
    InvalidContent,
    NotSupported,
    OutcomeUnknown,
    RateLimited,
    Refused,
    Transient,
)
from agency.inbox.models import Answer, AnswerAttempt, Message
from agency.inbox.repository import (
    AnswerAttemptRepository,
    AnswerRepository,
    MessageRepository,
    ThreadRepository,
)
from agency.kernel.db import utcnow
from agency.kernel.tenancy import Subject, bind_tenant

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime

logger = logging.getLogger("agency.inbox")

RECONNECT_RECHECK = timedelta(seconds=60)
RATE_LIMIT_DEFAULT = timedelta(seconds=60)
RECONCILE_DELAY = timedelta(seconds=2)
RECONCILE_MARGIN = timedelta(minutes=5)
HELD = "Held: the brand is in crisis mode; a crisis decision maker must approve it."


def comment_of(message: Message, post_id: str) -> Comment:
    """The message as the connector names it, for a reply, a hide or a delete."""
    return Comment(
        comment_id=message.network_id,
        post_id=post_id,
        text=message.text,
        author_id=message.author_id,
        author_name=message.author_name,
        parent_id=message.parent_id,
    )


def answer_key(answer_id: uuid.UUID) -> str:
    return f"agency-answer-{answer_id}"


def same_reply(found: Comment, answer: Answer, message: Message, account_id: str | None) -> bool:
    """A reply on the network that is this answer: the brand's, under the message, with its
    words (a network may put a mention before them, as Mastodon does)."""
    if account_id and found.author_id and found.author_id != account_id:
        return False
    if found.parent_id and found.parent_id != message.network_id:
        return False
    return answer.text.strip() in (found.text or "")


class Sender:
    """One answer through one step, in the job's session (committed here between steps)."""

    def __init__(self, session: AsyncSession, agency_id: uuid.UUID, runtime: Runtime) -> None:
        self.session = session
        self.agency_id = agency_id
        self.runtime = runtime
        self.settings = runtime.settings.inbox
        self.subject = Subject(agency_id=agency_id, kind="system")
        self.answers = AnswerRepository(session, self.subject)
        self.attempts = AnswerAttemptRepository(session, self.subject)
        self.messages = MessageRepository(session, self.subject)
        self.channels = ChannelService(session, self.subject, runtime)

    async def _begin(self) -> None:
        await bind_tenant(self.session, self.agency_id)

    async def _commit(self) -> None:
        await self.session.commit()
        await self._begin()

    async def run(self, answer_id: uuid.UUID) -> None:
        await self._begin()
        answer = await self.answers.lock(answer_id, skip_locked=True)
        if answer is None:
            return  # another worker has it
        if answer.status == "unknown":
            await self._reconcile(answer)
        elif answer.status == "queued":
            await self._send(answer)

    # -- sending ---------------------------------------------------------------------------

    async def _send(self, answer: Answer) -> None:
        now = utcnow()
        if answer.not_before is not None and answer.not_before > now + timedelta(seconds=1):
            return  # not yet (Retry-After); the claim sends it again when it is time
        message = await self.messages.get(answer.message_id)
        crises = await BrandRepository(self.session, self.subject).crises_of(
            {answer.brand_id}, share=True
        )
        crisis_id = crises.get(answer.brand_id)
        if crisis_id is not None and answer.crisis_cleared != crisis_id:
            self._hold(answer, crisis_id)
            return
        channel = await ChannelRepository(self.session, self.subject).find(answer.channel_id)
        if channel is None or channel.health == ChannelHealth.REVOKED:
            self._fail(answer, None, "The channel was disconnected; the answer was not sent.", now)
            return
        if channel.health == ChannelHealth.NEEDS_RECONNECT or channel.credentials is None:
            answer.not_before = now + RECONNECT_RECHECK
            answer.lease_until = None
            answer.last_error = "Waiting: the channel needs reconnecting."
            return
        if answer.attempt_count >= self.settings.max_attempts:
            self._fail(answer, None, "Not sent after several attempts.", now)
            return
        attempt = self._start(answer, "send", now)
        answer.status = "sending"
        answer.lease_until = now + timedelta(seconds=self.settings.stale_answer_seconds)
        thread = await ThreadRepository(self.session, self.subject).get(message.thread_id)
        target = comment_of(message, thread.post_id)
        text, key, answer_id, attempt_id, private = (
            answer.text,
            answer.idempotency_key,
            answer.id,
            attempt.id,
            message.private,
        )
        await self._commit()  # the attempt exists before the network hears of the reply

        def send(c: Connector) -> Awaitable[Comment]:
            if private:  # to its author only, never in public
                return c.reply_privately(target, text, key)
            return c.reply_once(target, text, key)

        outcome: Comment | ConnectorError
        try:
            outcome = await self.channels.call(channel, send)
        except ConnectorError as exc:
            outcome = exc
        except Exception as exc:  # a connector bug mid-call: the reply may have left
            logger.exception("answer %s: the call failed unexpectedly", answer_id)
            outcome = OutcomeUnknown(f"Internal error during the call: {exc}")
        await self._record(answer_id, attempt_id, outcome)

    async def _record(
        self, answer_id: uuid.UUID, attempt_id: uuid.UUID, outcome: Comment | ConnectorError
    ) -> None:
        answer = await self.answers.lock(answer_id)
        attempt = await self.attempts.find(attempt_id)
        if answer is None or attempt is None:  # pragma: no cover - deleted meanwhile
            return
        now = utcnow()
        attempt.finished_at = now
        answer.lease_until = None
        if isinstance(outcome, Comment):
            attempt.outcome = "sent"
            attempt.reply_id = outcome.comment_id[:300]
            attempt.message = "Sent."
            await self._sent(answer, outcome.comment_id, now)
            return
        attempt.http_status = outcome.status
        attempt.message = outcome.message[:2000]
        if isinstance(outcome, RateLimited):
            attempt.outcome = "rate_limited"
            wait = (
                timedelta(seconds=outcome.retry_after)
                if outcome.retry_after
                else RATE_LIMIT_DEFAULT
            )
            answer.status = "queued"
            answer.not_before = now + wait
            answer.last_error = outcome.message[:2000]
        elif isinstance(outcome, AuthExpired):
            # Nothing left: the network refused the token (the channel is marked).
            attempt.outcome = "retry"
            answer.status = "queued"
            answer.not_before = now + RECONNECT_RECHECK
            answer.last_error = outcome.message[:2000]
        elif isinstance(outcome, InvalidContent | Refused | NotSupported):
            attempt.outcome = "failed"
            self._fail(answer, outcome.status, outcome.message, now)
        elif isinstance(outcome, OutcomeUnknown | Transient) or type(outcome) is ConnectorError:
            attempt.outcome = "unknown"
            answer.status = "unknown"
            answer.not_before = now + RECONCILE_DELAY
            answer.last_error = (
                f"Outcome unknown ({outcome.message}); the thread is read before any new try."
            )[:2000]
        else:  # pragma: no cover - every ConnectorError is one of the above
            attempt.outcome = "unknown"
            answer.status = "unknown"
            answer.not_before = now + RECONCILE_DELAY

    async def _sent(self, answer: Answer, reply_id: str, now: datetime) -> None:
        answer.status = "sent"
        answer.reply_id = reply_id[:300]
        answer.sent_at = now
        answer.not_before = None
        answer.last_error = None
        message = await self.messages.lock(answer.message_id)
        if message.answered_at is None:
            message.answered_at = now
            message.response_seconds = max(0, int((now - message.received_at).total_seconds()))
        if message.status != "closed":
            message.status = "answered"
        message.updated_at = now
        AuditRepository(self.session, self.subject).record(
            "inbox.answer.sent", "inbox_answer", answer.id, {"message": str(message.id)}
        )

    def _fail(self, answer: Answer, status: int | None, words: str, now: datetime) -> None:
        answer.status = "failed"
        answer.lease_until = None
        answer.not_before = None
        answer.last_error = words[:2000]
        AuditRepository(self.session, self.subject).record(
            "inbox.answer.failed",
            "inbox_answer",
            answer.id,
            {"message": str(answer.message_id), "http_status": status, "why": words[:500]},
        )

    def _hold(self, answer: Answer, crisis_id: uuid.UUID) -> None:
        answer.status = "held"
        answer.crisis_id = crisis_id
        answer.lease_until = None
        answer.last_error = HELD
        self.session.add(
            crisis_event(
                self.agency_id, crisis_id, answer.brand_id, "answer_held", answer=str(answer.id)
            )
        )

    def _start(self, answer: Answer, kind: str, now: datetime) -> AnswerAttempt:
        answer.attempt_count += 1
        attempt = AnswerAttempt(
            agency_id=self.agency_id,
            answer_id=answer.id,
            brand_id=answer.brand_id,
            number=answer.attempt_count,
            kind=kind,
            outcome="pending",
            idempotency_key=answer.idempotency_key,
            started_at=now,
        )
        self.session.add(attempt)
        return attempt

    # -- an answer in doubt ----------------------------------------------------------------

    async def _reconcile(self, answer: Answer) -> None:
        """Read the thread for the reply before anything is sent again."""
        now = utcnow()
        if answer.not_before is None or answer.not_before > now + timedelta(seconds=1):
            return  # a person settles it, or not yet
        message = await self.messages.get(answer.message_id)
        thread = await ThreadRepository(self.session, self.subject).get(message.thread_id)
        channel = await ChannelRepository(self.session, self.subject).find(answer.channel_id)
        if channel is None:
            self._fail(answer, None, "The channel was disconnected; the outcome is unknown.", now)
            return
        since = (await self.attempts.first_started(answer.id) or now) - RECONCILE_MARGIN
        answer.lease_until = now + timedelta(seconds=self.settings.lease_seconds)
        answer_id, post_id, private = answer.id, thread.post_id, message.private

        def read(c: Connector) -> Awaitable[list[Comment]]:
            # A private answer is among the account's private messages, not under a post.
            return c.private_messages(since) if private else c.comments(post_id, since)

        await self._commit()
        try:
            found = await self.channels.call(channel, read)
        except NotSupported:
            await self._unresolvable(answer_id)
            return
        except ConnectorError as exc:
            await self._reconcile_later(answer_id, exc)
            return
        await self._reconciled(answer_id, message, channel, found)

    async def _reconciled(
        self, answer_id: uuid.UUID, message: Message, channel: Channel, found: list[Comment]
    ) -> None:
        answer = await self.answers.lock(answer_id)
        if answer is None or answer.status != "unknown":  # pragma: no cover
            return
        now = utcnow()
        attempt = self._start(answer, "reconcile", now)
        attempt.finished_at = now
        answer.lease_until = None
        match = next((c for c in found if same_reply(c, answer, message, channel.account_id)), None)
        if match is not None:
            attempt.outcome = "found"
            attempt.reply_id = match.comment_id[:300]
            attempt.message = "The reply was found in the thread."
            await self._sent(answer, match.comment_id, now)
            return
        attempt.outcome = "not_found"
        attempt.message = "The reply is not in the thread: it was not sent."
        sends = answer.attempt_count - await self._reconciliations(answer.id)
        if sends >= self.settings.max_attempts:
            self._fail(answer, None, "Not sent after several attempts.", now)
            return
        # Not there: sending again cannot answer twice.
        answer.status = "queued"
        answer.not_before = None
        answer.last_error = "The last attempt did not send the reply; trying again."

    async def _reconciliations(self, answer_id: uuid.UUID) -> int:
        return sum(1 for a in await self.attempts.of_answers([answer_id]) if a.kind == "reconcile")

    async def _reconcile_later(self, answer_id: uuid.UUID, exc: ConnectorError) -> None:
        answer = await self.answers.lock(answer_id)
        if answer is None:  # pragma: no cover
            return
        wait = (
            timedelta(seconds=exc.retry_after)
            if isinstance(exc, RateLimited) and exc.retry_after
            else timedelta(seconds=60)
        )
        answer.not_before = utcnow() + wait
        answer.lease_until = None
        answer.last_error = f"Outcome unknown; the thread could not be read: {exc.message}"[:2000]

    async def _unresolvable(self, answer_id: uuid.UUID) -> None:
        answer = await self.answers.lock(answer_id)
        if answer is None:  # pragma: no cover
            return
        answer.not_before = None  # nothing more to do automatically
        answer.lease_until = None
        answer.last_error = (
            "Outcome unknown and this network's comments cannot be read: check the thread."
        )
