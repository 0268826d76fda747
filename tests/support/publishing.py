"""The publishing pipeline in tests: this test's runtime for the jobs, a real Dramatiq worker,
and the scheduler's ticks until a publication has gone out (docs/publishing.md)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq
import httpx
from sqlalchemy import select, update

from agency.app import create_app
from agency.config import Settings
from agency.connector.registry import Registry
from agency.inbox.models import InboxChannel
from agency.inbox.tasks import follow_new
from agency.kernel.db import utcnow
from agency.kernel.jobs import declare_actors
from agency.kernel.runtime import Runtime
from agency.kernel.scheduling import tick
from agency.kernel.tenancy import bind_system
from agency.publication.models import Variant
from tests.conftest import Tenant


@contextmanager
def jobs_see(runtime: Runtime) -> Iterator[None]:
    """The broker's jobs run with ``runtime`` (this test's networks), then as before."""
    previous = dict(runtime.broker.actors)
    declare_actors(runtime)
    try:
        yield
    finally:
        runtime.broker.actors.update(previous)


@asynccontextmanager
async def serving(
    runtime: Runtime, settings: Settings, registry: Registry
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    """The API in this process with ``settings`` and these networks, a client to it, and the
    runtime its jobs run with (the session's broker)."""
    test_runtime = Runtime(settings, runtime.broker, connectors=registry)
    transport = httpx.ASGITransport(app=create_app(settings, test_runtime))
    try:
        with jobs_see(test_runtime):
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                yield c, test_runtime
    finally:
        await test_runtime.dispose_current_loop()


@contextmanager
def running_worker(
    runtime: Runtime, queues: set[str] | None = None, threads: int = 2
) -> Iterator[dramatiq.Worker]:
    # A short poll timeout: stopping the worker at the end of a test takes that long.
    consumer = dramatiq.Worker(
        runtime.broker, worker_threads=threads, queues=queues, worker_timeout=100
    )
    consumer.start()
    try:
        yield consumer
    finally:
        consumer.stop()


def soon(seconds: float = 60) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def delivered(p: dict[str, Any]) -> bool:
    return all(v["status"] in ("published", "failed", "missed") for v in p["variants"])


async def make_due(
    runtime: Runtime, publication_id: str, seconds_ago: float = 1, at: datetime | None = None
) -> None:
    """Move a scheduled publication's time into the past, as if it had come (or to ``at``)."""
    async with runtime.session() as session:
        await bind_system(session)
        await session.execute(
            update(Variant)
            .where(Variant.publication_id == uuid.UUID(publication_id))
            .values(due_at=at or utcnow() - timedelta(seconds=seconds_ago))
        )
        await session.commit()


async def until(
    runtime: Runtime,
    read: Callable[[], Any],
    done: Callable[[dict[str, Any]], bool],
    within: float = 20,
    scheduler: bool = True,
) -> dict[str, Any]:
    """Run the scheduler (ticks) until what ``read`` answers satisfies ``done``."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        if scheduler:
            await tick(runtime)
        current: dict[str, Any] = await read()
        if done(current):
            return current
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out; publication is now {current}")
        await asyncio.sleep(0.1)


async def schedule(
    client: httpx.AsyncClient, headers: dict[str, str], publication: dict[str, Any], at: datetime
) -> httpx.Response:
    """``POST /publications/{id}/schedule`` with the publication's ETag."""
    return await client.post(
        f"/publications/{publication['id']}/schedule",
        json={"at": at.isoformat()},
        headers={**headers, "If-Match": f'"{publication["version"]}"'},
    )


async def published_now(
    client: httpx.AsyncClient,
    runtime: Runtime,
    headers: dict[str, str],
    brand_id: str,
    channel_id: str,
    text: str,
    title: str = "Launch",
) -> dict[str, Any]:
    """A publication of ``text`` on the channel, drafted and scheduled through the API, made
    due, and read back once the worker delivered it (published, failed or missed)."""
    body = {"title": title, "variants": [{"channel_id": channel_id, "text": text}]}
    drafted = await client.post(f"/brands/{brand_id}/publications", json=body, headers=headers)
    assert drafted.status_code == 201, drafted.text
    scheduled = await schedule(client, headers, drafted.json(), soon())
    assert scheduled.status_code == 200, scheduled.text
    await make_due(runtime, drafted.json()["id"])

    async def read() -> dict[str, Any]:
        response = await client.get(f"/publications/{drafted.json()['id']}", headers=headers)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    return await until(runtime, read, delivered, within=30)


class Inbox:
    """Our API as a tenant reads it, and the runtime whose scheduler ticks while it waits."""

    def __init__(self, client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant) -> None:
        self.client, self.runtime, self.tenant = client, runtime, tenant

    async def get(self, path: str) -> dict[str, Any]:
        response = await self.client.get(path, headers=self.tenant.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def until(self, path: str, done: Any, within: float = 30) -> dict[str, Any]:
        return await until(self.runtime, lambda: self.get(path), done, within=within)


async def pulled_again(runtime: Runtime) -> None:
    """Follow the new channels, make every followed one due, and wait until one was read
    again (the scheduler's claim, then ``inbox.pull`` in the worker)."""
    async with runtime.session() as session:
        await bind_system(session)
        await follow_new(session, runtime, utcnow())
        pulls = select(InboxChannel.last_pulled_at)
        before = max((t for t in (await session.execute(pulls)).scalars() if t), default=None)
        await session.execute(update(InboxChannel).values(next_pull_at=utcnow()))
        await session.commit()

    async def pulled() -> dict[str, Any]:
        async with runtime.session() as session:
            await bind_system(session)
            last = max((t for t in (await session.execute(pulls)).scalars() if t), default=None)
        return {"done": last is not None and (before is None or last > before)}

    await until(runtime, pulled, lambda r: bool(r["done"]))
