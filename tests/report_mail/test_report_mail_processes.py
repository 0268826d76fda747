"""Report e-mails exactly once across real process deaths: the worker and the scheduler run as
their own processes (what ``agency worker`` and ``agency scheduler`` run) and are killed with
SIGKILL while the SMTP server holds one e-mail at RCPT (nothing handed over yet) and another
at DATA (handed over, unanswered)."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from agency.kernel.runtime import Runtime
from tests.conftest import Tenant
from tests.helpers import add_client_member, create_brand
from tests.support.process_world import Processes, process_env
from tests.support.report_mail import create_schedule, make_due, rows, settled_run
from tests.support.smtp import PASSWORD, USERNAME, SmtpServer


@pytest.fixture
def held_smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def processes(runtime: Runtime, held_smtp: SmtpServer) -> Iterator[Processes]:
    env = process_env(runtime.settings, "http://127.0.0.1:9")
    env.update(
        {
            "AGENCY_MAIL__SMTP_HOST": "127.0.0.1",
            "AGENCY_MAIL__SMTP_PORT": str(held_smtp.port),
            "AGENCY_MAIL__SMTP_SECURITY": "none",
            "AGENCY_MAIL__SMTP_USERNAME": USERNAME,
            "AGENCY_MAIL__SMTP_PASSWORD": PASSWORD,
            "AGENCY_MAIL__SENDER": "Agence <no-reply@agence.example>",
            "AGENCY_MAIL__LEASE_SECONDS": "2",
            "AGENCY_MAIL__TIMEOUT_SECONDS": "60",
            "AGENCY_REPORT_MAIL__LEASE_SECONDS": "2",
        }
    )
    with tempfile.TemporaryDirectory(prefix="agency-report-processes-") as logs:
        procs = Processes(env, Path(logs))
        try:
            yield procs
        finally:
            held_smtp.handler.hold.set()
            procs.close()
            sys.stderr.write(procs.tail())


async def test_killed_worker_and_scheduler_send_each_report_once(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Tenant,
    held_smtp: SmtpServer,
    processes: Processes,
) -> None:
    brand = await create_brand(client, tenant_a, "tenue")
    receive = ["calendar:read", "reports:receive"]
    await add_client_member(client, tenant_a, brand, "data@tenue.example", receive, invite=False)
    await add_client_member(client, tenant_a, brand, "rcpt@tenue.example", receive, invite=False)
    schedule = await create_schedule(
        client,
        tenant_a,
        brand,
        rule="FREQ=DAILY;BYHOUR=6;BYMINUTE=0",
        period="last_week",
        data_delay_hours=0,
        recipients={"client_lines": ["marketing"]},
    )
    handler = held_smtp.handler
    handler.hold.clear()
    handler.hold_at_rcpt.add("rcpt@tenue.example")
    processes.start("worker")
    processes.start("scheduler")
    await processes.ready()
    await make_due(runtime, schedule["id"], timedelta(seconds=1))

    # One e-mail is handed over and unanswered, the other waits at RCPT: kill the worker.
    assert await asyncio.to_thread(handler.holding.wait, 60), "no e-mail reached DATA"
    assert await asyncio.to_thread(handler.holding_rcpt.wait, 60), "no e-mail reached RCPT"
    processes.kill("worker")
    processes.kill("scheduler")
    handler.hold.set()
    assert [r.recipients for r in handler.received] == [["data@tenue.example"]]
    # The schedule fires again for the same period while everything restarts.
    await make_due(runtime, schedule["id"], timedelta(seconds=1))
    processes.start("scheduler")
    processes.start("worker")
    await processes.ready()

    [run] = await rows(runtime, "SELECT id FROM report_runs")
    done = await settled_run(client, tenant_a, str(run["id"]), within=60)
    outcomes = {d["email"]: d["status"] for d in done["deliveries"]}
    # Handed over when the worker died: it may have arrived, so it is never sent again.
    # Not handed over yet: sent once the lease ended.
    assert outcomes == {"data@tenue.example": "unknown", "rcpt@tenue.example": "sent"}
    assert done["status"] == "failed"
    received = sorted(r.recipients[0] for r in handler.received)
    assert received == ["data@tenue.example", "rcpt@tenue.example"]
    assert len(await rows(runtime, "SELECT id FROM report_runs")) == 1
    mails = await rows(runtime, "SELECT recipient, status, attempts FROM mail_messages")
    assert sorted((m["recipient"], m["status"], m["attempts"]) for m in mails) == [
        ("data@tenue.example", "unknown", 1),
        ("rcpt@tenue.example", "sent", 2),
    ]
