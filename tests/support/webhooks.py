"""An agency's webhook endpoint on loopback, and the scene of the webhook tests: our API,
a real Dramatiq worker on Redis and the scheduler's claimer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import dramatiq
import httpx
import pytest
from standardwebhooks import Webhook

from agency.config import OutboundSettings, WebhookSettings
from agency.kernel.db import new_id, utcnow
from agency.kernel.jobs import JobBuffer, collecting
from agency.kernel.runtime import Runtime
from agency.kernel.scheduling import tick
from agency.kernel.tenancy import bind_system, bind_tenant
from agency.publication.events import VariantOutcomeData
from agency.publication.states import Delivery
from agency.webhook.events import emit
from tests.conftest import LiveServer, Tenant
from tests.support.fakes.asgi import FakeServer, Request, Response

T = TypeVar("T")


class Receiver(FakeServer):
    """An agency's endpoint: answers from ``script`` (then 200) and records every request."""

    def __init__(self) -> None:
        super().__init__()
        self.script: list[Response] = []
        self.arrived: list[float] = []
        self.delay = 0.0

    def handle(self, request: Request) -> Response:
        self.arrived.append(time.monotonic())
        if self.delay:
            time.sleep(self.delay)  # a slow receiver (this test server has nothing else to do)
        return self.script.pop(0) if self.script else Response(200, b"thanks")


def use_settings(
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    allowed_hosts: tuple[str, ...] = (),
    **fields: Any,
) -> WebhookSettings:
    """The API and the worker (same process, same runtime) read the webhook settings here,
    and the outbound policy's: ``allowed_hosts`` are the loopback receivers allowed."""
    settings = WebhookSettings(**fields)
    monkeypatch.setattr(runtime.settings, "webhooks", settings)
    monkeypatch.setattr(
        runtime.settings, "outbound", OutboundSettings(allowed_hosts=list(allowed_hosts))
    )
    return settings


async def subscribe(
    client: httpx.AsyncClient, tenant: Tenant, url: str, **fields: Any
) -> dict[str, Any]:
    response = await client.post("/webhooks", json={"url": url, **fields}, headers=tenant.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def verify(secret: str, request: Request) -> dict[str, Any]:
    payload: dict[str, Any] = Webhook(secret).verify(request.body, request.headers)
    return payload


def outcome_data(title: str) -> VariantOutcomeData:
    """What the pipeline sends when a post is live; ``title`` tells the events apart."""
    return VariantOutcomeData(
        publication_id=new_id(),
        brand_id=new_id(),
        title=title,
        variant_id=new_id(),
        channel_id=new_id(),
        network="mastodon",
        status=Delivery.PUBLISHED,
        due_at=utcnow(),
        post_id="109",
        post_url="https://mastodon.example/@brand/109",
        published_at=utcnow(),
        error=None,
    )


@dataclass
class Scene:
    """An agency with a receiver on loopback, a Dramatiq worker, and the scheduler at hand."""

    client: httpx.AsyncClient
    runtime: Runtime
    tenant: Tenant
    receiver: Receiver
    url: str
    monkeypatch: pytest.MonkeyPatch

    @property
    def requests(self) -> list[Request]:
        return self.receiver.requests

    @property
    def host(self) -> str:
        """The receiver's ``host:port``, which the operator allows although it is loopback."""
        return urlsplit(self.url).netloc

    def configure(self, allowed_hosts: tuple[str, ...] = (), **fields: Any) -> WebhookSettings:
        return use_settings(self.runtime, self.monkeypatch, allowed_hosts, **fields)

    async def subscribe(
        self, path: str = "", tenant: Tenant | None = None, **fields: Any
    ) -> dict[str, Any]:
        return await subscribe(self.client, tenant or self.tenant, self.url + path, **fields)

    async def emit(
        self,
        event_type: str = "publication.published",
        title: str = "p-1",
        *,
        system: bool = False,
        commit: bool = True,
        send_jobs: bool = True,
    ) -> None:
        """What the publishing pipeline does: emit in its own transaction, jobs after commit."""
        buffer = JobBuffer()
        async with self.runtime.session() as session:
            if system:
                await bind_system(session)
            else:
                await bind_tenant(session, self.tenant.agency_id)
            with collecting(buffer):
                await emit(
                    session,
                    self.tenant.agency_id,
                    event_type,
                    outcome_data(title),
                    self.runtime.settings.webhooks,
                )
            if not commit:
                await session.rollback()
                return
            await session.commit()
        if send_jobs:
            buffer.flush(self.runtime.broker)

    async def deliveries(self, webhook_id: str, **params: Any) -> list[dict[str, Any]]:
        response = await self.client.get(
            f"/webhooks/{webhook_id}/deliveries", params=params, headers=self.tenant.headers
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def eventually(self, check: Callable[[], Awaitable[T]], within: float = 15.0) -> T:
        """Run the scheduler's claimers until ``check`` answers something truthy."""
        deadline = time.monotonic() + within
        while True:
            await tick(self.runtime)
            result = await check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"not reached in {within} s; last answer {result!r}")
            await asyncio.sleep(0.05)

    async def finished(self, webhook_id: str) -> dict[str, Any]:
        """The newest delivery of the subscription, once it is no longer pending."""

        async def done() -> dict[str, Any] | None:
            items = await self.deliveries(webhook_id)
            return items[0] if items and items[0]["status"] != "pending" else None

        return await self.eventually(done)

    async def post(self, path: str) -> httpx.Response:
        return await self.client.post(path, headers=self.tenant.headers)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    fake = Receiver()
    with LiveServer(fake) as server:  # type: ignore[arg-type]
        yield fake, f"{server.url}/hooks/agency"


@pytest.fixture
def worker(runtime: Runtime) -> Iterator[dramatiq.Worker]:
    consumer = dramatiq.Worker(
        runtime.broker, worker_threads=2, queues={"webhooks"}, worker_timeout=100
    )
    consumer.start()
    try:
        yield consumer
    finally:
        consumer.stop()


@pytest.fixture
def scene(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Tenant,
    receiver: tuple[Receiver, str],
    worker: dramatiq.Worker,
    monkeypatch: pytest.MonkeyPatch,
) -> Scene:
    # The loopback receiver allowed by name, and short retry delays.
    use_settings(
        runtime,
        monkeypatch,
        (urlsplit(receiver[1]).netloc,),
        timeout_seconds=2.0,
        retry_delays_seconds=[0.2, 0.2],
    )
    return Scene(client, runtime, tenant_a, *receiver, monkeypatch)


# -- subscriptions ----------------------------------------------------------------------------
