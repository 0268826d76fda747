"""Report e-mails in tests: a worker on the queues they use, schedules made through the API,
runs followed until settled, and messages taken apart."""

from __future__ import annotations

import asyncio
import io
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import dramatiq
import httpx
from pypdf import PdfReader
from sqlalchemy import text

from agency.kernel.db import utcnow
from agency.kernel.runtime import Runtime
from agency.kernel.scheduling import tick
from agency.kernel.tenancy import bind_system
from tests.conftest import Tenant
from tests.support.publishing import running_worker

WEEKLY = "FREQ=WEEKLY;BYDAY=MO;BYHOUR=8;BYMINUTE=0"


@contextmanager
def report_worker(runtime: Runtime) -> Iterator[dramatiq.Worker]:
    with running_worker(runtime, {"mail", "reports"}, threads=2) as worker:
        yield worker


async def create_schedule(
    client: httpx.AsyncClient, tenant: Tenant, brand_id: str, **fields: Any
) -> dict[str, Any]:
    body = {
        "name": fields.pop("name", "Weekly report"),
        "rule": fields.pop("rule", WEEKLY),
        **fields,
    }
    created = await client.post(
        f"/brands/{brand_id}/report-schedules", json=body, headers=tenant.headers
    )
    assert created.status_code == 201, created.text
    schedule: dict[str, Any] = created.json()
    return schedule


async def send_now(
    client: httpx.AsyncClient, tenant: Tenant, schedule_id: str, **period: str
) -> dict[str, Any]:
    sent = await client.post(
        f"/report-schedules/{schedule_id}/send", json=period, headers=tenant.headers
    )
    assert sent.status_code == 202, sent.text
    run: dict[str, Any] = sent.json()
    return run


async def settled_run(
    client: httpx.AsyncClient,
    tenant: Tenant,
    run_id: str,
    within: float = 30,
    ticks: bool = False,
    runtime: Runtime | None = None,
) -> dict[str, Any]:
    """The run once it is sent, failed or canceled (ticking the scheduler if asked)."""
    deadline = asyncio.get_running_loop().time() + within
    body: dict[str, Any] = {}
    while asyncio.get_running_loop().time() < deadline:
        if ticks and runtime is not None:
            await tick(runtime)
        response = await client.get(f"/report-runs/{run_id}", headers=tenant.headers)
        body = response.json()
        if body.get("status") in {"sent", "failed", "canceled"}:
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} not settled: {body}")


async def make_due(runtime: Runtime, schedule_id: str, ago: timedelta = timedelta(0)) -> None:
    """Bring a schedule's next firing to now (as if its time had come)."""
    async with runtime.session() as session:
        await bind_system(session)
        await session.execute(
            text("UPDATE report_schedules SET next_run_at = :at WHERE id = :id"),
            {"at": utcnow() - ago, "id": uuid.UUID(schedule_id)},
        )
        await session.commit()


async def rows(runtime: Runtime, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with runtime.session() as session:
        await bind_system(session)
        result = await session.execute(text(sql), params)
        return [dict(row._mapping) for row in result]


def parts(message: EmailMessage) -> list[str]:
    """The MIME tree as ``depth:type`` lines."""
    found: list[str] = []

    def walk(part: EmailMessage, depth: int) -> None:
        found.append(f"{depth}:{part.get_content_type()}")
        if part.is_multipart():
            for child in part.iter_parts():
                walk(child, depth + 1)  # type: ignore[arg-type]

    walk(message, 0)
    return found


def pdf_text(message: EmailMessage) -> str:
    pdf = next(p for p in message.walk() if p.get_content_type() == "application/pdf")
    reader = PdfReader(io.BytesIO(pdf.get_payload(decode=True)))  # type: ignore[arg-type]
    return "\n".join(page.extract_text() for page in reader.pages)


def unsubscribe_url(message: EmailMessage) -> str:
    found = re.fullmatch(r"<(https?://\S+)>", str(message["List-Unsubscribe"]))
    assert found, message["List-Unsubscribe"]
    return found.group(1)


async def execute(runtime: Runtime, sql: str, **params: Any) -> None:
    async with runtime.session() as session:
        await bind_system(session)
        await session.execute(text(sql), params)
        await session.commit()
