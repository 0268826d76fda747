"""The event loop of the worker and scheduler processes: uvloop.

The API already runs on uvloop (uvicorn picks it when it is installed). The worker's loop
(Dramatiq's async-actor thread) and the scheduler's ran on the standard library's, whose
callbacks, timers and socket reads cost a worker about a third of its CPU in a publishing
burst (``docs/benchmarks.md``); asyncpg, its heaviest user, is written for uvloop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

T = TypeVar("T")


def install() -> None:
    """Every event loop this process makes from now on is a uvloop loop.

    Call it before Dramatiq's worker boots: its AsyncIO middleware makes its loop then.
    """
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on a uvloop loop."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
