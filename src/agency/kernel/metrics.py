"""Prometheus metrics: what the processes count, and where each process shows it.

The api shows ``/metrics`` on its own port (:class:`RequestMetrics` counts the requests, by
route template, method and status); the worker and the scheduler, which serve no HTTP,
start prometheus-client's own server on ``AGENCY_METRICS__PORT``. ``agency serve --workers N``
runs N processes: prometheus-client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set
by the command) adds their counts up, so any of them answers for all.

Beside HTTP, the counters an operator watches are here, each labelled with few values:

- ``agency_jobs_total{job, outcome}`` and ``agency_job_seconds{job}``: every Dramatiq
  message a worker ran (``done``, ``failed``: raised and will be retried, ``interrupted``
  by an outage, ``skipped``);
- ``agency_queue_depth{queue}``: messages waiting in Redis, read when scraped;
- ``agency_deliveries_total{kind, outcome}``: webhook calls and e-mails, by outcome;
- ``agency_publishing_lateness_seconds{network}``: how long after its due time a post went
  out (a scheduler or worker falling behind shows here first).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import time
from collections.abc import Iterator
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware
from litestar import Request, Response, get
from litestar.exceptions import NotAuthorizedException
from litestar.types import Scope
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from agency.config import MetricsSettings

logger = logging.getLogger("agency.metrics")

JOBS = Counter("agency_jobs", "Jobs run by the workers.", ["job", "outcome"])
JOB_SECONDS = Histogram(
    "agency_job_seconds",
    "Time a job took.",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
DELIVERIES = Counter(
    "agency_deliveries", "Webhook calls and e-mails, by outcome.", ["kind", "outcome"]
)
LATENESS = Histogram(
    "agency_publishing_lateness_seconds",
    "Seconds between a post's due time and its publication.",
    ["network"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600),
)


def delivered(kind: str, outcome: str) -> None:
    """Count one webhook call or e-mail (``kind``: ``webhook``, ``mail``)."""
    DELIVERIES.labels(kind, outcome).inc()


class JobMetrics(Middleware):
    """Counts and times each message a worker processes."""

    def __init__(self) -> None:
        self._started: dict[str, float] = {}

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self._started[message.message_id] = time.perf_counter()

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        started = self._started.pop(message.message_id, None)
        outcome = message.options.get("outcome") or ("failed" if exception else "done")
        JOBS.labels(message.actor_name, outcome).inc()
        if started is not None:
            JOB_SECONDS.labels(message.actor_name).observe(time.perf_counter() - started)

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self._started.pop(message.message_id, None)
        JOBS.labels(message.actor_name, "skipped").inc()


class QueueDepth(Collector):
    """Messages waiting in each of the broker's Redis queues (and their delay queues)."""

    def __init__(self, broker: dramatiq.Broker) -> None:
        self.broker = broker

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "agency_queue_depth", "Messages waiting in the broker.", labels=["queue"]
        )
        client = getattr(self.broker, "client", None)
        if client is not None:
            namespace = getattr(self.broker, "namespace", "dramatiq")
            try:
                for queue in sorted(self.broker.get_declared_queues()):
                    family.add_metric([queue], float(client.llen(f"{namespace}:{queue}")))
            except Exception as exc:  # a scrape must answer, even with Redis away
                logger.warning("queue depth unknown: %s", exc)
        yield family


def serve_metrics(port: int, broker: dramatiq.Broker | None = None) -> None:
    """prometheus-client's own HTTP server, for a process that serves no HTTP."""
    if broker is not None:
        REGISTRY.register(QueueDepth(broker))
    start_http_server(port)
    logger.info("metrics on port %s (pid %s)", port, os.getpid())


# The API's request series, named and labelled as Litestar's Prometheus plugin named them
# (dashboards know these names): made once per process, on the first app's first use.
HTTP_LABELS = ("method", "path", "status_code", "app_name")
APP_NAME = "agency"


@functools.cache
def _request_series() -> tuple[Gauge, Counter, Histogram, Counter]:
    return (
        Gauge(
            "agency_requests_in_progress",
            "Total requests currently in progress",
            HTTP_LABELS,
            multiprocess_mode="livesum",
        ),
        Counter("agency_requests_total", "Total requests", HTTP_LABELS),
        Histogram("agency_request_duration_seconds", "Request duration, in seconds", HTTP_LABELS),
        Counter("agency_requests_error_total", "Total errors in requests", HTTP_LABELS),
    )


class RequestMetrics:
    """Counts and times the API's requests by method, route template (never the raw path:
    ids and tokens would make a series each) and status.

    The labelled series of a route are looked up once and kept: prometheus-client's
    ``labels()`` takes a lock and builds its key on every call, four calls a request.
    Requests in progress are labelled with status 200, as Litestar's plugin did.
    """

    def __init__(self, settings: MetricsSettings) -> None:
        # The scrapes themselves are not counted (matched as Litestar's ``exclude`` did).
        self.excluded = re.compile(re.escape(settings.path))
        self._series = _request_series()
        self._in_progress: dict[tuple[str, str], Any] = {}
        self._answered: dict[tuple[str, str, int], tuple[Any, Any, Any | None]] = {}

    def counts(self, scope: Scope) -> bool:
        return self.excluded.search(scope["path"]) is None

    def begin(self, method: str, route: str) -> None:
        self._in_progress_of(method, route).inc()

    def end(self, method: str, route: str, status: int, seconds: float) -> None:
        self._in_progress_of(method, route).dec()
        answered = self._answered.get((method, route, status))
        if answered is None:
            _, requests, duration, errors = self._series
            labels = (method, route, status, APP_NAME)
            answered = self._answered[(method, route, status)] = (
                requests.labels(*labels),
                duration.labels(*labels),
                errors.labels(*labels) if status >= 500 else None,
            )
        counted, timed, failed = answered
        if failed is not None:
            failed.inc()
        counted.inc()
        timed.observe(seconds)

    def _in_progress_of(self, method: str, route: str) -> Any:
        gauge = self._in_progress.get((method, route))
        if gauge is None:
            gauge = self._in_progress[(method, route)] = self._series[0].labels(
                method, route, 200, APP_NAME
            )
        return gauge


def metrics_route(settings: MetricsSettings, broker: dramatiq.Broker) -> Any:
    """``GET /metrics`` (not in the API document), behind a bearer token when one is set."""
    queues = CollectorRegistry(auto_describe=True)
    queues.register(QueueDepth(broker))
    token = settings.token.get_secret_value() if settings.token else None

    @get(settings.path, opt={"public": True}, include_in_schema=False, sync_to_thread=False)
    def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
        if token is not None and request.headers.get("authorization") != f"Bearer {token}":
            raise NotAuthorizedException("The metrics need AGENCY_METRICS__TOKEN as a bearer.")
        registry: CollectorRegistry = REGISTRY
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry) + generate_latest(queues)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return metrics
