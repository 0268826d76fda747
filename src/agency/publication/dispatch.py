"""A worker process's side of publishing on the second: claimed batches wait in the process
for their instant, calls in flight are bounded per process (not by threads), and the leases
of everything the process holds are renewed while it lives.

A ``publication.publish_many`` job only hands its batch to this process's :class:`Dispatcher`
and returns: the Dramatiq thread is free again at once, and a 30-second call holds a slot of
the process, never a thread. For each batch, the dispatcher

1. waits until just before the batch's first due time (claimed a few seconds ahead);
2. takes call slots for the batch (``AGENCY_PUBLISHING__CONCURRENCY``; posts with media have
   their own, ``MEDIA_CONCURRENCY``, so that long uploads never hold up short posts);
3. prepares it (:meth:`Publisher.prepare`: the locks, the re-check, the attempts) and
   commits, so the re-check stays right before the calls: a post canceled, edited or paused
   by a crisis until then does not go out;
4. releases each call at its post's exact instant;
5. records the answers in one transaction.

Under a backlog, slots and database turns go first to posts less than :data:`FRESH` late
(oldest first), then to the backlog (oldest first): a burst drains with what the steady
stream leaves, instead of making every later post wait behind it.

A heartbeat renews the lease of every call the process has on the wire
(``AGENCY_PUBLISHING__STALE_ATTEMPT_SECONDS``, every third of it), and the claim of every post
it has held for more than a beat (a burst holds posts longer than a claim's lease: otherwise
they would be claimed again and held twice). When the process dies, a
post waiting for its instant is claimed again once its claim's lease ends
(``AGENCY_PUBLISHING__LEASE_SECONDS``), and one on the wire (``publishing``) is turned into an
unknown outcome by the claimer and reconciled.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from agency.connector.base import Published
from agency.connector.errors import ConnectorError
from agency.kernel.db import utcnow
from agency.kernel.jobs import JobBuffer, collecting, on_worker_shutdown, stopped_by_outage
from agency.kernel.tenancy import bind_system
from agency.publication.pipeline import Call, Publisher
from agency.publication.repository import PublishingSweepRepository
from agency.publication.staging import Stager

if TYPE_CHECKING:
    from agency.config import Settings
    from agency.kernel.runtime import Runtime

logger = logging.getLogger("agency.publishing")

# Posts less late than this are served before the backlog.
FRESH = 0.5
# The ranks of a Gate's requests, served in this order.
URGENT, COMING, BURST = 0, 1, 2
# What preparing a batch may take at most, and at least, to be ready at the instant.
MAX_LEAD = 1.0
MIN_LEAD = 0.05
BATCH = "publication batch"
BEAT = "publication lease renewal"
STAGING = "media upload ahead"
# How long a stopping worker lets its calls on the wire answer.
DRAIN_SECONDS = 5.0


class Gate:
    """Up to ``limit`` permits, each request served whole. Requests less than :data:`FRESH`
    late go first (earliest due first), then the others (earliest due first), then those of
    a burst (``burst``: posts due at one instant by the thousand, which would otherwise go
    before a post that missed its half second); ``urgent`` ones (saving answers already in)
    before all."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.free = self.limit
        self._order = itertools.count()
        # (rank, due, arrival, permits, future), kept sorted.
        self._waiting: list[tuple[int, float, int, int, asyncio.Future[None]]] = []

    @contextlib.asynccontextmanager
    async def held(
        self, due: float, permits: int = 1, urgent: bool = False, burst: bool = False
    ) -> AsyncIterator[int]:
        taken = await self.acquire(due, permits, urgent, burst)
        try:
            yield taken
        finally:
            self.release(taken)

    async def acquire(
        self, due: float, permits: int = 1, urgent: bool = False, burst: bool = False
    ) -> int:
        """Wait for ``permits`` (at most the limit); returns how many were taken."""
        permits = min(max(permits, 1), self.limit)
        if not self._waiting and self.free >= permits:
            self.free -= permits
            return permits
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        rank = URGENT if urgent else (BURST if burst else COMING)
        entry = (rank, due, next(self._order), permits, future)
        bisect.insort(self._waiting, entry)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release(permits)  # granted as it was canceled
            elif entry in self._waiting:
                self._waiting.remove(entry)
            raise
        return permits

    def release(self, permits: int) -> None:
        self.free += permits
        self._wake()

    def _wake(self) -> None:
        while self._waiting:
            index = self._next()
            _, _, _, permits, future = self._waiting[index]
            if future.done():  # canceled while waiting: nothing to grant
                del self._waiting[index]
                continue
            if permits > self.free:
                return  # whole requests only: the next in line waits for room
            del self._waiting[index]
            self.free -= permits
            future.set_result(None)

    def _next(self) -> int:
        """Urgent first; then the oldest request less than FRESH late; then the oldest,
        a burst's last."""
        if self._waiting[0][0] == URGENT:
            return 0
        fresh = bisect.bisect_left(self._waiting, (COMING, time.time() - FRESH))
        if fresh < len(self._waiting) and self._waiting[fresh][0] == COMING:
            return fresh
        return 0


@dataclass
class Dispatcher:
    """One worker process's publishing, on the event loop of its async jobs."""

    runtime: Runtime
    calls: Gate
    media_calls: Gate
    database: Gate
    room: asyncio.Semaphore
    uploads: asyncio.Semaphore
    held: dict[uuid.UUID, int] = field(default_factory=dict)  # variant -> batches holding it
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    heartbeat: asyncio.Task[None] | None = None
    lead: float = 0.2  # how long before the first due a batch starts its re-check

    @classmethod
    def build(cls, runtime: Runtime) -> Dispatcher:
        settings = runtime.settings.publishing
        pool = runtime.settings.database.pool_size
        return cls(
            runtime,
            calls=Gate(settings.concurrency),
            media_calls=Gate(settings.media_concurrency),
            database=Gate(max(1, pool - 1)),  # one connection left for the heartbeat
            room=asyncio.Semaphore(settings.max_held),
            uploads=asyncio.Semaphore(settings.media_concurrency),
        )

    async def take(
        self,
        agency_id: uuid.UUID,
        variant_ids: Sequence[uuid.UUID],
        due: datetime,
        media: bool = False,
        burst: bool = False,
    ) -> None:
        """Hold a claimed batch until its instant (waits while the process holds too many);
        ``burst``: its call slots and database turns come after the other posts'."""
        for _ in variant_ids:
            await self.room.acquire()
        for variant_id in variant_ids:
            self.held[variant_id] = self.held.get(variant_id, 0) + 1
        task = asyncio.create_task(self._batch(agency_id, list(variant_ids), due, media, burst))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        if self.heartbeat is None or self.heartbeat.done():
            self.heartbeat = asyncio.create_task(self._beat())

    def stage(self, agency_id: uuid.UUID, variant_ids: Sequence[uuid.UUID]) -> None:
        """Upload the media of claimed posts ahead of their time, in the background."""
        task = asyncio.create_task(self._stage(agency_id, list(variant_ids)))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _stage(self, agency_id: uuid.UUID, variant_ids: list[uuid.UUID]) -> None:
        buffer = JobBuffer()
        async with self.uploads:
            try:
                with collecting(buffer):
                    async with self.runtime.session() as session:
                        await Stager(session, agency_id, self.runtime).stage(variant_ids)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the staging rows are claimed again when their lease ends
                if not stopped_by_outage(STAGING, exc, self.runtime.settings.database.url):
                    logger.exception("uploading media ahead for agency %s failed", agency_id)
                return
        self._flush(buffer)

    def _let_go(self, variant_ids: Sequence[uuid.UUID]) -> None:
        for variant_id in variant_ids:
            count = self.held.get(variant_id, 0) - 1
            if count > 0:
                self.held[variant_id] = count
            else:
                self.held.pop(variant_id, None)
            self.room.release()

    async def _batch(
        self,
        agency_id: uuid.UUID,
        variant_ids: list[uuid.UUID],
        due: datetime,
        media: bool,
        burst: bool,
    ) -> None:
        buffer = JobBuffer()
        holding = list(variant_ids)
        try:
            with collecting(buffer):
                await self._publish(agency_id, holding, due, media, buffer, burst)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The rows say what became of the posts: leased ones are claimed again, calls in
            # doubt reconciled, once their lease ends.
            if not stopped_by_outage(BATCH, exc, self.runtime.settings.database.url):
                logger.exception("publishing a batch of agency %s failed", agency_id)
        finally:
            self._let_go(holding)

    async def _publish(
        self,
        agency_id: uuid.UUID,
        holding: list[uuid.UUID],
        due: datetime,
        media: bool,
        buffer: JobBuffer,
        burst: bool = False,
    ) -> None:
        """The batch's three phases; ``holding`` keeps the variants still this process's."""
        first = due.timestamp()
        await _sleep_until(first - self.lead)
        gate = self.media_calls if media else self.calls
        slots = await gate.acquire(first, len(holding), burst=burst)
        async with self.runtime.session() as session:
            publisher = Publisher(session, agency_id, self.runtime)
            try:
                started = time.monotonic()
                horizon = timedelta(seconds=self.runtime.settings.publishing.lookahead_seconds + 1)
                async with self.database.held(first, burst=burst):
                    calls = await publisher.prepared(list(holding), horizon)
                self._flush(buffer)
                self._learn(time.monotonic() - started)
                # What does not go (canceled, held...) is no longer this process's to renew.
                going = {call.variant_id for call in calls}
                self._let_go([v for v in holding if v not in going])
                holding[:] = [v for v in holding if v in going]
                if slots > len(calls):
                    gate.release(slots - len(calls))
                    slots = len(calls)
                if not calls:
                    return
                sending = [self._release(gate, publisher, call) for call in calls]
                slots = 0  # each call gives its slot back when it answers
                outcomes = await publisher.call_all(calls, sending)
                async with self.database.held(first, urgent=True):
                    await publisher.record_and_comment(calls, outcomes)
                self._flush(buffer)
            finally:
                if slots:
                    gate.release(slots)

    @staticmethod
    async def _release(gate: Gate, publisher: Publisher, call: Call) -> Published | ConnectorError:
        """One call at its instant; its slot is given back as soon as it answers."""
        try:
            if call.due is not None:
                await _sleep_until(call.due.timestamp())
            return await publisher.send(call)
        finally:
            gate.release(1)

    def _learn(self, took: float) -> None:
        """Start the next batches about twice as early as preparing takes now."""
        self.lead = min(MAX_LEAD, max(MIN_LEAD, 0.8 * self.lead + 0.2 * (2 * took + MIN_LEAD)))

    def _flush(self, buffer: JobBuffer) -> None:
        try:
            buffer.flush(self.runtime.broker)
        except Exception:  # the rows are committed; the claimer finds what follows again
            logger.exception("jobs after a publishing batch could not be sent")

    async def _beat(self) -> None:
        lease = self.runtime.settings.publishing.stale_attempt_seconds
        while self.held or self.tasks:
            await asyncio.sleep(lease / 3)
            ids = list(self.held)
            if not ids:
                continue
            try:
                # Every database turn of the process, so that none of its re-checks runs
                # meanwhile: they take their posts with SKIP LOCKED, and would pass over a
                # post the beat has locked (and let it go until its lease ends).
                async with (
                    self.database.held(time.time(), self.database.limit, urgent=True),
                    self.runtime.session() as session,
                ):
                    await bind_system(session)
                    now = utcnow()
                    await PublishingSweepRepository(session).renew(
                        ids,
                        until=now + timedelta(seconds=lease),
                        # Held longer than a beat: renewed before the claim runs out.
                        waiting_before=now + timedelta(seconds=2 * lease / 3),
                    )
                    await session.commit()
            except Exception as exc:
                if not stopped_by_outage(BEAT, exc, self.runtime.settings.database.url):
                    logger.exception("the leases of %d posts could not be renewed", len(ids))

    async def drain(self, within: float) -> None:
        """The worker stops: let the calls on the wire answer for up to ``within`` seconds,
        then stop; what was not prepared is claimed again when its lease ends."""
        pending = {task for task in self.tasks if not task.done()}
        if pending:
            await asyncio.wait(pending, timeout=within)
        for task in self.tasks:
            task.cancel()
        if self.heartbeat is not None:
            self.heartbeat.cancel()
        leftovers = [*self.tasks, *([self.heartbeat] if self.heartbeat else [])]
        await asyncio.gather(*leftovers, return_exceptions=True)


async def _sleep_until(instant: float) -> None:
    wait = instant - time.time()
    if wait > 0:
        await asyncio.sleep(wait)


class Dispatchers:
    """The runtime's dispatchers, one per event loop (the worker's async jobs share one)."""

    def __init__(self, settings: Settings) -> None:
        self._by_loop: dict[asyncio.AbstractEventLoop, Dispatcher] = {}
        self._lock = threading.Lock()
        on_worker_shutdown(self.drain)

    def current(self, runtime: Runtime) -> Dispatcher:
        loop = asyncio.get_running_loop()
        with self._lock:
            found = self._by_loop.get(loop)
            if found is None:
                found = self._by_loop[loop] = Dispatcher.build(runtime)
            return found

    def each(self) -> list[Dispatcher]:
        """Every dispatcher of the runtime, one per event loop that has published."""
        with self._lock:
            return list(self._by_loop.values())

    def drain(self) -> None:
        """Before the worker stops (from its main thread): each dispatcher on its loop."""
        with self._lock:
            running = [(loop, d) for loop, d in self._by_loop.items() if loop.is_running()]
        for loop, found in running:
            future = asyncio.run_coroutine_threadsafe(found.drain(DRAIN_SECONDS), loop)
            with contextlib.suppress(Exception):
                future.result(DRAIN_SECONDS + 10)


def dispatcher(runtime: Runtime) -> Dispatcher:
    """This event loop's dispatcher of ``runtime``."""
    return runtime.component(Dispatchers).current(runtime)


def first_due(value: str | None) -> datetime:
    """The first due time a batch message carries (older messages carry none: now)."""
    return datetime.fromisoformat(value) if value else datetime.now(UTC)
