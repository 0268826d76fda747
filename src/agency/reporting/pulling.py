"""The worker's side of collection: read the networks, record, schedule the next pull.

The scheduler's claims (:mod:`agency.reporting.tasks`) lease due pulls and enqueue them per
agency. A job re-reads its rows, decides what to call, and commits before the calls (no row
stays locked while a network answers); the calls go out side by side (a few at a time); the
answers are recorded in one transaction after, through :class:`Collector`, whose snapshot
key makes a repeated pull harmless.

What the network answers decides:

- figures: recorded; the post moves to the next step of its rhythm (steps already past are
  skipped: one late pull, not a burst of them);
- the channel needs reconnecting (or the refresh just failed): a **gap** is recorded for
  that pull, and the rhythm moves on: the figures are missing, never zero;
- 429: the channel waits out ``Retry-After`` (every pull of it, posts and account), and the
  pull stays due; a Retry-After that publishing met on the channel holds pulls back too, so
  that reading numbers never spends the quota a post needs;
- the network cannot be reached: tried again in a few minutes, at most until the next step;
- not supported (a network that gives no such metrics): the post or account is read no
  more; its figures are "not available".
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from agency.channel.models import Channel
from agency.channel.repository import ChannelRepository
from agency.channel.schemas import ChannelHealth
from agency.channel.service import ChannelService
from agency.connector.base import Connector
from agency.connector.errors import (
    AuthExpired,
    ConnectorError,
    NotSupported,
    RateLimited,
    Refused,
)
from agency.kernel.db import utcnow
from agency.kernel.tenancy import Subject, bind_tenant
from agency.reporting.collecting import Collector
from agency.reporting.measures import Measured, from_account, from_post
from agency.reporting.models import ChannelMetric, PostMetric
from agency.reporting.repository import (
    ChannelMetricRepository,
    PostMetricRepository,
    ReportRepository,
)

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime

logger = logging.getLogger("agency.reporting")
T = TypeVar("T")

RETRY_UNREACHABLE = timedelta(minutes=5)
# A publishing Retry-After older than this no longer holds anything back.
PUBLISHING_WAIT_LOOKBACK = timedelta(hours=1)
RECONNECT = "The channel needs reconnecting"


def rhythm(runtime: Runtime) -> list[timedelta]:
    return [timedelta(hours=h) for h in runtime.settings.reporting.post_rhythm_hours]


def current_step(
    published_at: datetime, steps: Sequence[timedelta], step: int, now: datetime
) -> int:
    """The step a pull made at ``now`` stands for: the latest one already due (a pull made
    late, after downtime, is recorded as the latest step it covers, not the first)."""
    while step + 1 < len(steps) and published_at + steps[step + 1] <= now:
        step += 1
    return step


def next_step(published_at: datetime, steps: Sequence[timedelta], after: int, now: datetime) -> int:
    """The first step after ``after`` still ahead of ``now`` (len(steps): none left)."""
    step = after + 1
    while step < len(steps) and published_at + steps[step] <= now:
        step += 1
    return step


class Puller:
    """One agency's due pulls, in the job's session (committed here between phases)."""

    def __init__(self, session: AsyncSession, agency_id: uuid.UUID, runtime: Runtime) -> None:
        self.session = session
        self.agency_id = agency_id
        self.runtime = runtime
        self.settings = runtime.settings.reporting
        self.subject = Subject(agency_id=agency_id, kind="system")
        self.posts = PostMetricRepository(session, self.subject)
        self.followed = ChannelMetricRepository(session, self.subject)
        self.channels = ChannelService(session, self.subject, runtime)
        self.collector = Collector(session, self.subject)

    async def _begin(self) -> None:
        await bind_tenant(self.session, self.agency_id)

    async def _channels(
        self, ids: set[uuid.UUID], now: datetime
    ) -> tuple[dict[uuid.UUID, Channel], dict[uuid.UUID, ChannelMetric], dict[uuid.UUID, datetime]]:
        """The channels, their pull state, and until when each must wait (Retry-After)."""
        channels = await ChannelRepository(self.session, self.subject).many(ids)
        states = {c.id: c for c in await self.followed.lock_many(sorted(ids))}
        blocked = {
            cid: s.blocked_until
            for cid, s in states.items()
            if s.blocked_until is not None and s.blocked_until > now
        }
        for channel_id, started, retry_after in await self.followed.publishing_waits(
            sorted(ids), now - PUBLISHING_WAIT_LOOKBACK
        ):
            until = started + timedelta(seconds=retry_after or 60)
            if until > now and until > blocked.get(channel_id, now):
                blocked[channel_id] = until
                if channel_id in states:  # the claims pass the channel over until then
                    states[channel_id].blocked_until = until
        return channels, states, blocked

    async def _gather(
        self, calls: Sequence[tuple[Channel, Callable[[Connector], Awaitable[T]]]]
    ) -> list[T | ConnectorError]:
        """The calls side by side (a few at a time), then, one by one in a new transaction,
        a token refresh and one more try for those whose token had expired (a refresh writes
        the channel: the session is not shared between concurrent calls)."""
        limit = asyncio.Semaphore(max(1, self.settings.concurrency))

        async def one(channel: Channel, operation: Callable[[Connector], Awaitable[T]]) -> Any:
            async with limit:
                return await _guarded(channel, lambda: operation(self.channels.connector(channel)))

        answers: list[Any] = list(await asyncio.gather(*(one(c, op) for c, op in calls)))
        for index, (channel, operation) in enumerate(calls):
            expired = answers[index]
            if isinstance(expired, AuthExpired) and channel.health != ChannelHealth.NEEDS_RECONNECT:
                # The refresh locks the channel's row (another job may be at it too):
                # committed at once, so that no lock waits on the next channel's call.
                await self._begin()
                answers[index] = await _guarded(
                    channel, _retried(self.channels, channel, operation, expired)
                )
                await self.session.commit()
        await self._begin()
        return answers

    def _block(self, state: ChannelMetric | None, exc: RateLimited, now: datetime) -> None:
        if state is None:
            return
        wait = exc.retry_after or self.settings.rate_limit_default_seconds
        until = now + timedelta(seconds=wait)
        if state.blocked_until is None or state.blocked_until < until:
            state.blocked_until = until

    # -- posts -------------------------------------------------------------------------------

    async def pull_posts(self, ids: Sequence[uuid.UUID]) -> None:
        await self._begin()
        now = utcnow()
        steps = rhythm(self.runtime)
        posts = [
            p
            for p in await self.posts.lock_many(sorted(ids))
            if p.next_pull_at is not None and p.next_pull_at <= now + timedelta(seconds=1)
        ]
        if not posts:
            return
        channels, states, blocked = await self._channels({p.channel_id for p in posts}, now)
        calls: list[tuple[PostMetric, datetime, Channel]] = []
        for post in posts:
            # The lease stays on the posts being read until their answer is recorded.
            post.step = current_step(post.published_at, steps, min(post.step, len(steps) - 1), now)
            due = post.published_at + steps[post.step]
            channel = channels.get(post.channel_id)
            if channel is None or channel.health == ChannelHealth.REVOKED:
                post.next_pull_at = None  # disconnected: followed no more
            elif channel.health == ChannelHealth.NEEDS_RECONNECT or channel.credentials is None:
                await self.collector.post_gap(post, due, now, _reconnect(channel))
                self._advance(post, steps, now)
            elif post.channel_id not in blocked:
                calls.append((post, due, channel))
                continue
            # Not read now (a Retry-After: due again once it is over, the claim passes the
            # channel over until then).
            post.lease_until = None
        await self.session.commit()
        if not calls:
            return

        answers = await self._gather(
            [(channel, _post_reader(post.post_id)) for post, _, channel in calls]
        )
        relocked = {p.id: p for p in await self.posts.lock_many(sorted(p.id for p, _, _ in calls))}
        states = {s.id: s for s in await self.followed.lock_many(sorted(states))}
        now = utcnow()
        for (called, due, channel), answer in zip(calls, answers, strict=True):
            found = relocked.get(called.id)
            if found is None:
                continue
            post = found
            post.lease_until = None
            if isinstance(answer, ConnectorError):
                await self._post_failed(post, due, channel, answer, states, steps, now)
                continue
            await self.collector.post_answer(post, due, now, answer)
            self._advance(post, steps, now)
        await self.session.commit()

    async def _post_failed(
        self,
        post: PostMetric,
        due: datetime,
        channel: Channel,
        exc: ConnectorError,
        states: dict[uuid.UUID, ChannelMetric],
        steps: Sequence[timedelta],
        now: datetime,
    ) -> None:
        if isinstance(exc, RateLimited):
            self._block(states.get(post.channel_id), exc, now)
        elif isinstance(exc, AuthExpired):
            await self.collector.post_gap(post, due, now, _reconnect(channel, exc.message))
            self._advance(post, steps, now)
        elif isinstance(exc, NotSupported):
            post.next_pull_at = None
        elif isinstance(exc, Refused):
            # The post is gone or hidden at the network: said once, read no more.
            await self.collector.post_gap(post, due, now, exc.message)
            post.next_pull_at = None
        else:
            self._retry(post, steps, now, due, exc.message)

    def _retry(
        self, post: PostMetric, steps: Sequence[timedelta], now: datetime, due: datetime, why: str
    ) -> None:
        """Unreachable: again in a few minutes, but never past the next step's time."""
        upcoming = next_step(post.published_at, steps, post.step, now)
        later = now + RETRY_UNREACHABLE
        if upcoming < len(steps) and post.published_at + steps[upcoming] <= later:
            logger.info("metrics of post %s not read at %s: %s", post.id, due, why)
            self._advance(post, steps, now)
        else:
            post.next_pull_at = later

    @staticmethod
    def _advance(post: PostMetric, steps: Sequence[timedelta], now: datetime) -> None:
        post.step = next_step(post.published_at, steps, post.step, now)
        post.next_pull_at = post.published_at + steps[post.step] if post.step < len(steps) else None

    # -- accounts ----------------------------------------------------------------------------

    async def pull_accounts(self, ids: Sequence[uuid.UUID]) -> None:
        await self._begin()
        now = utcnow()
        every = timedelta(hours=self.settings.account_every_hours)
        channels, states, blocked = await self._channels(set(ids), now)
        due_states = [s for s in states.values() if s.next_pull_at <= now + timedelta(seconds=1)]
        zones = await ReportRepository(self.session, self.subject).zones(
            [s.brand_id for s in due_states]
        )
        calls: list[tuple[ChannelMetric, datetime, Channel]] = []
        for state in due_states:
            due = state.next_pull_at
            channel = channels.get(state.id)
            zone = zones.get(state.brand_id, "UTC")
            if channel is None or channel.health == ChannelHealth.REVOKED:
                state.next_pull_at = _after(due, every, now)  # disconnected: nothing to read
            elif channel.health == ChannelHealth.NEEDS_RECONNECT or channel.credentials is None:
                await self.collector.account_gap(state, due, now, _reconnect(channel), zone)
                state.next_pull_at = _after(due, every, now)
            elif state.id not in blocked:
                calls.append((state, due, channel))
                continue
            state.lease_until = None
        await self.session.commit()
        if not calls:
            return

        answers = await self._gather([(channel, _account_reader) for _, _, channel in calls])
        relocked = {
            s.id: s for s in await self.followed.lock_many(sorted(s.id for s, _, _ in calls))
        }
        now = utcnow()
        for (called, due, channel), answer in zip(calls, answers, strict=True):
            held = relocked.get(called.id)
            if held is None:
                continue
            state = held
            state.lease_until = None
            zone = zones.get(state.brand_id, "UTC")
            if isinstance(answer, Measured):
                await self.collector.account_answer(state, due, now, answer, zone)
                state.next_pull_at = _after(due, every, now)
            elif isinstance(answer, RateLimited):
                self._block(state, answer, now)
            elif isinstance(answer, AuthExpired):
                reason = _reconnect(channel, answer.message)
                await self.collector.account_gap(state, due, now, reason, zone)
                state.next_pull_at = _after(due, every, now)
            elif isinstance(answer, NotSupported | Refused):
                # No follower count on this account (a LinkedIn member...): not available.
                state.next_pull_at = _after(due, every, now)
            else:
                state.next_pull_at = min(now + RETRY_UNREACHABLE, _after(due, every, now))
        await self.session.commit()


async def _guarded(channel: Channel, call: Callable[[], Awaitable[T]]) -> T | ConnectorError:
    """The call's answer, or its failure as a typed error (none escapes)."""
    channel_id = channel.id  # read now: after a failed flush the session cannot load it
    try:
        return await call()
    except ConnectorError as exc:
        return exc
    except Exception as exc:  # a connector bug: tried again later, and logged
        logger.exception("metrics of channel %s failed unexpectedly", channel_id)
        return ConnectorError(f"Internal error while reading metrics: {exc}")


def _retried(
    service: ChannelService,
    channel: Channel,
    operation: Callable[[Connector], Awaitable[T]],
    expired: AuthExpired,
) -> Callable[[], Awaitable[T]]:
    """The call once more after a token refresh (marks the channel when that fails)."""
    return lambda: service.retry_expired(channel, operation, channel.credentials, expired)


def _post_reader(post_id: str) -> Callable[[Connector], Awaitable[Measured]]:
    async def read(connector: Connector) -> Measured:
        return from_post(await connector.post_metrics(post_id))

    return read


async def _account_reader(connector: Connector) -> Measured:
    return from_account(await connector.account_metrics())


def _after(due: datetime, every: timedelta, now: datetime) -> datetime:
    """The next point of the account's grid after ``now`` (missed ones are not made up)."""
    following = due + every
    while following <= now:
        following += every
    return following


def _reconnect(channel: Channel | None, message: str | None = None) -> str:
    reason = message or (channel.last_error if channel is not None else None)
    return f"{RECONNECT}: {reason}" if reason else f"{RECONNECT}."
