"""Collection: the worker reads each due channel's new comments and stores them once.

The scheduler's claim (:mod:`agency.inbox.tasks`) leases due channels and enqueues them per
agency. The job locks its channels, skips those that need reconnecting (their cursor stays
where it was, so nothing is missed once they are back), makes sure each post published
lately has its thread, and commits before the calls. Each thread is read since the
channel's cursor, less an overlap (clocks differ); the answers are stored in one transaction
after: ``INSERT ... ON CONFLICT DO NOTHING`` on (channel, network id), so the same pull twice,
or an overlap read again, stores nothing new. The cursor moves to the pull's start only when
every thread of the channel was read; a failure leaves it, and the next pull reads again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from agency.channel.models import Channel
from agency.channel.repository import ChannelRepository
from agency.channel.schemas import ChannelHealth
from agency.channel.service import ChannelService
from agency.connector.base import Capability, Comment, Connector
from agency.connector.errors import ConnectorError, NotSupported, RateLimited
from agency.inbox import triage
from agency.inbox.models import InboxChannel, Thread, ThreadSubject
from agency.inbox.repository import (
    InboxChannelRepository,
    MessageRepository,
    RulesRepository,
    ThreadRepository,
)
from agency.kernel.db import new_id, utcnow
from agency.kernel.tenancy import Subject, bind_tenant

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime

logger = logging.getLogger("agency.inbox")
Reader = Callable[[Connector], Awaitable[list[Comment]]]
RECONNECT = "The channel needs reconnecting; its comments are read again once it is."


def message_row(
    comment: Comment,
    thread: Thread,
    rules: dict[str, Any],
    collected_at: datetime,
) -> dict[str, Any]:
    """The :class:`Message` columns of a comment, triaged by the brand's rules."""
    received = comment.created_at or collected_at
    text = comment.text or ""
    origin = triage.origin_of(rules, comment.author_id, comment.author_name, text)
    kind = triage.kind_of(rules, text)
    return {
        "id": new_id(),
        "created_at": collected_at,
        "brand_id": thread.brand_id,
        "channel_id": thread.channel_id,
        "thread_id": thread.id,
        "network": thread.network,
        "network_id": comment.comment_id[:300],
        "parent_id": (comment.parent_id or None) and comment.parent_id[:300],
        "author_id": comment.author_id and comment.author_id[:300],
        "author_name": comment.author_name and comment.author_name[:300],
        "text": text,
        "received_at": received,
        "origin": origin.value,
        "origin_why": origin.why[:500],
        "kind": kind.value,
        "kind_why": kind.why[:500],
        "status": "new" if kind.value not in triage.NO_ANSWER_EXPECTED else "closed",
        "due_at": triage.due_at(rules, thread.network, origin.value, kind.value, received),
        "hidden": comment.hidden,
        "private": thread.subject == ThreadSubject.PRIVATE,
        "version": 1,
    }


def person_key(author_id: str) -> str:
    """The post id of a person's private thread (never a post's id at the network)."""
    return f"person:{author_id}"[:300]


def rules_dict(rules: Any) -> dict[str, Any]:
    if rules is None:
        return {}
    return {
        "handles": rules.handles,
        "origin_keywords": rules.origin_keywords,
        "type_keywords": rules.type_keywords,
        "sla": rules.sla,
    }


class Collector:
    """One agency's due channels, in the job's session (committed here between phases)."""

    def __init__(self, session: AsyncSession, agency_id: uuid.UUID, runtime: Runtime) -> None:
        self.session = session
        self.agency_id = agency_id
        self.runtime = runtime
        self.settings = runtime.settings.inbox
        self.subject = Subject(agency_id=agency_id, kind="system")
        self.followed = InboxChannelRepository(session, self.subject)
        self.threads = ThreadRepository(session, self.subject)
        self.messages = MessageRepository(session, self.subject)
        self.channels = ChannelService(session, self.subject, runtime)
        self._opened: list[Thread] = []  # threads opened by mentions in this pull

    async def pull(self, channel_ids: Sequence[uuid.UUID]) -> int:
        """Read the due channels among ``channel_ids``; the messages stored."""
        await bind_tenant(self.session, self.agency_id)
        self._opened = []
        started = utcnow()
        every = timedelta(seconds=self.settings.pull_every_seconds)
        states = [
            s
            for s in await self.followed.lock_many(sorted(channel_ids))
            if s.next_pull_at is not None and s.next_pull_at <= started + timedelta(seconds=1)
        ]
        if not states:
            return 0
        found = await ChannelRepository(self.session, self.subject).many({s.id for s in states})
        ready: dict[uuid.UUID, tuple[InboxChannel, Channel]] = {}
        for state in states:
            channel = found.get(state.id)
            if channel is None or channel.health == ChannelHealth.REVOKED:
                state.lease_until = None
                state.next_pull_at = None  # disconnected: read no more
            elif channel.health == ChannelHealth.NEEDS_RECONNECT or channel.credentials is None:
                state.lease_until = None
                state.last_error = RECONNECT
                state.next_pull_at = started + every
            else:
                # Leased until the end: a claim meanwhile would start a second pull, which
                # would find nothing due and leave its lease behind, delaying the next one.
                ready[state.id] = (state, channel)
        await self.threads.follow_published(
            set(ready), started - timedelta(days=self.settings.follow_days)
        )
        threads = await self.threads.of_channels(set(ready))
        rules = await RulesRepository(self.session, self.subject).of_brands(
            {t.brand_id for t in threads} | {channel.brand_id for _, channel in ready.values()}
        )
        overlap = timedelta(seconds=self.settings.overlap_seconds)

        def since(state: InboxChannel) -> datetime | None:
            return state.cursor - overlap if state.cursor is not None else None

        calls = [
            (thread, ready[thread.channel_id][1], since(ready[thread.channel_id][0]))
            for thread in threads
        ]
        # Only where the network gives them: each call unseals the channel's credentials.
        mention_calls = [
            (channel, since(state))
            for state, channel in ready.values()
            if self._tells(channel.network, Capability.MENTIONS)
        ]
        private_calls = [
            (channel, since(state))
            for state, channel in ready.values()
            if self._tells(channel.network, Capability.PRIVATE_MESSAGES)
        ]
        await self.session.commit()  # no row stays locked while the networks answer

        limit = asyncio.Semaphore(self.settings.pull_concurrency)

        async def read(
            channel: Channel, what: str, reader: Reader
        ) -> list[Comment] | ConnectorError:
            channel_id = channel.id  # read before any failure
            async with limit:
                try:
                    return await self.channels.call(channel, reader)
                except ConnectorError as exc:
                    return exc
                except Exception as exc:  # a connector bug: read again next time, logged
                    logger.exception("%s of channel %s failed unexpectedly", what, channel_id)
                    return ConnectorError(f"Internal error while reading {what}: {exc}")

        def comments_of(thread: Thread, after: datetime | None) -> Reader:
            return lambda c: c.comments(thread.post_id, after)

        def mentions_of(after: datetime | None) -> Reader:
            return lambda c: c.mentions(after)

        def private_of(after: datetime | None) -> Reader:
            return lambda c: c.private_messages(after)

        # Every read of the pull at once (bounded by ``limit``), then sorted by kind.
        heard = await asyncio.gather(
            *(
                read(channel, "comments", comments_of(thread, after))
                for thread, channel, after in calls
            ),
            *(read(channel, "mentions", mentions_of(after)) for channel, after in mention_calls),
            *(
                read(channel, "private messages", private_of(after))
                for channel, after in private_calls
            ),
        )
        answers = heard[: len(calls)]
        mentioned = heard[len(calls) : len(calls) + len(mention_calls)]
        written = heard[len(calls) + len(mention_calls) :]

        await bind_tenant(self.session, self.agency_id)
        now = utcnow()
        failed: dict[uuid.UUID, ConnectorError] = {}

        def read_from(channel: Channel, answer: list[Comment] | ConnectorError) -> list[Comment]:
            """What was read; nothing where the network gives none of it (nothing missed),
            nor where the read failed (the channel's cursor then stays)."""
            if isinstance(answer, NotSupported):
                return []
            if isinstance(answer, ConnectorError):
                failed.setdefault(channel.id, answer)
                return []
            return answer

        rows: list[dict[str, Any]] = []
        for (thread, channel, _), answer in zip(calls, answers, strict=True):
            brand_rules = rules_dict(rules.get(thread.brand_id))
            for comment in read_from(channel, answer):
                if channel.account_id and comment.author_id == channel.account_id:
                    continue  # the brand's own replies are answers, not messages
                rows.append(message_row(comment, thread, brand_rules, now))
        for (channel, _), mentions in zip(mention_calls, mentioned, strict=True):
            if heard_of := read_from(channel, mentions):
                rows.extend(await self._mention_rows(channel, heard_of, rows, rules, now))
        for (channel, _), private in zip(private_calls, written, strict=True):
            if heard_of := read_from(channel, private):
                rows.extend(await self._private_rows(channel, heard_of, rules, now))
        threads = [*threads, *self._opened]
        stored = await self.messages.insert_new(rows)
        if stored:
            latest: dict[uuid.UUID, datetime] = {}
            written_ids = set(stored)
            for row in rows:
                if row["id"] in written_ids:
                    current = latest.get(row["thread_id"])
                    if current is None or row["received_at"] > current:
                        latest[row["thread_id"]] = row["received_at"]
            for thread in threads:
                if thread.id in latest:
                    thread.last_message_at = max(
                        latest[thread.id], thread.last_message_at or latest[thread.id]
                    )
        for state in await self.followed.lock_many(sorted(ready)):
            state.last_pulled_at = now
            state.lease_until = None
            error = failed.get(state.id)
            if error is None:
                state.cursor = started  # everything dated before the pull began was read
                state.last_error = None
                state.next_pull_at = started + every
            elif isinstance(error, RateLimited):
                wait = timedelta(seconds=error.retry_after or self.settings.pull_every_seconds)
                state.last_error = error.message[:500]
                state.next_pull_at = now + wait
            else:
                state.last_error = error.message[:500]
                state.next_pull_at = started + every
        return len(stored)

    def _tells(self, network: str, capability: Capability) -> bool:
        connector = self.runtime.connectors.get(network)
        return connector is not None and capability in connector.capabilities

    async def _mention_rows(
        self,
        channel: Channel,
        mentions: list[Comment],
        rows: list[dict[str, Any]],
        rules: dict[uuid.UUID, Any],
        now: datetime,
    ) -> list[dict[str, Any]]:
        """The messages of the mentions that start a conversation: not the brand's own
        posts, and not a comment already read (or stored before) in a thread of the brand's
        posts, which networks also report as mentions. Each opens its thread."""
        read = {row["network_id"] for row in rows if row["channel_id"] == channel.id}
        fresh = [
            m
            for m in mentions
            if m.comment_id[:300] not in read
            and not (channel.account_id and m.author_id == channel.account_id)
        ]
        known = await self.messages.known(channel.id, [m.comment_id[:300] for m in fresh])
        fresh = [m for m in fresh if m.comment_id[:300] not in known]
        opened = await self.threads.open(
            channel,
            ThreadSubject.MENTION,
            [
                {
                    "post_id": m.comment_id[:300],
                    "title": " ".join(m.text.split())[:200],
                    "published_at": m.created_at or now,
                }
                for m in fresh
            ],
        )
        self._opened.extend(opened.values())
        brand_rules = rules_dict(rules.get(channel.brand_id))
        return [message_row(m, opened[m.comment_id[:300]], brand_rules, now) for m in fresh]

    async def _private_rows(
        self,
        channel: Channel,
        written: list[Comment],
        rules: dict[uuid.UUID, Any],
        now: datetime,
    ) -> list[dict[str, Any]]:
        """The private messages of others (the brand's own are its answers), each in the
        thread of its author: one per person, opened by their first message."""
        fresh = [
            m
            for m in written
            if m.author_id and not (channel.account_id and m.author_id == channel.account_id)
        ]
        people: dict[str, dict[str, Any]] = {}
        for m in sorted(fresh, key=lambda m: m.created_at or now):
            people.setdefault(
                person_key(m.author_id or ""),
                {
                    "post_id": person_key(m.author_id or ""),
                    "title": (m.author_name or m.author_id or "")[:200],
                    "published_at": m.created_at or now,
                },
            )
        opened = await self.threads.open(channel, ThreadSubject.PRIVATE, list(people.values()))
        self._opened.extend(opened.values())
        brand_rules = rules_dict(rules.get(channel.brand_id))
        return [
            message_row(m, opened[person_key(m.author_id or "")], brand_rules, now) for m in fresh
        ]
