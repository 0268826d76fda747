"""The worker and the scheduler as separate processes, with the stand-in network installed.

    python -m tests.support.processes worker [--threads N]
    python -m tests.support.processes scheduler

Exactly what ``agency worker`` and ``agency scheduler`` run (``agency.cli.run_worker`` and
``agency.cli.run_scheduler_process``), with settings read from the ``AGENCY_*`` variables,
but the connector registry is the installed connectors plus ``StubNetConnector``: the fault
tests and the scheduler benchmark kill and restart these processes.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `tests` importable as a script

from agency.assembly import build_runtime
from agency.cli import configure_logging, run_scheduler_process, run_worker
from agency.config import get_settings
from agency.connector.registry import Registry, installed
from agency.kernel.runtime import Runtime
from tests.support.stubnet import StubNetConnector


def stub_runtime() -> Runtime:
    """The runtime the processes build, with the stand-in network's connector added."""
    registry = Registry(
        [*(c for c in installed().values() if c.network != "stubnet"), StubNetConnector]
    )
    return build_runtime(get_settings(), connectors=registry)


def dump_on_signals() -> None:
    """``kill -USR1 <pid>``: the stacks of the worker's asyncio tasks; ``kill -USR2 <pid>``:
    every thread's stack; to stderr (where a stuck benchmark or test waits)."""
    faulthandler.register(signal.SIGUSR2, all_threads=True)

    def tasks(*_: object) -> None:
        from dramatiq.asyncio import get_event_loop_thread

        found = get_event_loop_thread()
        if found is not None:
            found.loop.call_soon_threadsafe(_print_tasks)

    signal.signal(signal.SIGUSR1, tasks)


def _print_tasks() -> None:
    for task in asyncio.all_tasks():
        task.print_stack(limit=12)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.support.processes")
    parser.add_argument("process", choices=["worker", "scheduler"])
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    configure_logging()
    dump_on_signals()
    runtime = stub_runtime()
    if args.process == "worker":
        run_worker(runtime, args.threads)
    else:
        run_scheduler_process(runtime)


if __name__ == "__main__":
    main()
