"""The Bluesky connector against a real PDS (@atproto/pds on loopback, see tests/support/pds.py).

Every call goes to the reference PDS itself, which validates records against the Bluesky
lexicons, checks tokens and applies its own rate limits. Only two answers cannot be had from a
lone PDS on the publishing call, and ``failing_connector`` serves them from an httpx transport
placed in front of the PDS (everything else passes through to it):

* 429: replayed from a real 429 of this PDS. Its publishing limits (5000 points an hour) are
  too large to exhaust in a test, so the session opens by exhausting the one limit that is
  small, com.atproto.server.createSession (30 per 5 minutes per handle), and keeps the PDS's
  answer as it was: status, ``RateLimit-*`` headers and body;
* 503: the PDS only answers it when it is overloaded; the answer follows the XRPC spec
  (https://atproto.com/specs/xrpc: JSON ``{"error", "message"}``, error name
  ``NotEnoughResources`` as @atproto/xrpc names status 503).

For 401 the contract's secret token goes to the real PDS, which answers a token it cannot
verify with 400 ``InvalidToken``: the connector must read that as an expired session.

Comments and metrics are AppView views: the PDS is configured with a fake AppView
(tests/support/fakes/bsky_appview.py) under Bluesky's own AppView DID, and forwards the
connector's app.bsky.* queries to it with service auth. The fake answers from the PDS's
repositories, so replies, likes, reposts and follows are real records other accounts write.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import httpx
import pytest

from agency.connector import (
    Credentials,
    Post,
)
from agency_connectors.bluesky import BlueskyConnector
from tests.connectors.bluesky.helpers import (
    AVATAR,
    connector_for,
    image,
    pds_behind,
    serving_appview,
)
from tests.connectors.contract import SECRET, FailingConnector
from tests.support.fakes.bsky_appview import FakeAppView
from tests.support.pds import (
    Answer,
    CannedAnswer,
    PdsAccount,
    PdsServer,
    png,
)


@pytest.fixture(scope="session")
def appview() -> Iterator[FakeAppView]:
    with serving_appview() as fake:
        yield fake


@pytest.fixture(scope="session")
def pds(appview: FakeAppView) -> Iterator[PdsServer]:
    with pds_behind(appview) as server:
        yield server


@pytest.fixture(scope="session")
def alice(pds: PdsServer) -> PdsAccount:
    account = pds.create_account("alice")
    avatar = pds.upload_blob(account, AVATAR, "image/png")
    pds.put_record(
        account,
        "app.bsky.actor.profile",
        "self",
        {"$type": "app.bsky.actor.profile", "displayName": "Alice at the Agency", "avatar": avatar},
    )
    return account


@pytest.fixture(scope="session")
def bob(pds: PdsServer) -> PdsAccount:
    return pds.create_account("bob")


@pytest.fixture(scope="session")
def carol(pds: PdsServer) -> PdsAccount:
    account = pds.create_account("carol")
    pds.put_record(
        account,
        "app.bsky.actor.profile",
        "self",
        {"$type": "app.bsky.actor.profile", "displayName": "Carol"},
    )
    return account


@pytest.fixture(scope="session")
async def real_429(pds: PdsServer) -> Answer:
    """A 429 of this PDS, from exhausting createSession's limit on a handle of no account."""
    identifier = f"flood-{uuid.uuid4().hex[:8]}.test"
    async with httpx.AsyncClient(base_url=pds.url, timeout=60) as http:
        # Sent at once: each sign-in costs the PDS a slow password hash, a 429 costs nothing.
        answers = await asyncio.gather(
            *(
                http.post(
                    "/xrpc/com.atproto.server.createSession",
                    json={"identifier": identifier, "password": "wrong"},
                )
                for _ in range(35)
            )
        )
    for answer in answers:
        if answer.status_code == 429:
            return Answer(429, list(answer.headers.multi_items()), answer.content)
    raise AssertionError("the PDS never rate-limited createSession")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
async def alice_session(pds: PdsServer, alice: PdsAccount) -> Credentials:
    # One sign-in for the whole run: the PDS allows 30 per 5 minutes per handle.
    async with httpx.AsyncClient() as client:
        return await connector_for(client, pds).login(alice.handle, alice.app_password)


@pytest.fixture
def connector(
    http: httpx.AsyncClient, pds: PdsServer, alice_session: Credentials
) -> BlueskyConnector:
    return connector_for(http, pds, alice_session)


@pytest.fixture
def publishable_post(bob: PdsAccount) -> Post:
    return Post(
        text=f"Hello from the agency tests to @{bob.handle} #agency {uuid.uuid4().hex[:6]}",
        options={"langs": ["en"]},
    )


@pytest.fixture
def media_post(publishable_post: Post) -> Post:
    """The contract's staging test against the real PDS: the sample post with a photo."""
    return replace(publishable_post, media=(image(png(4, 3), "A shop window", 4, 3),))


@pytest.fixture
async def failing_connector(
    pds: PdsServer, alice: PdsAccount, real_429: Answer
) -> AsyncIterator[FailingConnector]:
    clients: list[httpx.AsyncClient] = []
    unavailable = Answer(
        503,
        [("content-type", "application/json; charset=utf-8")],
        json.dumps({"error": "NotEnoughResources", "message": "Service Unavailable"}).encode(),
    )

    def make(status: int) -> BlueskyConnector:
        transport: httpx.AsyncBaseTransport = {
            401: httpx.AsyncHTTPTransport(),  # the real PDS, given a token it never issued
            429: CannedAnswer("com.atproto.repo.createRecord", real_429),
            503: CannedAnswer("com.atproto.repo.createRecord", unavailable),
        }[status]
        client = httpx.AsyncClient(transport=transport, timeout=30)
        clients.append(client)
        credentials = Credentials(
            access_token=SECRET,
            refresh_token=SECRET,
            extra={"did": alice.did, "handle": alice.handle},
        )
        return connector_for(client, pds, credentials)

    yield make
    for client in clients:
        await client.aclose()
