"""The audit list's answer, byte for byte: its body and its headers, in their order.

The list is the busiest read and its path is tuned (statements on the driver, one rate-limit
layer, its own response encoding); whatever the tuning, a client must get exactly what it got
before. The expected bytes were taken from the answer before that tuning."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from agency.audit.models import AuditEvent
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import bind_tenant
from tests.conftest import Tenant

# Ids newer than any the tests make (the first 48 bits are milliseconds, in year 2286), so
# these are the newest three of the agency's log.
EVENTS: list[dict[str, Any]] = [
    {
        "id": uuid.UUID("09990000-0000-7000-8000-000000000003"),
        "actor_type": "user",
        "actor_id": uuid.UUID("0190f0aa-0000-7000-8000-0000000000a1"),
        "action": "brand.updated",
        "object_type": "brand",
        "object_id": uuid.UUID("0190f0aa-0000-7000-8000-0000000000b1"),
        "changes": {
            "name": ["Maison", "Maison Été ✓"],
            "note": 'a "quoted" line\nand a tab\t',
            "count": 3,
            "ratio": 0.5,
            "large": 1e300,
            "nested": {"none": None, "flags": [True, False], "empty": {}},
        },
        "created_at": datetime(2026, 12, 1, 8, 30, 0, 123456, tzinfo=UTC),
    },
    {
        "id": uuid.UUID("09990000-0000-7000-8000-000000000002"),
        "actor_type": "api_token",
        "actor_id": uuid.UUID("0190f0aa-0000-7000-8000-0000000000a2"),
        "action": "publication.scheduled",
        "object_type": "publication",
        "object_id": None,
        "changes": {},
        "created_at": datetime(2026, 12, 1, 8, 30, tzinfo=UTC),
    },
    {
        "id": uuid.UUID("09990000-0000-7000-8000-000000000001"),
        "actor_type": "system",
        "actor_id": None,
        "action": "channel.reconnect_needed",
        "object_type": "channel",
        "object_id": uuid.UUID("0190f0aa-0000-7000-8000-0000000000b3"),
        "changes": {"reason": "token expired", "retries": [1, 2, 3]},
        "created_at": datetime(2026, 11, 30, 23, 59, 59, 1000, tzinfo=UTC),
    },
]

BODY = (
    '{"items":[{"id":"09990000-0000-7000-8000-000000000003","actor_type":"user",'
    '"actor_id":"0190f0aa-0000-7000-8000-0000000000a1","action":"brand.updated",'
    '"object_type":"brand","object_id":"0190f0aa-0000-7000-8000-0000000000b1",'
    '"changes":{"name":["Maison","Maison Été ✓"],"note":"a \\"quoted\\" line\\nand a tab\\t",'
    '"count":3,"ratio":0.5,"large":1e300,"nested":{"none":null,"flags":[true,false],'
    '"empty":{}}},"created_at":"2026-12-01T08:30:00.123456Z"},'
    '{"id":"09990000-0000-7000-8000-000000000002","actor_type":"api_token",'
    '"actor_id":"0190f0aa-0000-7000-8000-0000000000a2","action":"publication.scheduled",'
    '"object_type":"publication","object_id":null,"changes":{},'
    '"created_at":"2026-12-01T08:30:00Z"},'
    '{"id":"09990000-0000-7000-8000-000000000001","actor_type":"system","actor_id":null,'
    '"action":"channel.reconnect_needed","object_type":"channel",'
    '"object_id":"0190f0aa-0000-7000-8000-0000000000b3","changes":{"reason":"token expired",'
    '"retries":[1,2,3]},"created_at":"2026-11-30T23:59:59.001000Z"}],'
    '"next_cursor":"CZkAAAAAcACAAAAAAAAAAQ"}'
).encode()


async def _record(runtime: Runtime, tenant: Tenant) -> None:
    async with runtime.session() as session:
        await bind_tenant(session, tenant.agency_id)
        session.add_all(AuditEvent(agency_id=tenant.agency_id, **event) for event in EVENTS)
        await session.commit()


async def test_the_list_answers_the_same_bytes(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
) -> None:
    await _record(runtime, tenant_a)
    headers = {**tenant_a.headers, "X-Request-ID": "audit-bytes"}
    # The first request authenticates through the credential; the second, the process keeping
    # the credential, through the binding alone: both paths answer the same.
    for used in (1, 2):
        answer = await client.get("/audit-events", params={"limit": 3}, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.content == BODY
        sent = [(name.decode(), value.decode()) for name, value in answer.headers.raw]
        reset = dict(sent)["ratelimit-reset"]
        assert 0 < int(reset) <= 60
        assert sent == [
            ("content-type", "application/json"),
            ("content-length", str(len(BODY))),
            ("etag", 'W/"-aVZfjq8umUK3eG_NsXWZg"'),
            ("ratelimit-policy", "100000; w=60"),
            ("ratelimit-limit", "100000"),
            ("ratelimit-remaining", str(100000 - used)),
            ("ratelimit-reset", reset),
            ("x-request-id", "audit-bytes"),
        ]


async def test_a_last_page_answers_the_same_bytes(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
) -> None:
    await _record(runtime, tenant_a)
    answer = await client.get(
        "/audit-events", params={"object_type": "channel"}, headers=tenant_a.headers
    )
    assert answer.status_code == 200, answer.text
    last = BODY[BODY.index(b'{"id":"09990000-0000-7000-8000-000000000001"') :]
    assert answer.content == b'{"items":[' + last.replace(b'"CZkAAAAAcACAAAAAAAAAAQ"', b"null")
    assert answer.headers["etag"] == 'W/"telhwhaw0OPYE5yWYx_GDw"'
