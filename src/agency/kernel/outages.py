"""The database or Redis going away and coming back, said once each, in words.

Left alone, a PostgreSQL restart writes a traceback per job and per scheduler claimer every
second, and a Redis restart a "Consumer encountered a connection error" plus a "Restarting
consumer" per queue every three seconds, until they are back, and nothing says when they
are. Here each engine has one :class:`Outage`: the first failure logs one WARNING line
(what, where without password, why, and what the process does meanwhile), the rest stay
quiet, and the first success logs one line with how long it lasted.

- The database: SQLAlchemy's ``handle_error`` event reports a lost or refused connection,
  its ``connect`` event a new one (:func:`watch_engine`). Jobs and claimers that meet the
  outage stop quietly; nothing is retried blindly, the scheduler finds the work again.
- Redis: the workers' consumers' own messages are caught by :class:`QuietConsumers`, which
  reports the outage, and :class:`BrokerWatch` pings until Redis answers again.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import dramatiq
from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine

from agency.kernel.diagnosis import database_lost, explain, safe_url

logger = logging.getLogger("agency.outages")
BROKER_PING_SECONDS = 1.0


class Outage:
    def __init__(self, what: str, meanwhile: str) -> None:
        self.what = what
        self.meanwhile = meanwhile
        self._since: float | None = None
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        return self._since is not None

    def lost(self, why: str) -> None:
        """The engine failed; said the first time only."""
        with self._lock:
            if self._since is not None:
                return
            self._since = time.monotonic()
        logger.warning("%s unreachable: %s; %s", self.what, why, self.meanwhile)

    def back(self) -> None:
        """The engine answered; said when it had been lost."""
        with self._lock:
            since, self._since = self._since, None
        if since is not None:
            logger.warning("%s reachable again after %.1fs", self.what, time.monotonic() - since)


DATABASE = Outage(
    "the database",
    "jobs and scheduler runs wait for it; nothing is lost, due work is found again",
)
BROKER = Outage(
    "Redis",
    "jobs are neither sent nor received until it is back; due work is found again",
)


def watch_engine(engine: AsyncEngine) -> None:
    """Report the database's outages from this engine's connection events."""
    url = engine.url.render_as_string(hide_password=False)

    def failed(context: ExceptionContext) -> None:
        cause = context.original_exception
        if context.is_disconnect or context.connection is None or database_lost(cause):
            # asyncpg reports a server that restarted as "closed in the middle of operation"
            # on a pooled connection: a disconnect, so that the pool is renewed at once.
            context.is_disconnect = True
            DATABASE.lost(explain(cause, database_url=url) or _short(cause))

    def connected(*_: Any) -> None:
        DATABASE.back()

    event.listen(engine.sync_engine, "handle_error", failed)
    event.listen(engine.sync_engine, "connect", connected)


class BrokerWatch:
    """While Redis is lost, pings it every second and reports its return."""

    def __init__(self, broker: dramatiq.Broker) -> None:
        self.broker = broker
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._until_back, name="agency-broker-watch", daemon=True
                )
                self._thread.start()

    def _until_back(self) -> None:
        client = getattr(self.broker, "client", None)
        while client is not None and BROKER.down:
            try:
                client.ping()
            except Exception:
                time.sleep(BROKER_PING_SECONDS)
                continue
            BROKER.back()


_watches: dict[int, BrokerWatch] = {}


def broker_lost(broker: dramatiq.Broker, why: str) -> None:
    """Report Redis lost, and watch for its return."""
    BROKER.lost(why)
    watch = _watches.setdefault(id(broker), BrokerWatch(broker))
    watch.start()


class QuietConsumers(logging.Filter):
    """Dramatiq's consumers' connection errors become one :data:`BROKER` outage."""

    def __init__(self, watch: BrokerWatch, url: str | None) -> None:
        super().__init__()
        self.watch = watch
        self.url = url

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("dramatiq.worker.ConsumerThread"):
            return True
        message = str(record.msg)
        if message.startswith("Consumer encountered a connection error"):
            error = record.args[0] if isinstance(record.args, tuple) and record.args else ""
            BROKER.lost(f"cannot reach Redis at {safe_url(self.url)}: {str(error).rstrip('.')}")
            self.watch.start()
            return False
        return not (message.startswith("Restarting consumer") and BROKER.down)


def quiet_consumers(broker: dramatiq.Broker, url: str | None) -> None:
    """Install :class:`QuietConsumers` on the process's log handlers (Dramatiq names a
    logger per queue: ``dramatiq.worker.ConsumerThread(default)``...)."""
    quiet = QuietConsumers(BrokerWatch(broker), url)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, QuietConsumers) for f in handler.filters):
            handler.addFilter(quiet)


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
