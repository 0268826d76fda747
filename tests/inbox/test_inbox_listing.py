"""The inbox list read as driver rows (``MessageRepository.listed``'s hot read) gives exactly
what the statement through the session gives (the path of a client member's brand wall):
every filter, both orders, and keyset pages walked to the end, on real PostgreSQL."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta
from typing import Any

import httpx

from agency.inbox.models import Thread
from agency.inbox.repository import MessageRepository
from agency.inbox.schemas import MessageFilter
from agency.kernel.db import utcnow
from agency.kernel.pagination import PageRequest, decode_cursor
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import Subject, bind_tenant, template_fits
from tests.conftest import Tenant
from tests.helpers import create_brand, insert_channel

STATUSES = ("new", "assigned", "waiting", "answered", "closed")
ORIGINS = ("customer", "journalist", "troll")
KINDS = ("question", "complaint", "spam")


async def seed(runtime: Runtime, tenant: Tenant, brands: list[str]) -> tuple[str, str, uuid.UUID]:
    """Two brands' messages of every status, origin and type, some late, some without
    deadline, one deleted: (brand, channel, assignee) of the first."""
    now = utcnow()
    assignee = tenant.owner_id
    channel = ""
    subject = Subject(agency_id=tenant.agency_id, kind="system")
    for b, brand in enumerate(brands):
        channel_id = await insert_channel(runtime, tenant.agency_id, brand, "talknet")
        channel = channel if b else channel_id
        async with runtime.session() as session:
            await bind_tenant(session, tenant.agency_id)
            thread = Thread(
                agency_id=tenant.agency_id,
                brand_id=uuid.UUID(brand),
                channel_id=uuid.UUID(channel_id),
                network="talknet",
                post_id=f"post-{b}",
            )
            session.add(thread)
            await session.flush()
            rows: list[dict[str, Any]] = []
            for i in range(40):
                status = STATUSES[i % 5]
                # Several share a deadline: the id breaks the tie in the keyset.
                due = None if i % 7 == 0 else now + timedelta(minutes=(i % 11) * 10 - 50)
                rows.append(
                    {
                        "brand_id": uuid.UUID(brand),
                        "channel_id": uuid.UUID(channel_id),
                        "thread_id": thread.id,
                        "network": "talknet",
                        "network_id": f"c-{b}-{i}",
                        "text": f"message {b}-{i}",
                        "received_at": now - timedelta(minutes=i),
                        "origin": ORIGINS[i % 3],
                        "origin_why": "test",
                        "kind": KINDS[i % 3 if i % 4 else 0],
                        "kind_why": "test",
                        "status": status,
                        "assigned_to": assignee if status == "assigned" else None,
                        "due_at": due,
                        "deleted_at": now if i == 13 else None,
                        "moderation": {"action": "hide", "clause": 1} if i == 5 else None,
                    }
                )
            await MessageRepository(session, subject).insert_new(rows)
            await session.commit()
    return brands[0], channel, assignee


async def walk(
    runtime: Runtime, subject: Subject, where: MessageFilter, by_due: bool, limit: int
) -> list[tuple[Any, ...]]:
    """Every page to the end, following the cursors: the rows in order."""
    seen: list[tuple[Any, ...]] = []
    after = None
    now = utcnow()
    for _ in range(100):
        async with runtime.session() as session:
            await bind_tenant(session, subject.agency_id)
            rows, cursor = await MessageRepository(session, subject).listed(
                PageRequest(after_id=after, limit=limit), where, by_due=by_due, now=now
            )
        seen += [tuple(row) for row in rows]
        if cursor is None:
            return seen
        after = decode_cursor(cursor)
    raise AssertionError("the pages never ended")


async def test_hot_read_lists_as_the_session_does(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
) -> None:
    brands = [await create_brand(client, tenant_a, f"list{i}") for i in range(2)]
    brand, channel, assignee = await seed(runtime, tenant_a, brands)
    hot = Subject(agency_id=tenant_a.agency_id, kind="system")
    # A wall over every brand of the agency: the same messages, read through the session.
    walled = Subject(
        agency_id=tenant_a.agency_id,
        kind="system",
        brand_ids=frozenset(uuid.UUID(b) for b in brands),
    )
    assert template_fits(hot) and not template_fits(walled)
    filters = [
        MessageFilter(),
        MessageFilter(brand_id=uuid.UUID(brand)),
        MessageFilter(brand_id=uuid.UUID(brand), statuses=["new", "waiting"]),
        MessageFilter(origins=["journalist"], kinds=["question", "spam"]),
        MessageFilter(channel_id=uuid.UUID(channel), overdue=True),
        MessageFilter(brand_id=uuid.UUID(brand), overdue=False),
        MessageFilter(assigned_to=assignee),
        MessageFilter(statuses=["closed"], origins=["troll"], kinds=["spam"]),
    ]
    total = 0
    for where, by_due, limit in itertools.product(filters, (False, True), (3, 50)):
        fast = await walk(runtime, hot, where, by_due, limit)
        slow = await walk(runtime, walled, where, by_due, limit)
        assert fast == slow, (where, by_due, limit)
        assert len({row[0] for row in fast}) == len(fast)  # nothing twice
        total += len(fast)
    assert total > 0
    everything = await walk(runtime, hot, MessageFilter(), False, 7)
    assert len(everything) == 78  # 2 x 40, less the deleted one of each
    by_due = await walk(runtime, hot, MessageFilter(), True, 7)
    deadlines = [row[17] for row in by_due]
    dated = [d for d in deadlines if d is not None]
    assert len(by_due) == 78 and dated == sorted(dated)
    assert 0 < len(dated) < 78 and set(deadlines[len(dated) :]) == {None}
    late = await walk(runtime, hot, MessageFilter(overdue=True), False, 50)
    now = utcnow()
    assert late and all(r[15] in ("new", "assigned", "waiting") and r[17] < now for r in late)
