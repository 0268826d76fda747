"""Outgoing e-mail through a real SMTP server: rendered per locale, sealed at rest, sent by a
worker after the commit and once; with no SMTP server, written to the outbox folder."""

from __future__ import annotations

import asyncio
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from agency.config import MailSettings
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import bind_system
from tests.conftest import Tenant
from tests.helpers import add_client_member, assert_problem
from tests.support.connect_flow import create_brand
from tests.support.servers import free_port
from tests.support.smtp import USERNAME, SmtpServer, link_in, smtp_settings


async def invite(client: httpx.AsyncClient, tenant: Tenant, email: str, **fields: Any) -> str:
    brand = await create_brand(client, tenant, "maison")
    await add_client_member(client, tenant, brand, email, name="Claire Martin", **fields)
    return brand


pytestmark = pytest.mark.usefixtures("mail_worker")


def read_outbox(folder: Path) -> list[EmailMessage]:
    return [
        message_from_bytes(eml.read_bytes(), policy=policy.default)  # type: ignore[misc]
        for eml in folder.glob("*.eml")
    ]


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
