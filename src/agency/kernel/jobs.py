"""Background jobs on Dramatiq: declared by name, buffered, and sent only after commit.

Services call :func:`enqueue` with an actor name (``"domain.event"``) and ids; they never
import task modules. Messages wait in the current :class:`JobBuffer` and go to the broker
once the request's (or the actor's) transaction has committed; a rollback drops them.
A job receives its session (committed by the runner) and the runtime, explicitly; the app
assembly imports the task modules and declares them on a runtime's broker.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import weakref
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    AsyncIO,
    Callbacks,
    CurrentMessage,
    Middleware,
    Retries,
    TimeLimit,
)
from sqlalchemy.ext.asyncio import AsyncSession

from agency.config import Settings
from agency.kernel.diagnosis import broker_lost, database_lost, explain
from agency.kernel.metrics import JobMetrics
from agency.kernel.outages import BROKER, DATABASE
from agency.kernel.outages import broker_lost as report_broker_lost
from agency.kernel.telemetry import TracePropagation, job_span

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime

logger = logging.getLogger("agency.jobs")
OUTCOME = "outcome"  # a message option the metrics read: "interrupted"


class JobInterrupted(Exception):
    """A job stopped by an outage, having said in its message what became of its work.

    Logged as one line, and not retried: the database is the source of truth, and the
    scheduler finds unfinished work again (leases, stale attempts) once it is back."""


JobFunction = Callable[..., Awaitable[None]]


@dataclass(frozen=True)
class JobDefinition:
    name: str
    fn: JobFunction
    queue: str
    options: dict[str, Any]


_definitions: dict[str, JobDefinition] = {}


def job(
    name: str, *, queue: str = "default", **options: Any
) -> Callable[[JobFunction], JobFunction]:
    """Declare an actor: ``fn(session, runtime, *ids)``, its session committed by the runner."""

    def register(fn: JobFunction) -> JobFunction:
        if name in _definitions and _definitions[name].fn is not fn:
            raise ValueError(f"job {name!r} is declared twice")
        _definitions[name] = JobDefinition(name, fn, queue, options)
        return fn

    return register


def definitions() -> dict[str, JobDefinition]:
    return dict(_definitions)


@dataclass
class JobBuffer:
    messages: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = field(default_factory=list)

    def add(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if name not in _definitions:
            raise LookupError(f"no job named {name!r}")
        self.messages.append((name, args, kwargs))

    def flush(self, broker: dramatiq.Broker) -> int:
        sent = 0
        messages, self.messages = self.messages, []
        for name, args, kwargs in messages:
            broker.get_actor(name).send(*args, **kwargs)
            sent += 1
        return sent

    def discard(self) -> None:
        self.messages.clear()


_buffer: contextvars.ContextVar[JobBuffer | None] = contextvars.ContextVar(
    "agency_job_buffer", default=None
)


def enqueue(name: str, *args: Any, **kwargs: Any) -> None:
    """Queue a job to be sent after the current transaction commits."""
    buffer = _buffer.get()
    if buffer is None:
        raise RuntimeError("enqueue() outside a request or job: no transaction to follow")
    buffer.add(name, args, kwargs)


@contextmanager
def collecting(buffer: JobBuffer) -> Iterator[JobBuffer]:
    token = _buffer.set(buffer)
    try:
        yield buffer
    finally:
        _buffer.reset(token)


_shutdown_hooks: list[weakref.WeakMethod[Callable[[], None]]] = []


def on_worker_shutdown(hook: Callable[[], None]) -> None:
    """Call the bound method ``hook`` when a worker stops, before its async jobs' event loop
    does (work a job left running on that loop can end cleanly). Held weakly."""
    _shutdown_hooks.append(weakref.WeakMethod(hook))


class WorkerShutdown(Middleware):
    """Runs the hooks of :func:`on_worker_shutdown` as the worker begins to stop."""

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        for ref in list(_shutdown_hooks):
            hook = ref()
            if hook is None:
                _shutdown_hooks.remove(ref)
                continue
            try:
                hook()
            except Exception:
                logger.exception("a worker shutdown hook failed")


def setup_broker(settings: Settings) -> dramatiq.Broker:
    """Redis broker when ``AGENCY_REDIS_URL`` is set, else the in-process stub broker."""
    middleware = [
        AgeLimit(),
        TimeLimit(time_limit=300_000),
        Callbacks(),
        Retries(max_retries=5, min_backoff=1_000, max_backoff=300_000),
        CurrentMessage(),
        WorkerShutdown(),  # before AsyncIO: its hooks run while the event loop still does
        AsyncIO(),
        JobMetrics(),
        TracePropagation(),
    ]
    broker: dramatiq.Broker
    if settings.redis.url:
        from dramatiq.brokers.redis import RedisBroker  # redis-py: only when configured

        prompt_ms = settings.worker.prompt_poll_ms

        class PromptRedisBroker(RedisBroker):
            """An idle worker looks at the queues of :func:`poll_promptly` every
            ``prompt_ms`` at most, at the others every worker timeout (Dramatiq's 1 s)."""

            def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Any:
                if queue_name in _prompt_queues:
                    timeout = min(timeout, prompt_ms)
                return super().consume(queue_name, prefetch, timeout)

        broker = PromptRedisBroker(url=settings.redis.url, middleware=middleware)  # type: ignore[no-untyped-call]
    else:
        broker = StubBroker(middleware=middleware)
        broker.emit_after("process_boot")
    dramatiq.set_broker(broker)
    return broker


_prompt_queues: set[str] = set()


def poll_promptly(queue: str) -> None:
    """Idle workers look at ``queue`` every ``AGENCY_WORKER_PROMPT_POLL_MS`` at most, not
    every second: a message sent to it is taken within that time by every worker process
    (one awake process no longer takes a whole burst while the others sleep). Each
    looking costs a Redis call: only for queues whose messages wait for nothing else."""
    _prompt_queues.add(queue)


def declare_actors(runtime: Runtime) -> None:
    """Declare every job on the runtime's broker, each run with this runtime.

    Declaring again on the same broker replaces the actors: a test that builds a runtime
    of its own (other connectors) binds the jobs to it, then back.
    """
    for definition in _definitions.values():
        # Dramatiq refuses a second actor of one name: the newer binding replaces the older.
        runtime.broker.actors.pop(definition.name, None)
        declare = dramatiq.actor(
            actor_name=definition.name,
            queue_name=definition.queue,
            broker=runtime.broker,
            **definition.options,
        )
        declare(_runner(definition, runtime))


def stopped_by_outage(name: str, exc: Exception, database_url: str) -> bool:
    """Whether an outage stopped work done outside a job's run (said once, as for a job)."""
    return _interrupted(name, exc, database_url)


def _interrupted(name: str, exc: Exception, database_url: str) -> bool:
    """Say what an outage did to this job, once, and whether it stopped the job."""
    if isinstance(exc, JobInterrupted):
        logger.warning("%s: %s", name, exc)
    elif database_lost(exc):
        DATABASE.lost(explain(exc, database_url=database_url) or type(exc).__name__)
        logger.debug("%s not run: the database is unreachable", name)
    else:
        return False
    message = CurrentMessage.get_current_message()
    if message is not None:
        message.options[OUTCOME] = "interrupted"
    return True


def _runner(definition: JobDefinition, runtime: Runtime) -> Callable[..., Awaitable[None]]:
    async def run(*args: Any, **kwargs: Any) -> None:
        with job_span(definition.name):
            buffer = JobBuffer()
            session: AsyncSession = runtime.session()
            try:
                with collecting(buffer):
                    await definition.fn(session, runtime, *args, **kwargs)
                await session.commit()
            except Exception as exc:
                with contextlib.suppress(Exception):  # a lost connection refuses even this
                    await session.rollback()
                buffer.discard()
                if _interrupted(definition.name, exc, runtime.settings.database.url):
                    return
                raise
            except BaseException:
                with contextlib.suppress(Exception):
                    await session.rollback()
                buffer.discard()
                raise
            finally:
                with contextlib.suppress(Exception):
                    await session.close()
            DATABASE.back()
            try:
                if buffer.flush(runtime.broker):  # inside the span: what it sends follows it
                    BROKER.back()
            except Exception as exc:
                if not broker_lost(exc):
                    raise
                # Committed; what it sends next is found again by its claimer once Redis is.
                report_broker_lost(
                    runtime.broker, explain(exc, redis_url=runtime.settings.redis.url) or str(exc)
                )

    run.__name__ = definition.name.replace(".", "_")
    return run
