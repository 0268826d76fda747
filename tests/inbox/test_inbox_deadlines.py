"""Inbox deadlines as the scheduler and a real worker run them, on a clock the test moves: a
warning shortly before a message's answer deadline and an alert once it passed, each once, by
``inbox.deadline_near`` / ``inbox.deadline_breached`` and by e-mail over real SMTP (to the
assignee, else the agency's answering team, in their language); nothing for an answered
message, nothing across agencies."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dramatiq
import httpx
import pytest
from sqlalchemy import text, update

from agency.inbox.models import Message, Thread
from agency.kernel.runtime import Runtime
from agency.kernel.scheduling import tick
from agency.kernel.tenancy import bind_system
from agency.member.models import User
from tests.conftest import Tenant
from tests.helpers import create_brand, insert_channel, invite_and_join, webhook_events
from tests.support.publishing import running_worker
from tests.support.smtp import Received, SmtpServer

LEAD = 15  # minutes: the default warning lead


@pytest.fixture
def mail_worker(runtime: Runtime) -> Iterator[dramatiq.Worker]:
    with running_worker(runtime, {"default", "mail"}) as consumer:
        yield consumer


async def subscribe(client: httpx.AsyncClient, tenant: Tenant) -> None:
    subscribed = await client.post(
        "/webhooks",
        json={
            "url": "https://hooks.example.com/inbox",
            "event_types": ["inbox.deadline_near", "inbox.deadline_breached"],
        },
        headers=tenant.headers,
    )
    assert subscribed.status_code == 201, subscribed.text


async def message(
    runtime: Runtime,
    tenant: Tenant,
    brand: str,
    due_at: datetime,
    *,
    status: str = "new",
    assigned_to: str | None = None,
    origin: str = "journalist",
) -> uuid.UUID:
    """A collected comment waiting for an answer by ``due_at``, written straight to the
    database (collection itself is tested in test_inbox.py)."""
    channel = uuid.UUID(await insert_channel(runtime, tenant.agency_id, brand, "talknet"))
    async with runtime.session() as session:
        await bind_system(session)
        thread = Thread(
            agency_id=tenant.agency_id,
            brand_id=uuid.UUID(brand),
            channel_id=channel,
            network="talknet",
            post_id=f"post-{uuid.uuid4()}",
        )
        session.add(thread)
        await session.flush()
        row = Message(
            agency_id=tenant.agency_id,
            brand_id=uuid.UUID(brand),
            channel_id=channel,
            thread_id=thread.id,
            network="talknet",
            network_id=f"c-{uuid.uuid4()}",
            author_id="presse_ouest",
            author_name="Presse Ouest",
            text="Une interview sur la nouvelle collection ?",
            received_at=due_at - timedelta(minutes=30),
            origin=origin,
            origin_why="Listed handle.",
            kind="question",
            kind_why="A question mark.",
            status=status,
            assigned_to=uuid.UUID(assigned_to) if assigned_to else None,
            due_at=due_at,
        )
        session.add(row)
        await session.commit()
        return row.id


async def deliveries(runtime: Runtime, kind: str) -> int:
    async with runtime.session() as session:
        await bind_system(session)
        found = await session.execute(
            text("SELECT count(*) FROM webhook_deliveries WHERE event_type = :t"), {"t": kind}
        )
        return int(found.scalar_one())


async def mailed(smtp: SmtpServer, address: str, prefix: str, count: int = 1) -> list[Received]:
    """The messages to ``address`` whose subject starts with ``prefix``, waiting up to ten
    seconds for ``count`` of them (then a moment more, for any extra one)."""
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        found = [r for r in smtp.handler.to(address) if r.message["Subject"].startswith(prefix)]
        if len(found) >= count or asyncio.get_running_loop().time() > deadline:
            await asyncio.sleep(0.3)
            return [r for r in smtp.handler.to(address) if r.message["Subject"].startswith(prefix)]
        await asyncio.sleep(0.1)


async def english(runtime: Runtime, user_id: str) -> None:
    async with runtime.session() as session:
        await bind_system(session)
        await session.execute(update(User).where(User.id == uuid.UUID(user_id)).values(locale="en"))
        await session.commit()


async def test_a_warning_then_a_breach_once_each_to_the_assignee(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Tenant,
    smtp_on: SmtpServer,
    mail_worker: dramatiq.Worker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No frontend configured: the e-mails lead to the API's public URL.
    monkeypatch.setattr(runtime.settings.mail, "frontend_url", None)
    brand = await create_brand(client, tenant_a, "maison", name="Maison")
    await subscribe(client, tenant_a)
    cm = await invite_and_join(
        client, tenant_a, "cm@alpha.example", "community_manager", "Camille", smtp=smtp_on
    )
    await english(runtime, cm["user_id"])
    await invite_and_join(
        client, tenant_a, "manager@alpha.example", "manager", "Marie", smtp=smtp_on
    )
    now = datetime.now(UTC)
    due = now + timedelta(minutes=LEAD + 5)
    sent = await message(runtime, tenant_a, brand, due, assigned_to=cm["user_id"])

    # Before the lead: nothing.
    await tick(runtime, now)
    assert await webhook_events(runtime, "inbox.deadline_near") == []
    # Within the lead: one warning, by webhook and by e-mail to the assignee (in English).
    await tick(runtime, due - timedelta(minutes=10))
    [warning] = await mailed(smtp_on, "cm@alpha.example", "Answer soon")
    assert "talknet (Maison), due in 10 min" in warning.message["Subject"]
    body = warning.message.get_content()
    assert "Une interview sur la nouvelle collection ?" in body
    # The link leads to the message.
    public = runtime.settings.server.public_url.rstrip("/")
    assert f"To read and answer it: {public}/inbox/messages/{sent}\r\n" in body
    shown = await client.get(f"/inbox/messages/{sent}", headers=tenant_a.headers)
    assert shown.status_code == 200 and shown.json()["id"] == str(sent)
    [near] = await webhook_events(runtime, "inbox.deadline_near")
    assert (near["message_id"], near["brand_id"], near["network"], near["origin"]) == (
        str(sent),
        brand,
        "talknet",
        "journalist",
    )
    assert near["minutes_left"] == 10 and near["assigned_to"] == cm["user_id"]
    assert datetime.fromisoformat(near["due_at"]) == due
    assert await deliveries(runtime, "inbox.deadline_near") == 1
    # A second pass, still within the lead: nothing more.
    await tick(runtime, due - timedelta(minutes=5))
    assert len(await mailed(smtp_on, "cm@alpha.example", "Answer soon", 2)) == 1
    assert len(await webhook_events(runtime, "inbox.deadline_near")) == 1

    # Past the deadline: one alert; then nothing more however long it waits.
    await tick(runtime, due + timedelta(minutes=7))
    [alert] = await mailed(smtp_on, "cm@alpha.example", "Deadline passed")
    assert "Presse Ouest on talknet (Maison) waits for an answer" in alert.message["Subject"]
    assert "7 minutes ago" in alert.message.get_content()
    assert f"{public}/inbox/messages/{sent}\r\n" in alert.message.get_content()
    [breached] = await webhook_events(runtime, "inbox.deadline_breached")
    assert (breached["message_id"], breached["thread_id"]) == (str(sent), near["thread_id"])
    assert breached["minutes_late"] == 7
    assert await deliveries(runtime, "inbox.deadline_breached") == 1
    await tick(runtime, due + timedelta(minutes=9))
    assert len(await mailed(smtp_on, "cm@alpha.example", "Deadline passed", 2)) == 1
    assert len(await webhook_events(runtime, "inbox.deadline_breached")) == 1
    # The manager was never told: the message has an assignee.
    assert await mailed(smtp_on, "manager@alpha.example", "", 0) == []


async def test_unassigned_goes_to_the_team_answered_to_nobody_other_agency_apart(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Tenant,
    tenant_b: Tenant,
    smtp_on: SmtpServer,
    mail_worker: dramatiq.Worker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With a frontend configured, the e-mails lead there, as approval e-mails do.
    monkeypatch.setattr(runtime.settings.mail, "frontend_url", "https://app.example.com/")
    brand = await create_brand(client, tenant_a, "maison", name="Maison")
    other = await create_brand(client, tenant_b, "autre", name="Autre")
    await subscribe(client, tenant_a)
    await subscribe(client, tenant_b)
    for email, role in (
        ("cm@alpha.example", "community_manager"),
        ("manager@alpha.example", "manager"),
        ("analyst@alpha.example", "analyst"),
    ):
        await invite_and_join(client, tenant_a, email, role, smtp=smtp_on)
    await invite_and_join(client, tenant_b, "cm@bravo.example", "community_manager", smtp=smtp_on)
    now = datetime.now(UTC)
    due = now + timedelta(minutes=30)
    waiting = await message(runtime, tenant_a, brand, due)
    await message(runtime, tenant_a, brand, due, status="answered")
    await message(runtime, tenant_a, brand, due, status="closed")
    elsewhere = await message(runtime, tenant_b, other, due + timedelta(hours=3))

    await tick(runtime, due + timedelta(minutes=1))
    # Past its deadline when first seen: the alert only, in French (the brand's language),
    # to the agency's managers and community managers, not its analysts.
    for address in ("cm@alpha.example", "manager@alpha.example"):
        [alert] = await mailed(smtp_on, address, "Échéance dépassée")
        assert "(Maison) attend une réponse" in alert.message["Subject"]
        link = f"y répondre : https://app.example.com/inbox/messages/{waiting}\r\n"
        assert link in alert.message.get_content()
    assert await mailed(smtp_on, "analyst@alpha.example", "Échéance", 0) == []
    assert await webhook_events(runtime, "inbox.deadline_near") == []
    [breached] = await webhook_events(runtime, "inbox.deadline_breached")
    assert breached["message_id"] == str(waiting) and breached["assigned_to"] is None
    # Another agency's message, not due yet: nothing reached this agency's people from it,
    # nor that agency's from this one.
    assert await mailed(smtp_on, "cm@bravo.example", "Échéance", 0) == []

    await tick(runtime, due + timedelta(hours=3) - timedelta(minutes=LEAD - 1))
    [near] = await mailed(smtp_on, "cm@bravo.example", "À répondre bientôt")
    assert "(Autre)" in near.message["Subject"]
    events_near = await webhook_events(runtime, "inbox.deadline_near")
    assert [e["message_id"] for e in events_near] == [str(elsewhere)]
    async with runtime.session() as session:
        await bind_system(session)
        agencies = await session.execute(
            text(
                "SELECT e.agency_id, d.agency_id FROM webhook_events e "
                "JOIN webhook_deliveries d ON d.event_id = e.id "
                "JOIN webhook_subscriptions s ON s.id = d.subscription_id "
                "WHERE e.type LIKE 'inbox.%' ORDER BY e.created_at"
            )
        )
        assert [tuple(r) for r in agencies] == [
            (tenant_a.agency_id, tenant_a.agency_id),
            (tenant_b.agency_id, tenant_b.agency_id),
        ]
    # Each agency's people heard of their own messages only, once.
    assert len(await mailed(smtp_on, "cm@alpha.example", "", 2)) == 1  # the invitation was taken
    assert len(await mailed(smtp_on, "cm@bravo.example", "À répondre bientôt", 2)) == 1
