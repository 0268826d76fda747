"""Peers the connector tests run against, started once per session on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest

from agency.connector import Connector, ConnectorContext, Credentials, Post
from tests.conftest import LiveServer
from tests.connectors.contract import SECRET
from tests.support.connect_flow import callback_uri
from tests.support.pds import PdsServer
from tests.support.prism import PrismServer, prism_client
from tests.support.testnet import TestNetState, build_testnet

C = TypeVar("C", bound=Connector)

PRISM_START_SECONDS = 120.0  # the descriptions are large; Prism takes a few seconds each


def _prism(spec: str, **repairs: Any) -> Iterator[str]:
    with PrismServer(spec, **repairs) as server:
        server.start(timeout=PRISM_START_SECONDS)
        yield server.url


@pytest.fixture
def media_post(publishable_post: Post) -> Post:
    """A post with media the network accepts, for the contract's staging test: the sample
    post, unless a module gives one with media."""
    return publishable_post


@pytest.fixture(scope="session")
def prism_x() -> Iterator[str]:
    """Base URL of Prism serving X API v2's description (``/2/tweets``...)."""
    yield from _prism("x-api-v2.json", numeric_ids=True)


# Prism would answer every media upload as ``registered`` (see tests/support/prism.py): the
# default answer is ``succeeded``, and ``Prefer: example=<status>`` asks for the others. The
# media id is the description's own example.
MEDIA_STATUSES = ("succeeded", "processing", "failed")
PINTEREST_MEDIA_STATUSES = (
    (
        "get",
        "/media/{media_id}",
        "200",
        {s: {"media_id": "12345", "media_type": "video", "status": s} for s in MEDIA_STATUSES},
    ),
)


@pytest.fixture(scope="session")
def prism_pinterest() -> Iterator[str]:
    """Base URL of Prism serving Pinterest v5 (``/pins``: Prism drops the ``/v5`` prefix)."""
    yield from _prism(
        "pinterest-v5.json", numeric_ids=True, answer_examples=PINTEREST_MEDIA_STATUSES
    )


# Sampled, the token would be "string", found in every answer: the description's own example.
MASTODON_TOKEN = {
    "access_token": "ZA-Yj3aBD8U8Cm7lKUp-lm9O9BmDgdhHzDeqsY8tlL0",
    "token_type": "Bearer",
    "scope": "read write follow push",
    "created_at": 1573979017,
}


@pytest.fixture(scope="session")
def prism_mastodon() -> Iterator[str]:
    """Base URL of Prism serving Mastodon 4.7's description, standing in for an instance."""
    statuses = ("post", "/api/v1/statuses")
    token = ("post", "/oauth/token", "200", {"Token200Example": MASTODON_TOKEN})
    yield from _prism(
        "mastodon-4.7.json",
        body_any_of=(statuses,),
        sampled_answers=True,
        answer_examples=(token,),
    )


@pytest.fixture(scope="module")
def pds_peer() -> Iterator[PdsServer]:
    """A real PDS for the modules that connect Bluesky accounts through our API."""
    with PdsServer() as server:
        yield server


@pytest.fixture
def oauth_server() -> Iterator[tuple[TestNetState, str]]:
    """Our strict OAuth server standing in for X's and Pinterest's: its state and URL."""
    state = TestNetState(redirect_uris={callback_uri("x"), callback_uri("pinterest")})
    with LiveServer(build_testnet(state)) as server:
        yield state, server.url


@pytest.fixture
def sent() -> list[httpx.Request]:
    """Every request ``peer_http`` sent, in order."""
    return []


@pytest.fixture
async def peer_http(sent: list[httpx.Request]) -> AsyncIterator[httpx.AsyncClient]:
    """A client that fails the test on any request the network's description forbids."""
    async with prism_client(record=sent) as client:
        yield client


Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
async def failing_prism() -> AsyncIterator[Callable[[type[C], str], Callable[[int], C]]]:
    """``(connector class, Prism URL) -> (status -> connector)`` for the contract's
    ``failing_connector``: every request asks Prism for that status (``Prefer: code=``), and
    the connector holds the contract's SECRET as its token."""
    clients: list[httpx.AsyncClient] = []

    def factory(connector_class: type[C], base_url: str) -> Callable[[int], C]:
        def make(status: int) -> C:
            client = prism_client(headers={"Prefer": f"code={status}"})
            clients.append(client)
            credentials = Credentials(access_token=SECRET)
            return connector_class(ConnectorContext(client, base_url, credentials))

        return make

    yield factory
    for client in clients:
        await client.aclose()


@pytest.fixture
async def fake_network() -> AsyncIterator[Callable[[type[C], Credentials, Handler], C]]:
    """``(connector class, credentials, handler) -> connector`` answered by ``handler``: for
    the answers a published description cannot produce (each test cites the network's
    reference page it shapes them after)."""
    clients: list[httpx.AsyncClient] = []

    def make(connector_class: type[C], credentials: Credentials, handler: Handler) -> C:
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        clients.append(client)
        base_url = f"https://{connector_class.network}.network.test"
        return connector_class(ConnectorContext(client, base_url, credentials))

    yield make
    for client in clients:
        await client.aclose()
