"""The stand-in network of the scheduler benchmark, served by uvicorn in its own process.

``net_app`` is the uvicorn factory: ``tests/support/stubnet.py`` answering each publish call
after ``BENCH_NET_LATENCY``: a number of seconds, or ``realistic`` (the default): a
log-normal time with a median of 400 ms and a 99th percentile of 3 s; an upload takes
30 s (``BENCH_NET_MEDIA_SECONDS``), as a network takes a photo in, before the post that
names it (uploaded ahead, or with the post at its time, which then reaches the network
30 s late). Until media were staged ahead, the 30 s were the publish call's. Plus
``GET /bench/received``, every stored post (text, idempotency key, arrival time) for the
benchmark to score, and ``GET /bench/count``, how many (polled while the run lasts). The
arrival is taken before the wait: lateness is when the network hears of a post.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import time
from collections.abc import Callable
from typing import Any, cast

from litestar import Litestar, get
from litestar.enums import ScopeType
from litestar.types import (
    ASGIApp,
    HTTPRequestEvent,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Receive,
    Scope,
    Send,
)
from tests.support.stubnet import StubNetState, build_stubnet

LATENCY_ENV = "BENCH_NET_LATENCY"
MEDIA_ENV = "BENCH_NET_MEDIA_SECONDS"
REALISTIC = "realistic"
MEDIAN = 0.4
P99 = 3.0
Z99 = 2.3263  # the standard normal's 99th percentile


def realistic() -> Callable[[dict[str, Any]], float]:
    """Log-normal: median 400 ms, p99 3 s."""
    sigma = math.log(P99 / MEDIAN) / Z99
    draw = random.Random(1234)

    def delay(body: dict[str, Any]) -> float:
        return draw.lognormvariate(math.log(MEDIAN), sigma)

    return delay


def net_app() -> ASGIApp:
    latency = os.environ.get(LATENCY_ENV, REALISTIC)
    if latency == REALISTIC:
        upload = float(os.environ.get(MEDIA_ENV, "30"))
        state = StubNetState(delay=realistic(), upload_delay=upload)
    else:
        state = StubNetState(latency=float(latency))

    @get("/bench/received", sync_to_thread=False)
    def received() -> dict[str, Any]:
        with state.lock:
            posts = [[p["text"], p["key"], p["received_at"]] for p in state.posts]
        return {"calls": state.calls, "posts": posts}

    @get("/bench/count", sync_to_thread=False)
    def count() -> dict[str, int]:
        """What the benchmark polls while it runs: cheap, unlike the whole list."""
        return {"calls": state.calls, "posts": len(state.posts)}

    app = build_stubnet(state)
    app.register(received)
    app.register(count)
    return publish_route(state, app)


def publish_route(state: StubNetState, app: Litestar) -> ASGIApp:
    """The publish call, the benchmark's hot route, answered as ``tests/support/stubnet.py``
    answers it when nothing is planned (the token checked, the key honoured, the uploads
    named checked), without the framework: its work is the stand-in's, not ours, and it
    shares the two cores with ours. Anything else, a wrong token included, goes to the app."""
    expected = f"Bearer {state.token}".encode()

    async def front(scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != ScopeType.HTTP
            or scope["path"] != "/posts"
            or scope["method"] != "POST"
        ):
            await app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if headers.get(b"authorization") != expected or state.plan:
            await app(scope, receive, send)
            return
        arrived = time.time()
        state.calls += 1
        chunks: list[bytes] = []
        while True:
            message = cast("HTTPRequestEvent", await receive())
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = json.loads(b"".join(chunks))
        if unknown := state.unknown_media(body, arrived):
            await _answer(send, 400, {"error": f"unknown media {unknown}"})
            return
        wait = state.delay(body) if state.delay is not None else state.latency
        if wait:
            await asyncio.sleep(wait)
        state.publish_tries.append((state.token or "", 201))
        key = headers.get(b"idempotency-key")
        record = state.store(body, key.decode() if key else None, arrived)
        await _answer(
            send, 201, {"id": record["id"], "url": f"https://stub.invalid/{record['id']}"}
        )

    return front


async def _answer(send: Send, status: int, document: dict[str, Any]) -> None:
    content = json.dumps(document).encode()
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(content)).encode()),
        ],
    }
    await send(start)
    body: HTTPResponseBodyEvent = {
        "type": "http.response.body",
        "body": content,
        "more_body": False,
    }
    await send(body)
