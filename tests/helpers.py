"""Small helpers shared by API tests."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import text

from agency.auth.service import SessionLife, start_client_session
from agency.channel.credentials import seal
from agency.channel.models import Channel, Connection, ConnectLink
from agency.connector.base import Credentials
from agency.inbox.models import Answer, Message, SavedReply, Thread
from agency.kernel.db import utcnow
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import bind_system, bind_tenant
from agency.media.models import MediaAsset
from tests.conftest import PASSWORD, Tenant


def assert_problem(response: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status, mentioning ``words``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert "type" in body
    text = response.text.lower()
    for word in words:
        assert word.lower() in text, f"{word!r} not in {response.text}"
    assert "traceback" not in text
    return body


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    response = await client.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def create_brand(
    client: httpx.AsyncClient,
    tenant: Tenant,
    slug: str = "dupont",
    *,
    name: str | None = None,
    timezone: str = "Europe/Paris",
    **fields: Any,
) -> str:
    """``POST /brands`` as the tenant's owner; the new brand's id. The name is the slug's,
    titled, unless given."""
    body = {"name": name or slug.title(), "slug": slug, "timezone": timezone, **fields}
    response = await client.post("/brands", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    brand_id: str = response.json()["id"]
    return brand_id


async def invite_and_join(
    client: httpx.AsyncClient,
    tenant: Tenant,
    email: str,
    role: str,
    name: str = "Invitee",
    smtp: Any = None,
) -> dict[str, Any]:
    """Invite ``email`` into ``tenant`` and accept; returns the new session answer. With an
    SMTP server configured the token is only in the invitee's mailbox: pass ``smtp``, the
    test server, and it is read (and that e-mail taken out) there."""
    invited = await client.post(
        "/invitations", json={"email": email, "role": role}, headers=tenant.headers
    )
    assert invited.status_code == 201, invited.text
    token = invited.json()["token"]
    if token is None:
        assert smtp is not None, "an SMTP server is configured: pass smtp= to read the e-mail"
        token = smtp.handler.take_link(email, "/accept-invitation#token=")
    accepted = await client.post(
        "/invitations/accept",
        json={"token": token, "password": PASSWORD, "name": name},
    )
    assert accepted.status_code == 201, accepted.text
    body: dict[str, Any] = accepted.json()
    return body


async def insert_channel_objects(
    runtime: Any, agency_id: Any, brand_id: str, network: str = "matrix"
) -> dict[str, str]:
    """A channel, a connection and a connect link of ``brand_id``, written straight to the
    database (as if a network had granted access), for tests that need them to exist."""
    brand = uuid.UUID(brand_id)
    now = utcnow()
    channel = Channel(
        agency_id=agency_id,
        brand_id=brand,
        network=network,
        account_id=f"acct-{uuid.uuid4().hex[:8]}",
        account_kind="user",
        name="Matrix account",
        scopes=["read"],
        connected_at=now,
        credentials=seal(runtime.secrets, Credentials(access_token="matrix-secret-token")),
    )
    connection = Connection(
        agency_id=agency_id, brand_id=brand, network=network, expires_at=now + timedelta(hours=1)
    )
    link = ConnectLink(
        agency_id=agency_id,
        brand_id=brand,
        network=network,
        secret_hash="0" * 64,
        expires_at=now + timedelta(hours=1),
    )
    async with runtime.session() as session:
        await bind_tenant(session, agency_id)
        session.add_all([channel, connection, link])
        await session.commit()
        return {"channel": str(channel.id), "connection": str(connection.id), "link": str(link.id)}


async def insert_inbox_objects(
    runtime: Any, agency_id: Any, brand_id: str, channel_id: str
) -> dict[str, str]:
    """A thread, a message, an answer held by the crisis and a saved reply, as collection
    and a request would have written them."""
    brand, channel, now = uuid.UUID(brand_id), uuid.UUID(channel_id), utcnow()
    async with runtime.session() as session:
        await bind_tenant(session, agency_id)
        thread = Thread(
            agency_id=agency_id, brand_id=brand, channel_id=channel, network="matrix", post_id="p1"
        )
        session.add(thread)
        await session.flush()
        message = Message(
            agency_id=agency_id,
            brand_id=brand,
            channel_id=channel,
            thread_id=thread.id,
            network="matrix",
            network_id="c1",
            text="B message",
            received_at=now,
            origin="unknown",
            origin_why="-",
            kind="other",
            kind_why="-",
        )
        session.add(message)
        await session.flush()
        answer = Answer(
            agency_id=agency_id,
            message_id=message.id,
            brand_id=brand,
            channel_id=channel,
            text="B answer",
            status="held",
            author_kind="user",
            idempotency_key=f"agency-answer-{message.id}",
        )
        saved = SavedReply(agency_id=agency_id, brand_id=brand, name="B", text="B reply")
        session.add_all([answer, saved])
        await session.commit()
        return {
            "inbox_thread": str(thread.id),
            "inbox_message": str(message.id),
            "inbox_answer": str(answer.id),
            "saved_reply": str(saved.id),
        }


async def insert_channel(
    runtime: Any, agency_id: Any, brand_id: str, network: str, token: str = "tok", **fields: Any
) -> str:
    """A connected channel written straight to the database (no network to connect to)."""
    channel = Channel(
        agency_id=agency_id,
        brand_id=uuid.UUID(brand_id),
        network=network,
        account_id=f"acct-{uuid.uuid4().hex[:8]}",
        account_kind="user",
        name=f"{network} account",
        scopes=["write"],
        connected_at=utcnow(),
        credentials=seal(runtime.secrets, Credentials(access_token=token)),
        **fields,
    )
    async with runtime.session() as session:
        await bind_tenant(session, agency_id)
        session.add(channel)
        await session.commit()
    return str(channel.id)


async def add_client_member(
    client: httpx.AsyncClient,
    tenant: Tenant,
    brand_id: str,
    email: str,
    permissions: list[str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Give ``email`` a place on a brand through the API; returns the client member."""
    body = {
        "name": fields.pop("name", "Claire Client"),
        "email": email,
        "reporting_line": fields.pop("reporting_line", "marketing"),
        "permissions": permissions if permissions is not None else ["calendar:read"],
        **fields,
    }
    created = await client.post(
        f"/brands/{brand_id}/client-members", json=body, headers=tenant.headers
    )
    assert created.status_code == 201, created.text
    member: dict[str, Any] = created.json()
    return member


async def client_session(runtime: Any, agency_id: Any, user_id: Any) -> str:
    """A client member's session token, as a sign-in would open it."""
    async with runtime.session() as session:
        life = SessionLife(timedelta(hours=1), timedelta(hours=1))
        issued, _ = await start_client_session(session, agency_id, uuid.UUID(str(user_id)), life)
        await session.commit()
        return issued.token


async def webhook_events(runtime: Any, kind: str) -> list[dict[str, Any]]:
    """The ``data`` of every webhook event of type ``kind`` recorded, oldest first."""
    async with runtime.session() as session:
        await bind_system(session)
        rows = await session.execute(
            text("SELECT body FROM webhook_events WHERE type = :t ORDER BY created_at"), {"t": kind}
        )
        return [json.loads(body)["data"] for (body,) in rows]


async def post_json(
    client: httpx.AsyncClient, tenant: Tenant, path: str, body: Any, status: int = 201
) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=tenant.headers)
    assert response.status_code == status, response.text
    found: dict[str, Any] = response.json()
    return found


async def insert_media(runtime: Runtime, agency_id: uuid.UUID, brand_id: str) -> str:
    """A media row (its file is never read: every route must stop at the tenant lookup)."""
    async with runtime.session() as session:
        await bind_tenant(session, agency_id)
        media = MediaAsset(
            agency_id=agency_id,
            brand_id=uuid.UUID(brand_id),
            kind="image",
            mime_type="image/png",
            size_bytes=1,
            sha256="0" * 64,
            storage_key=f"{agency_id}/{brand_id}/{uuid.uuid4()}",
        )
        session.add(media)
        await session.commit()
        return str(media.id)
