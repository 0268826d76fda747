"""The scheduler's loop: a claimer with a backlog runs again at once, the others keep their pace."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from agency.kernel import scheduling
from agency.kernel.runtime import Runtime

pytestmark = pytest.mark.asyncio


class Claimers:
    """A claimer that leaves work behind ``batches`` times, one that never does; both count."""

    def __init__(self, batches: int) -> None:
        self.batches = batches
        self.runs: Counter[str] = Counter()
        self.done = asyncio.Event()

    async def busy(self, session: AsyncSession, runtime: Runtime, now: datetime) -> int:
        self.runs["busy"] += 1
        if self.runs["busy"] <= self.batches:
            scheduling.backlog("busy")
        else:
            self.done.set()
        return 1

    async def quiet(self, session: AsyncSession, runtime: Runtime, now: datetime) -> int:
        self.runs["quiet"] += 1
        return 0


async def run_until(runtime: Runtime, claimers: Claimers, seconds: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.create_task(scheduling.run_scheduler(runtime, stop))
    try:
        await asyncio.wait_for(claimers.done.wait(), seconds)
    except TimeoutError:
        pass
    finally:
        stop.set()
        await loop


def install(
    monkeypatch: pytest.MonkeyPatch, runtime: Runtime, claimers: Claimers, every: float
) -> None:
    monkeypatch.setattr(scheduling, "_claimers", {"busy": claimers.busy, "quiet": claimers.quiet})
    monkeypatch.setattr(scheduling, "_periodic", {})
    monkeypatch.setattr(runtime.settings.worker, "scheduler_interval_seconds", every)


async def test_only_the_claimer_left_with_a_backlog_runs_again_at_once(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    claimers = Claimers(batches=20)
    install(monkeypatch, runtime, claimers, every=30.0)
    await run_until(runtime, claimers, seconds=20.0)
    assert claimers.done.is_set()
    # 20 full batches, then one that found the rest: back to back, within one interval.
    assert claimers.runs["busy"] == 21
    # The other claimer ran in the first tick and waits for the interval, not for each batch.
    assert claimers.runs["quiet"] == 1


async def test_a_claimer_always_behind_does_not_starve_the_others(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    claimers = Claimers(batches=10**9)
    install(monkeypatch, runtime, claimers, every=0.2)
    await run_until(runtime, claimers, seconds=1.1)
    assert claimers.runs["busy"] > claimers.runs["quiet"]
    # Every interval (0.2 s) every claimer runs again: about five times in 1.1 s.
    assert claimers.runs["quiet"] >= 3
