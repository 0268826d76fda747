"""Traces (OpenTelemetry): a request, the jobs it sends and the calls they make, as one trace.

- The api opens a server span per request (Litestar's OpenTelemetry plugin, see ``app.py``).
- A job sent while a span is current carries that span's context (W3C ``traceparent``) in
  the Dramatiq message's options, under ``trace``: :class:`TracePropagation`, at enqueue.
  Messages carry ids only; the trace context is the one other thing they carry.
- The worker runs each job inside a consumer span, ``job <name>``, child of that context
  (:func:`job_span`, used by the runner in :mod:`agency.kernel.jobs`); the scheduler's sends
  start from its own claim.
- Every httpx call (a network's API, a webhook, an identity provider) is a client span,
  child of whatever is current (opentelemetry-instrumentation-httpx).

Spans leave the process over OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set, named by ``OTEL_SERVICE_NAME`` or the
process (``agency-api``, ``agency-worker``, ``agency-scheduler``); otherwise no span is kept.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage, Middleware
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.trace import SpanKind

TRACE_OPTION = "trace"
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_lock = threading.Lock()

tracer = trace.get_tracer("agency")


def configure_tracing(service: str) -> bool:
    """Export this process's spans over OTLP when an endpoint is configured; whether it is."""
    instrument_http()
    if not any(os.environ.get(name) for name in ENDPOINT_VARIABLES):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME") or service
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return True


def instrument_http() -> None:
    """Client spans for every httpx client of this process (idempotent)."""
    with _lock:
        instrumentor = HTTPXClientInstrumentor()
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()


class TracePropagation(Middleware):
    """The current trace context travels in each message sent (its ``trace`` option)."""

    def before_enqueue(
        self, broker: dramatiq.Broker, message: dramatiq.Message[Any], delay: int
    ) -> None:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        if carrier:
            message.options[TRACE_OPTION] = carrier


@contextmanager
def job_span(name: str) -> Iterator[trace.Span]:
    """A consumer span for the job being run, child of the context its message carried."""
    message = CurrentMessage.get_current_message()
    options: dict[str, Any] = message.options if message is not None else {}
    parent = propagate.extract(options.get(TRACE_OPTION) or {})
    attributes = {"messaging.system": "dramatiq", "messaging.operation.type": "process"}
    if message is not None:
        attributes["messaging.message.id"] = message.message_id
        attributes["messaging.destination.name"] = message.queue_name
    with tracer.start_as_current_span(
        f"job {name}", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
    ) as span:
        yield span


class RouteSpanName(ASGIMiddleware):
    """Names the request's server span after its route (``GET /brands/{brand_id}``) once it
    is known: the span starts before routing, and a raw path would hold ids and tokens."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        span = trace.get_current_span()
        route = scope.get("path_template")
        if span.is_recording() and route:
            span.update_name(f"{scope.get('method', '')} {route}")
            span.set_attribute("http.route", str(route))
        await next_app(scope, receive, send)
