"""Moderation in the worker: a hide, show or delete the request recorded, carried out once.

The request checks the charter clause and records the action (``queued``); the
``inbox.moderate`` job (and the scheduler's ``inbox_moderations`` claim, for a lost message or
a worker that died mid-call) locks it, marks it ``calling`` with a lease and commits before
the call. Then:

- the network did it: ``done``; the message is hidden, shown or deleted, and closed;
- the network refuses (the comment is gone, the network cannot do it): ``refused`` with the
  network's words, kept on the action (``detail``) and shown on the message; nothing else changes. A
  delete refused as not found after an earlier call whose outcome was lost is ``done``: that
  call deleted it;
- a 429, an expired token, a 5xx, a timeout: ``queued`` again after ``Retry-After`` (or a
  pause growing with each attempt), at most ``AGENCY_INBOX__MAX_ATTEMPTS`` calls, then
  ``failed``. Calling again is safe: hiding a hidden comment or deleting a deleted one changes
  nothing at the network.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from agency.audit.repository import AuditRepository
from agency.channel.repository import ChannelRepository
from agency.channel.schemas import ChannelHealth
from agency.channel.service import ChannelService
from agency.connector.errors import (
    AuthExpired,
    ConnectorError,
    InvalidContent,
    NotSupported,
    OutcomeUnknown,
    RateLimited,
    Refused,
)
from agency.inbox import triage
from agency.inbox.answering import comment_of
from agency.inbox.models import Message, Moderation
from agency.inbox.repository import MessageRepository, ModerationRepository, ThreadRepository
from agency.kernel.db import utcnow
from agency.kernel.tenancy import Subject, bind_tenant

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime

logger = logging.getLogger("agency.inbox")

RECONNECT_RECHECK = timedelta(seconds=60)
RETRY_STEP = timedelta(seconds=2)


def moderation_view(action: Moderation) -> dict[str, object]:
    """What a message shows of its last moderation."""
    return {
        "id": str(action.id),
        "action": action.action,
        "clause": action.clause,
        "clause_text": action.clause_text,
        "actor": action.actor,
        "at": action.created_at.isoformat(),
        "status": action.status,
        "detail": action.outcome,
    }


class Moderator:
    """One agency's action, in the job's session (committed here before the call)."""

    def __init__(self, session: AsyncSession, agency_id: uuid.UUID, runtime: Runtime) -> None:
        self.session = session
        self.agency_id = agency_id
        self.settings = runtime.settings.inbox
        self.subject = Subject(agency_id=agency_id, kind="system")
        self.actions = ModerationRepository(session, self.subject)
        self.messages = MessageRepository(session, self.subject)
        self.channels = ChannelService(session, self.subject, runtime)

    async def run(self, moderation_id: uuid.UUID) -> None:
        await bind_tenant(self.session, self.agency_id)
        action = await self.actions.lock(moderation_id)
        if action is None or action.status not in ("queued", "calling"):
            return  # another worker has it, or it is over
        now = utcnow()
        if action.not_before is not None and action.not_before > now + timedelta(seconds=1):
            return  # not yet; the claim brings it back when it is time
        if action.status == "calling" and action.lease_until and action.lease_until > now:
            return  # a live worker is calling
        channel = await ChannelRepository(self.session, self.subject).find(action.channel_id)
        message = await self.messages.lock(action.message_id)
        if channel is None or channel.health == ChannelHealth.REVOKED:
            self._finish(action, message, "failed", "The channel was disconnected.", None, now)
            return
        if channel.health == ChannelHealth.NEEDS_RECONNECT or channel.credentials is None:
            self._later(action, message, now + RECONNECT_RECHECK, "The channel needs reconnecting.")
            return
        if action.attempt_count >= self.settings.max_attempts:
            self._finish(action, message, "failed", "Not done after several attempts.", None, now)
            return
        action.attempt_count += 1
        action.status = "calling"
        action.lease_until = now + timedelta(seconds=self.settings.stale_answer_seconds)
        message.moderation = moderation_view(action)
        thread = await ThreadRepository(self.session, self.subject).get(message.thread_id)
        target = comment_of(message, thread.post_id)
        kind, action_id = action.action, action.id
        await self.session.commit()  # the call is on record before the network hears of it

        outcome: ConnectorError | None = None
        try:
            if kind == "delete":
                await self.channels.call(channel, lambda c: c.delete_comment(target))
            else:
                await self.channels.call(channel, lambda c: c.hide_comment(target, kind == "hide"))
        except ConnectorError as exc:
            outcome = exc
        except Exception as exc:  # a connector bug mid-call: try again, logged
            logger.exception("moderation %s: the call failed unexpectedly", action_id)
            outcome = OutcomeUnknown(f"Internal error during the call: {exc}")
        await self._record(action_id, outcome)

    async def _record(self, action_id: uuid.UUID, outcome: ConnectorError | None) -> None:
        await bind_tenant(self.session, self.agency_id)
        action = await self.actions.lock(action_id)
        if action is None:  # pragma: no cover - deleted meanwhile
            return
        message = await self.messages.lock(action.message_id)
        now = utcnow()
        action.lease_until = None
        if outcome is None:
            self._finish(action, message, "done", None, None, now)
            return
        action.http_status = outcome.status
        if isinstance(outcome, Refused | InvalidContent | NotSupported):
            if action.action == "delete" and outcome.status == 404 and action.attempt_count > 1:
                # An earlier call whose answer was lost deleted it.
                self._finish(action, message, "done", outcome.message, outcome.status, now)
            else:
                self._finish(action, message, "refused", outcome.message, outcome.status, now)
        elif isinstance(outcome, RateLimited) and outcome.retry_after:
            self._later(
                action, message, now + timedelta(seconds=outcome.retry_after), outcome.message
            )
        elif isinstance(outcome, AuthExpired):
            self._later(action, message, now + RECONNECT_RECHECK, outcome.message)
        else:
            self._later(action, message, now + RETRY_STEP * action.attempt_count, outcome.message)

    def _later(self, action: Moderation, message: Message, when: datetime, why: str) -> None:
        action.status = "queued"
        action.not_before = when
        action.lease_until = None
        action.outcome = why[:2000]
        message.moderation = moderation_view(action)

    def _finish(
        self,
        action: Moderation,
        message: Message,
        status: str,
        words: str | None,
        http_status: int | None,
        now: datetime,
    ) -> None:
        action.status = status
        action.outcome = words and words[:2000]
        action.http_status = http_status
        action.finished_at = now
        action.lease_until = None
        action.not_before = None
        if status == "done":
            if action.action == "delete":
                message.deleted_at = now
            else:
                message.hidden = action.action == "hide"
            if message.status in triage.OPEN and action.action != "show":
                message.status = "closed"
            message.updated_at = now
        message.moderation = moderation_view(action)
        AuditRepository(self.session, self.subject).record(
            f"inbox.moderation.{status}",
            "inbox_moderation",
            action.id,
            {"message": str(message.id), "action": action.action, "http_status": http_status},
        )
