"""Outgoing e-mail through a real SMTP server: rendered per locale, sealed at rest, sent by a
worker after the commit and once; with no SMTP server, written to the outbox folder."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from agency.config import MailSettings
from agency.kernel.db import utcnow
from agency.kernel.runtime import Runtime
from agency.kernel.scheduling import tick
from agency.kernel.tenancy import bind_system
from tests.conftest import Tenant
from tests.helpers import add_client_member, assert_problem, create_brand
from tests.support.servers import free_port
from tests.support.smtp import USERNAME, SmtpServer, link_in, smtp_settings


async def invite(client: httpx.AsyncClient, tenant: Tenant, email: str, **fields: Any) -> str:
    brand = await create_brand(client, tenant, "maison", name="Maison Dupont")
    await add_client_member(client, tenant, brand, email, name="Claire Martin", **fields)
    return brand


pytestmark = pytest.mark.usefixtures("mail_worker")


def read_outbox(folder: Path) -> list[EmailMessage]:
    return [
        message_from_bytes(eml.read_bytes(), policy=policy.default)  # type: ignore[misc]
        for eml in folder.glob("*.eml")
    ]


@contextmanager
def jobs_dropped(runtime: Runtime, name: str) -> Iterator[None]:
    """Messages of job ``name`` sent meanwhile are lost, as a broker may lose them."""
    actor = runtime.broker.get_actor(name)
    original = actor.send
    actor.send = lambda *args, **kwargs: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        actor.send = original  # type: ignore[method-assign]


async def mail_rows(runtime: Runtime) -> list[dict[str, Any]]:
    async with runtime.session() as session:
        await bind_system(session)
        rows = await session.execute(
            text("SELECT recipient, status, body, attempts, last_error FROM mail_messages")
        )
        return [dict(row._mapping) for row in rows]


async def settled(runtime: Runtime, recipient: str) -> dict[str, Any]:
    """The row of the message to ``recipient`` once the worker is done with it."""
    for _ in range(200):
        rows = [r for r in await mail_rows(runtime) if r["recipient"] == recipient]
        if rows and rows[0]["status"] in {"sent", "failed"}:
            return rows[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"the message to {recipient} was not settled: {rows}")


async def test_an_invitation_goes_out_once_over_smtp_in_the_members_locale(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Tenant,
    smtp_on: SmtpServer,
) -> None:
    await invite(client, tenant_a, "claire@client.example", locale="en")
    [received] = smtp_on.handler.to("claire@client.example")
    message = received.message
    assert received.login == USERNAME
    assert message["To"] == "claire@client.example"
    assert message["From"] == "Agence Durand <no-reply@agence-durand.example>"
    assert message["Subject"] == "Alpha invites you to the Maison Dupont space"
    body = message.get_content()
    assert body.startswith("Hello Claire Martin,")
    token = link_in(body)
    row = await settled(runtime, "claire@client.example")
    assert (row["status"], row["attempts"]) == ("sent", 1)
    # The body is sealed at rest: the link's secret is nowhere in the table.
    assert token.split(".")[1] not in row["body"] and "Claire" not in row["body"]


async def test_french_is_the_default_locale(
    client: httpx.AsyncClient, tenant_a: Tenant, smtp_on: SmtpServer
) -> None:
    await invite(client, tenant_a, "paul@client.example")
    [received] = smtp_on.handler.to("paul@client.example")
    assert received.message["Subject"] == "Alpha vous invite sur l'espace de Maison Dupont"
    assert received.message.get_content().startswith("Bonjour Claire Martin,")


async def test_nothing_is_sent_for_a_request_that_failed(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Tenant,
    smtp_on: SmtpServer,
) -> None:
    brand = await invite(client, tenant_a, "twice@client.example")
    again = await client.post(
        f"/brands/{brand}/client-members",
        json={"name": "C", "email": "twice@client.example", "reporting_line": "marketing"},
        headers=tenant_a.headers,
    )
    assert_problem(again, 409)
    # One worker thread sends in order: once the next message is in, the 409's would be too.
    await add_client_member(client, tenant_a, brand, "after@client.example")
    assert smtp_on.handler.to("after@client.example")
    assert len(smtp_on.handler.to("twice@client.example")) == 1
    assert (
        len([r for r in await mail_rows(runtime) if r["recipient"] == "twice@client.example"]) == 1
    )


async def test_a_refused_recipient_fails_without_retrying(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Tenant,
    smtp_on: SmtpServer,
) -> None:
    await invite(client, tenant_a, "nobody@refused.example")
    row = await settled(runtime, "nobody@refused.example")
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "No such user here" in row["last_error"]


async def test_an_unreachable_server_leaves_the_message_pending_for_a_retry(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Tenant,
    smtp: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    down = smtp_settings(smtp, smtp_port=free_port())
    monkeypatch.setattr(runtime.settings, "mail", down)
    await invite(client, tenant_a, "later@client.example")
    for _ in range(200):
        rows = await mail_rows(runtime)
        if rows and rows[0]["attempts"] == 1 and rows[0]["status"] == "pending":
            break
        await asyncio.sleep(0.05)
    assert rows[0]["status"] == "pending", rows
    assert "Connection refused" in rows[0]["last_error"] or "Errno" in rows[0]["last_error"]


async def test_without_smtp_messages_land_in_the_outbox(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Tenant,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(runtime.settings, "mail", MailSettings(outbox_path=str(tmp_path)))
    await invite(client, tenant_a, "outbox@client.example")
    assert (await settled(runtime, "outbox@client.example"))["status"] == "sent"
    [message] = await asyncio.to_thread(read_outbox, tmp_path)
    assert message["To"] == "outbox@client.example"
    assert "http://127.0.0.1:8000/sign-in#token=agm_" in message.get_body().get_content()


# -- STARTTLS, retries, the outbox through the API -------------------------------------------


@pytest.fixture(scope="module")
def smtp_tls() -> Iterator[SmtpServer]:
    with SmtpServer(starttls=True) as server:
        yield server


async def test_starttls_and_a_login_carry_the_message(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Tenant,
    smtp_tls: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server demands STARTTLS before AUTH; its certificate is checked against the
    authority file the settings name."""
    smtp_tls.handler.reset()
    monkeypatch.setattr(runtime.settings, "mail", smtp_settings(smtp_tls))
    await invite(client, tenant_a, "tls@client.example")
    [received] = smtp_tls.handler.to("tls@client.example")
    assert received.login == USERNAME
    assert (await settled(runtime, "tls@client.example"))["status"] == "sent"


async def test_a_certificate_not_trusted_is_not_sent_to(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Tenant,
    smtp_tls: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    smtp_tls.handler.reset()
    monkeypatch.setattr(runtime.settings, "mail", smtp_settings(smtp_tls, smtp_ca_file=None))
    await invite(client, tenant_a, "untrusted@client.example")
    row = await until_row(runtime, "untrusted@client.example", retrying)
    assert "CERTIFICATE_VERIFY_FAILED" in row["last_error"]
    assert smtp_tls.handler.received == []


def retrying(row: dict[str, Any]) -> bool:
    return bool(row["attempts"] == 1 and row["status"] == "pending")


async def until_row(
    runtime: Runtime, recipient: str, done: Callable[[dict[str, Any]], bool], ticks: bool = False
) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for _ in range(200):
        if ticks:
            await tick(runtime)
        rows = [r for r in await mail_rows(runtime) if r["recipient"] == recipient]
        if rows and done(rows[0]):
            return rows[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"the message to {recipient} did not get there: {rows}")


async def test_a_server_putting_off_then_accepting_gets_the_message_once(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Tenant,
    smtp_on: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """451 twice (greylisting): retried by the scheduler after the configured waits."""
    monkeypatch.setattr(
        runtime.settings, "mail", smtp_settings(smtp_on, retry_delays_seconds=[0.1, 0.1, 0.1])
    )
    smtp_on.handler.answers.extend(["451 4.7.1 Greylisted, try later"] * 2)
    await invite(client, tenant_a, "grey@client.example")
    first = await until_row(runtime, "grey@client.example", lambda r: r["last_error"] is not None)
    assert first["status"] == "pending" and "Greylisted" in first["last_error"]
    row = await until_row(runtime, "grey@client.example", lambda r: r["status"] == "sent", True)
    assert row["attempts"] == 3
    assert len(smtp_on.handler.to("grey@client.example")) == 1
    assert smtp_on.handler.data_commands == 3


async def test_a_message_refused_at_data_fails_at_once(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant, smtp_on: SmtpServer
) -> None:
    smtp_on.handler.answers.append("554 5.7.1 Message rejected as spam")
    await invite(client, tenant_a, "spam@client.example")
    row = await settled(runtime, "spam@client.example")
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "rejected as spam" in row["last_error"]
    for _ in range(3):
        await tick(runtime)
    assert smtp_on.handler.data_commands == 1


async def test_retries_stop_after_the_last_wait(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Tenant,
    smtp_on: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    quick = smtp_settings(smtp_on, retry_delays_seconds=[0.1])
    monkeypatch.setattr(runtime.settings, "mail", quick)
    smtp_on.handler.answers.extend(["421 4.3.2 Busy"] * 5)
    await invite(client, tenant_a, "busy@client.example")
    row = await until_row(runtime, "busy@client.example", lambda r: r["status"] == "failed", True)
    assert row["attempts"] == 2 and "Given up after 2 attempts" in row["last_error"]


async def test_the_outbox_is_listed_through_the_api(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Tenant,
    tenant_b: Tenant,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(runtime.settings, "mail", MailSettings(outbox_path=str(tmp_path)))
    await invite(client, tenant_a, "listed@client.example", locale="en")
    await settled(runtime, "listed@client.example")
    listed = await client.get("/mail/messages", headers=tenant_a.headers)
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["items"]
    assert item["recipient"] == "listed@client.example"
    assert (item["status"], item["route"]) == ("sent", "outbox")
    assert item["template"] == "client_invitation"
    assert item["outbox_file"] and (tmp_path / item["outbox_file"]).exists()
    assert "body" not in item
    one = await client.get(f"/mail/messages/{item['id']}", headers=tenant_a.headers)
    assert one.json() == item
    eml = await client.get(f"/mail/messages/{item['id']}/eml", headers=tenant_a.headers)
    assert eml.status_code == 200 and eml.headers["content-type"] == "message/rfc822"
    assert eml.content == (tmp_path / item["outbox_file"]).read_bytes()
    parsed = message_from_bytes(eml.content, policy=policy.default)
    assert parsed["To"] == "listed@client.example"
    filtered = await client.get(
        "/mail/messages", params={"status": "failed"}, headers=tenant_a.headers
    )
    assert filtered.json()["items"] == []
    # Another agency sees none of it.
    assert (await client.get("/mail/messages", headers=tenant_b.headers)).json()["items"] == []
    assert_problem(
        await client.get(f"/mail/messages/{item['id']}/eml", headers=tenant_b.headers), 404
    )


async def test_a_message_sent_by_smtp_has_no_outbox_file(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant, smtp_on: SmtpServer
) -> None:
    await invite(client, tenant_a, "smtp@client.example")
    await settled(runtime, "smtp@client.example")
    [item] = (await client.get("/mail/messages", headers=tenant_a.headers)).json()["items"]
    assert (item["route"], item["outbox_file"]) == ("smtp", None)
    eml = await client.get(f"/mail/messages/{item['id']}/eml", headers=tenant_a.headers)
    assert_problem(eml, 404, "not in the outbox")


async def test_a_lost_message_is_sent_by_the_scheduler_once_its_lease_is_over(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Tenant,
    smtp_on: SmtpServer,
) -> None:
    """The job's message never reached a worker (broker lost it): the row still says
    pending, and the scheduler enqueues it when its lease ends."""
    async with runtime.session() as session:
        await bind_system(session)
        brand = await create_brand(client, tenant_a, "perdu")
        await session.commit()
    with jobs_dropped(runtime, "mail.send"):
        await add_client_member(client, tenant_a, brand, "lost@client.example")
    row = (await mail_rows(runtime))[0]
    assert (row["status"], row["attempts"]) == ("pending", 0)
    assert await tick(runtime, utcnow()) == 0  # leased: not due yet
    assert await tick(runtime, utcnow() + timedelta(minutes=6)) >= 1
    assert (await settled(runtime, "lost@client.example"))["status"] == "sent"
    assert len(smtp_on.handler.to("lost@client.example")) == 1
