"""Peers the connector tests run against, started once per session on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest

from tests.support.prism import PrismServer, prism_client

PRISM_START_SECONDS = 120.0  # the descriptions are large; Prism takes a few seconds each


def _prism(spec: str, *, numeric_ids: bool) -> Iterator[str]:
    with PrismServer(spec, numeric_ids=numeric_ids) as server:
        server.start(timeout=PRISM_START_SECONDS)
        yield server.url


@pytest.fixture(scope="session")
def prism_x() -> Iterator[str]:
    """Base URL of Prism serving X API v2's description (``/2/tweets``...)."""
    yield from _prism("x-api-v2.json", numeric_ids=True)


@pytest.fixture(scope="session")
def prism_pinterest() -> Iterator[str]:
    """Base URL of Prism serving Pinterest v5 (``/pins``: Prism drops the ``/v5`` prefix)."""
    yield from _prism("pinterest-v5.json", numeric_ids=True)


@pytest.fixture(scope="session")
def prism_mastodon() -> Iterator[str]:
    """Base URL of Prism serving Mastodon 4.7's description, standing in for an instance."""
    yield from _prism("mastodon-4.7.json", numeric_ids=False)


@pytest.fixture
def sent() -> list[httpx.Request]:
    """Every request ``peer_http`` sent, in order."""
    return []


@pytest.fixture
async def peer_http(sent: list[httpx.Request]) -> AsyncIterator[httpx.AsyncClient]:
    """A client that fails the test on any request the network's description forbids."""
    async with prism_client(record=sent) as client:
        yield client


@pytest.fixture
async def failing_http() -> AsyncIterator[Callable[[int], httpx.AsyncClient]]:
    """``status -> client`` whose every request asks Prism for that status."""
    clients: list[httpx.AsyncClient] = []

    def make(status: int) -> httpx.AsyncClient:
        client = prism_client(headers={"Prefer": f"code={status}"})
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
