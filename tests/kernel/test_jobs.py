"""Jobs leave only after the transaction commits, run in a real Dramatiq worker on Redis."""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import dramatiq
import httpx
import pytest
import redis
from litestar import Litestar, Request, post
from litestar.params import FromPath, FromQuery
from sqlalchemy import text

from agency.app import create_app
from agency.config import Settings
from agency.kernel.errors import Conflict
from agency.kernel.jobs import enqueue, poll_promptly, setup_broker
from agency.kernel.runtime import Runtime
from agency.kernel.transaction import request_context


@post("/test/enqueue/{key:str}", opt={"public": True}, status_code=202)
async def enqueue_then(key: FromPath[str], fail: FromQuery[bool]) -> dict[str, str]:
    enqueue("test.record", key)
    if fail:
        raise Conflict("the request fails after enqueueing: the job must vanish")
    return {"queued": key}


@post("/test/enqueue-with-db/{key:str}", opt={"public": True}, status_code=202)
async def enqueue_with_db(
    key: FromPath[str], fail: FromQuery[bool], request: Request[Any, Any, Any]
) -> dict[str, str]:
    # Touch the database so the request has a real transaction to commit or roll back.
    session = request_context(request.scope).get_session()
    await session.execute(text("SELECT 1"))
    enqueue("test.record", key)
    if fail:
        raise Conflict("rolled back")
    return {"queued": key}


@pytest.fixture
async def job_client(settings: Settings, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app: Litestar = create_app(settings, runtime, [enqueue_then, enqueue_with_db])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def worker(runtime: Runtime) -> Iterator[dramatiq.Worker]:
    consumer = dramatiq.Worker(runtime.broker, worker_threads=1, queues={"test"})
    consumer.start()
    try:
        yield consumer
    finally:
        consumer.stop()


def runs(settings: Settings, key: str) -> int:
    assert settings.redis.url
    value = redis.Redis.from_url(settings.redis.url).get(f"test:record:{key}")
    return int(value or 0)


@pytest.mark.parametrize("path", ["/test/enqueue", "/test/enqueue-with-db"])
async def test_a_committed_request_sends_its_job_once(
    job_client: httpx.AsyncClient,
    runtime: Runtime,
    settings: Settings,
    worker: dramatiq.Worker,
    path: str,
) -> None:
    key = uuid.uuid4().hex
    response = await job_client.post(f"{path}/{key}", params={"fail": "false"})
    assert response.status_code == 202
    runtime.broker.join("test", timeout=10_000)
    worker.join()
    assert runs(settings, key) == 1


@pytest.mark.parametrize("path", ["/test/enqueue", "/test/enqueue-with-db"])
async def test_a_rolled_back_request_never_sends_its_job(
    job_client: httpx.AsyncClient,
    runtime: Runtime,
    settings: Settings,
    worker: dramatiq.Worker,
    path: str,
) -> None:
    key = uuid.uuid4().hex
    response = await job_client.post(f"{path}/{key}", params={"fail": "true"})
    assert response.status_code == 409
    # A committed job sent afterwards proves the worker ran before we looked.
    marker = uuid.uuid4().hex
    await job_client.post(f"{path}/{marker}", params={"fail": "false"})
    runtime.broker.join("test", timeout=10_000)
    worker.join()
    assert runs(settings, marker) == 1
    assert runs(settings, key) == 0


def test_enqueue_outside_a_transaction_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="outside"):
        enqueue("test.record", "x")


def test_an_idle_worker_takes_a_prompt_queues_message_within_its_poll(
    runtime: Runtime, settings: Settings
) -> None:
    """A queue of :func:`poll_promptly` is looked at every ``prompt_poll_ms`` by an idle
    worker, another every worker timeout (1 s): each message is taken after the worker has
    idled long enough for its backoff to reach the ceiling, then timed to its start. On a
    broker of its own (as a process has one): no other test's worker can take them."""
    assert settings.redis.url
    poll_promptly("test_prompt")
    started: dict[str, float] = {}
    done = threading.Event()

    def took(queue: str) -> None:
        started[queue] = time.monotonic()
        done.set()

    broker = setup_broker(settings)
    dramatiq.set_broker(runtime.broker)  # the other tests' broker stays the default
    actors = {
        queue: dramatiq.actor(
            took, actor_name=f"test.took.{queue}", queue_name=queue, broker=broker, max_retries=0
        )
        for queue in ("test_prompt", "test_idle")
    }
    consumer = dramatiq.Worker(
        broker, worker_threads=1, queues={"test_prompt", "test_idle"}, worker_timeout=1000
    )
    consumer.start()
    waits: dict[str, list[float]] = {"test_prompt": [], "test_idle": []}
    try:
        for queue in ["test_prompt", "test_idle"] * 3 + ["test_prompt"]:
            time.sleep(1.5)  # idle: the consumers' backoff reaches its ceiling
            done.clear()
            sent = time.monotonic()
            actors[queue].send(queue)
            assert done.wait(5)
            waits[queue].append(started[queue] - sent)
    finally:
        consumer.stop()
        broker.close()
    # Taken within the 100 ms poll (and some scheduling); the other queue, side by side,
    # anywhere within its 0.5 to 1 s backoff.
    assert max(waits["test_prompt"]) < 0.3, waits
    assert statistics.mean(waits["test_idle"]) > statistics.mean(waits["test_prompt"]), waits
