"""The scheduler: finds due work in the database and enqueues ids, safely with replicas.

Each source of due work is a *claimer*: an async function that, in one transaction, locks
the due rows it finds (``FOR UPDATE SKIP LOCKED``, so two schedulers never take the same
row), moves them past their due point, and enqueues jobs. The jobs go to the broker only
after that transaction commits. Periodic jobs are the first claimer; publications, token
refreshes, metric pulls and report e-mails add their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from agency.kernel.db import utcnow
from agency.kernel.diagnosis import broker_lost, database_lost, explain
from agency.kernel.jobs import JobBuffer, collecting, enqueue
from agency.kernel.outages import BROKER, DATABASE
from agency.kernel.outages import broker_lost as report_broker_lost
from agency.kernel.runtime import Runtime
from agency.kernel.system import PeriodicJobRepository
from agency.kernel.tenancy import bind_system

logger = logging.getLogger("agency.scheduler")

# A claimer gets its transaction, the runtime (explicitly: no global) and the tick's now.
Claimer = Callable[[AsyncSession, Runtime, datetime], Awaitable[int]]


_periodic: dict[str, timedelta] = {}
_claimers: dict[str, Claimer] = {}
_backlog: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "scheduler_backlog", default=None
)

# Ticks run back to back while a claimer reports a backlog, up to this many in a row.
MAX_BACK_TO_BACK = 1000


def periodic(job_name: str, every: timedelta) -> None:
    """Run the job named ``job_name`` every ``every`` (first run at the first tick)."""
    _periodic[job_name] = every


def backlog(name: str) -> None:
    """Called by a claimer that took a full batch: more is due, claim again at once."""
    found = _backlog.get()
    if found is not None:
        found.append(name)


def claimer(name: str) -> Callable[[Claimer], Claimer]:
    def register(fn: Claimer) -> Claimer:
        _claimers[name] = fn
        return fn

    return register


@claimer("periodic")
async def claim_periodic_jobs(session: AsyncSession, runtime: Runtime, now: datetime) -> int:
    rows = await PeriodicJobRepository(session).claim_due(now)
    for row in rows:
        if row.name not in _periodic:
            continue
        every = _periodic[row.name]
        row.interval_seconds = int(every.total_seconds())
        # Skip missed runs after downtime: one catch-up run, then back on the grid.
        row.next_run_at = max(row.next_run_at + every, now)
        row.last_enqueued_at = now
        enqueue(row.name)
    return len(rows)


async def ensure_periodic_rows(runtime: Runtime) -> None:
    async with runtime.session() as session:
        await bind_system(session)
        await PeriodicJobRepository(session).ensure(_periodic, utcnow())
        await session.commit()


async def tick(runtime: Runtime, now: datetime | None = None) -> int:
    """Run every claimer once, each in its own transaction. Returns the rows claimed."""
    claimed, _ = await _tick(runtime, now)
    return claimed


async def _tick(
    runtime: Runtime, now: datetime | None = None, only: set[str] | None = None
) -> tuple[int, set[str]]:
    """The rows claimed, and the claimers that left due work behind (a full batch).

    ``only``: run these claimers alone (the others ran less than an interval ago).
    """
    claimed = 0
    more: list[str] = []
    token = _backlog.set(more)
    try:
        for name, fn in list(_claimers.items()):
            if only is not None and name not in only:
                continue
            buffer = JobBuffer()
            async with runtime.session() as session:
                try:
                    await bind_system(session)
                    with collecting(buffer):
                        claimed += await fn(session, runtime, now or utcnow())
                    await session.commit()
                except Exception as exc:
                    with contextlib.suppress(Exception):  # a lost connection refuses this too
                        await session.rollback()
                    buffer.discard()
                    if database_lost(exc):  # said once (kernel.outages); the next tick retries
                        DATABASE.lost(explain(exc, runtime.settings.database.url) or str(exc))
                        return claimed, set()
                    logger.exception("claimer %s failed", name)
                    continue
            DATABASE.back()
            try:
                if buffer.flush(runtime.broker):
                    BROKER.back()
            except Exception as exc:
                if not broker_lost(exc):
                    raise
                # Claimed with a lease: sent again once the lease ends and Redis is back.
                report_broker_lost(
                    runtime.broker, explain(exc, redis_url=runtime.settings.redis.url) or str(exc)
                )
                return claimed, set()
    finally:
        _backlog.reset(token)
    return claimed, set(more)


async def run_scheduler(runtime: Runtime, stop: asyncio.Event) -> None:
    await ensure_periodic_rows(runtime)
    interval = runtime.settings.worker.scheduler_interval_seconds
    logger.info("scheduler started (every %.1fs)", interval)
    clock = asyncio.get_running_loop().time
    back_to_back = 0
    only: set[str] | None = None
    every_claimer_at = clock()
    while not stop.is_set():
        if only is None or clock() - every_claimer_at >= interval:
            only, every_claimer_at = None, clock()
        _, more = await _tick(runtime, only=only)
        if more and back_to_back < MAX_BACK_TO_BACK:
            # A full batch: the rest is already due, do not wait a whole interval for it.
            # Until the interval is over only the claimers that left some behind run again:
            # the others would each spend a transaction finding nothing new.
            back_to_back += 1
            only = more
            await asyncio.sleep(0)
            continue
        back_to_back = 0
        only = None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
    logger.info("scheduler stopped")
