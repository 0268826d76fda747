"""Answer deadlines tell the team: a warning shortly before, an alert once passed.

The scheduler's ``inbox_deadlines`` claim (:mod:`agency.inbox.tasks`) locks the open messages
(new, assigned, waiting) whose deadline comes within ``deadline_warning_minutes`` and those
past it. Each is stamped (``warned_at``, ``breached_at``) in the transaction that writes its
webhook event (``inbox.deadline_near``, ``inbox.deadline_breached``) and its e-mails, so each
stage is told once: a rolled-back pass tells no one, a committed one is never repeated. The
e-mail goes to the assignee, or, if nobody is assigned (or the assignee left the agency), to
the agency's managers and community managers, each in their language (else the brand's).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from agency.access.permissions import Role
from agency.brand.models import Brand
from agency.config import Settings
from agency.inbox.models import Kind, Message, MessageStatus, Origin
from agency.inbox.repository import InboxSweepRepository
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import Subject
from agency.mail.service import frontend_link, queue_mail
from agency.member.models import Membership
from agency.publication.timing import local_display
from agency.webhook.events import EventType, emit, payload_of

# Who hears of a message nobody is assigned to: the agency's people who answer comments.
TEAM = (Role.MANAGER.value, Role.COMMUNITY_MANAGER.value)
EXCERPT = 280
TEMPLATES = {
    EventType.INBOX_DEADLINE_NEAR: "inbox_deadline_near",
    EventType.INBOX_DEADLINE_BREACHED: "inbox_deadline_breached",
}


class DeadlineData(msgspec.Struct, kw_only=True):
    """The message whose answer deadline is near or past."""

    message_id: uuid.UUID
    thread_id: uuid.UUID
    brand_id: uuid.UUID
    channel_id: uuid.UUID
    network: str
    origin: Origin
    kind: Kind
    status: MessageStatus
    assigned_to: uuid.UUID | None
    received_at: datetime
    due_at: datetime


@payload_of(EventType.INBOX_DEADLINE_NEAR)
class DeadlineNear(DeadlineData, kw_only=True):
    """A message still waits for an answer and its deadline comes soon."""

    minutes_left: int


@payload_of(EventType.INBOX_DEADLINE_BREACHED)
class DeadlineBreached(DeadlineData, kw_only=True):
    """A message's answer deadline passed without an answer."""

    minutes_late: int


async def watch(session: AsyncSession, runtime: Runtime, now: datetime, limit: int) -> int:
    """One pass, in the scheduler's system transaction: how many messages were told of."""
    lead = timedelta(minutes=runtime.settings.inbox.deadline_warning_minutes)
    sweep = InboxSweepRepository(session)
    near, breached = await sweep.claim_deadlines(now, now + lead, limit)
    messages = [*near, *breached]
    if not messages:
        return 0
    brands = await sweep.brands([m.brand_id for m in messages])
    members = await sweep.people(
        [m.id for m in messages],
        TEAM,
        [m.assigned_to for m in messages if m.assigned_to is not None],
    )
    team: dict[uuid.UUID, list[Membership]] = defaultdict(list)
    for member in members:
        team[member.agency_id].append(member)
    for message in messages:
        due = message.due_at or now  # never None: the claim watches dated messages only
        data: DeadlineNear | DeadlineBreached
        if due > now:
            message.warned_at = now
            stage, minutes = EventType.INBOX_DEADLINE_NEAR, _minutes(due - now)
            data = DeadlineNear(**_data(message), minutes_left=minutes)
        else:
            message.breached_at = now
            message.warned_at = message.warned_at or now
            stage, minutes = EventType.INBOX_DEADLINE_BREACHED, _minutes(now - due)
            data = DeadlineBreached(**_data(message), minutes_late=minutes)
        await emit(session, message.agency_id, stage, data, runtime.settings.webhooks)
        await _mail(session, runtime, message, brands[message.brand_id], team, stage, minutes)
    return len(messages)


def _minutes(delta: timedelta) -> int:
    return max(0, round(delta.total_seconds() / 60))


def _data(message: Message) -> dict[str, Any]:
    return {
        "message_id": message.id,
        "thread_id": message.thread_id,
        "brand_id": message.brand_id,
        "channel_id": message.channel_id,
        "network": message.network,
        "origin": Origin(message.origin),
        "kind": Kind(message.kind),
        "status": MessageStatus(message.status),
        "assigned_to": message.assigned_to,
        "received_at": message.received_at,
        "due_at": message.due_at,
    }


def message_link(settings: Settings, message_id: uuid.UUID) -> str:
    """Where the team reads and answers the message (as approval e-mails link a publication)."""
    return frontend_link(settings, f"/inbox/messages/{message_id}")


def recipients(message: Message, team: dict[uuid.UUID, list[Membership]]) -> Sequence[Membership]:
    """The assignee if still a member of the message's agency, else its answering team."""
    members = team.get(message.agency_id, [])
    if message.assigned_to is not None:
        assignee = [m for m in members if m.user_id == message.assigned_to]
        if assignee:
            return assignee
    return [m for m in members if m.role in TEAM]


async def _mail(
    session: AsyncSession,
    runtime: Runtime,
    message: Message,
    brand: Brand,
    team: dict[uuid.UUID, list[Membership]],
    stage: EventType,
    minutes: int,
) -> None:
    context = {
        "brand": brand.name,
        "network": message.network,
        "origin": message.origin,
        "author": message.author_name or message.author_id or "?",
        "excerpt": message.text[:EXCERPT],
        "due_at": local_display(message.due_at, brand.timezone),
        "timezone": brand.timezone,
        "minutes": minutes,
        "message_id": str(message.id),
        "link": message_link(runtime.settings, message.id),
    }
    subject = Subject(message.agency_id, "system")
    for member in recipients(message, team):
        await queue_mail(
            session,
            subject,
            runtime.secrets,
            member.user.email,
            TEMPLATES[stage],
            member.user.locale or brand.locale,
            {**context, "name": member.user.name},
            settings=runtime.settings.mail,
        )
