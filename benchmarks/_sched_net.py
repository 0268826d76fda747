"""The stand-in network of the scheduler benchmark, served by uvicorn in its own process.

``net_app`` is the uvicorn factory: ``tests/support/stubnet.py`` with the latency of
``BENCH_NET_LATENCY`` seconds per publish call, plus ``GET /bench/received`` that returns
every stored post (text, idempotency key, arrival time) for the benchmark to score.
"""

from __future__ import annotations

import os
from typing import Any

from litestar import Litestar, get
from tests.support.stubnet import StubNetState, build_stubnet

LATENCY_ENV = "BENCH_NET_LATENCY"


def net_app() -> Litestar:
    state = StubNetState(latency=float(os.environ.get(LATENCY_ENV, "0.02")))

    @get("/bench/received", sync_to_thread=False)
    def received() -> dict[str, Any]:
        with state.lock:
            posts = [[p["text"], p["key"], p["received_at"]] for p in state.posts]
        return {"calls": state.calls, "posts": posts}

    app = build_stubnet(state)
    app.register(received)
    return app
