"""A second app instance on the test database and Redis, as a replica behind a load balancer:
its own runtime (pools, caches), the same data."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from agency.app import create_app
from agency.assembly import build_runtime
from agency.config import Settings
from agency.kernel.runtime import Runtime


@dataclass
class Replica:
    client: httpx.AsyncClient
    runtime: Runtime


@pytest.fixture
async def replica(settings: Settings) -> AsyncIterator[Replica]:
    """A second app instance on the same PostgreSQL and Redis."""
    runtime = build_runtime(settings)
    app = create_app(settings, runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://replica") as client:
        yield Replica(client, runtime)
    await runtime.dispose_current_loop()
