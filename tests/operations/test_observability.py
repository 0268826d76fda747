"""What an operator watches: Prometheus metrics, one trace from a request through its job to
the network call, and log lines (JSON, with the request id) including an access log.

A webhook ping goes through it all: the API answers and enqueues, a real worker (Redis)
delivers to a receiver over HTTP. Spans go to an in-memory exporter.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY

from agency.app import create_app
from agency.config import MetricsSettings
from agency.kernel.logs import JsonFormatter
from agency.kernel.runtime import Runtime
from agency.kernel.telemetry import instrument_http
from tests.conftest import Tenant
from tests.support.webhooks import Scene
from tests.support.webhooks import receiver as receiver
from tests.support.webhooks import scene as scene
from tests.support.webhooks import worker as worker


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    """Spans of this module's tests, kept in memory (the process's provider, set once)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrument_http()
    try:
        yield exporter
    finally:
        exporter.shutdown()  # later tests' spans go nowhere
        HTTPXClientInstrumentor().uninstrument()


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _pinged(on: Scene, client: httpx.AsyncClient) -> dict[str, str]:
    hook = await on.subscribe()
    ping = await client.post(
        f"/webhooks/{hook['id']}/ping",
        headers={**on.tenant.headers, "X-Request-ID": "ping-42"},
    )
    assert ping.status_code == 202, ping.text
    delivery = await on.finished(hook["id"])
    assert delivery["status"] == "succeeded", delivery
    return hook


async def test_a_trace_follows_the_request_into_its_job_and_the_call_it_makes(
    scene: Scene,
    runtime: Runtime,
    spans: InMemorySpanExporter,
) -> None:
    traced = create_app(runtime.settings, runtime)  # built with a provider: request spans
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=traced), base_url="http://testserver"
    ) as client:
        spans.clear()
        await _pinged(scene, client)
    await asyncio.sleep(0.2)  # the job's span ends just after its commit
    found: list[ReadableSpan] = list(spans.get_finished_spans())
    by_name = {span.name: span for span in found}
    request = by_name["POST /webhooks/{webhook_id}/ping"]
    job = by_name["job webhook.deliver"]
    call = next(s for s in found if s.kind == SpanKind.CLIENT and s.parent == job.context)
    assert request.kind == SpanKind.SERVER and job.kind == SpanKind.CONSUMER
    assert request.context.trace_id == job.context.trace_id == call.context.trace_id
    assert job.parent is not None and job.parent.span_id in {
        s.context.span_id for s in found if s.context.trace_id == request.context.trace_id
    }
    assert call.attributes is not None and call.name == "POST"
    assert urlsplit(str(call.attributes.get("http.url", ""))).path == "/hooks/agency"
    # The receiver got the context too (W3C traceparent): its own spans would join.
    assert scene.requests[-1].headers["traceparent"].split("-")[1] == format(
        request.context.trace_id, "032x"
    )


async def test_metrics_count_requests_jobs_and_deliveries(
    scene: Scene,
    client: httpx.AsyncClient,
) -> None:
    jobs = _value("agency_jobs_total", job="webhook.deliver", outcome="done")
    delivered = _value("agency_deliveries_total", kind="webhook", outcome="succeeded")
    hook = await _pinged(scene, client)
    await asyncio.sleep(0.2)  # the worker counts the job once its commit is done
    assert _value("agency_jobs_total", job="webhook.deliver", outcome="done") == jobs + 1
    assert _value("agency_deliveries_total", kind="webhook", outcome="succeeded") == delivered + 1
    await client.get(f"/webhooks/{hook['id']}", headers=scene.tenant.headers)
    text = (await client.get("/metrics")).text
    assert 'path="/webhooks/{webhook_id}"' in text  # by route, never by id
    assert hook["id"] not in text
    assert 'agency_queue_depth{queue="webhooks"}' in text
    assert "agency_job_seconds_bucket" in text


async def test_metrics_can_require_a_token(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime.settings, "metrics", MetricsSettings(token="scrape-me"))
    app = create_app(runtime.settings, runtime)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        assert (await client.get("/metrics")).status_code == 401
        allowed = await client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert allowed.status_code == 200
    assert allowed.headers["content-type"].startswith("text/plain")


async def test_access_log_and_json_lines_carry_the_request_id(
    client: httpx.AsyncClient, tenant_a: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="agency.access"):
        answer = await client.get(
            "/brands/0190f0aa-0000-7000-8000-000000000000",
            headers={**tenant_a.headers, "X-Request-ID": "req-7"},
        )
    assert answer.status_code == 404
    [line] = [r for r in caplog.records if r.name == "agency.access"]
    record = json.loads(JsonFormatter().format(line))
    assert record["route"] == "/brands/{brand_id}" and record["status"] == 404
    assert record["method"] == "GET" and record["duration_ms"] >= 0
    assert "0190f0aa" not in record["message"]  # the template, not the path
    assert record["level"] == "info" and record["logger"] == "agency.access"
    assert record["request_id"] == "req-7"
