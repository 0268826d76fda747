"""What the Bluesky tests share besides fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx

from agency.connector import (
    ConnectorContext,
    Credentials,
    Media,
)
from agency.connector.base import BytesSource
from agency_connectors.bluesky import BlueskyConnector
from agency_connectors.bluesky.connector import BLUESKY_APPVIEW
from tests.conftest import LiveServer
from tests.support.fakes.bsky_appview import FakeAppView
from tests.support.pds import (
    PdsAccount,
    PdsServer,
    png,
)

POST = "app.bsky.feed.post"
AVATAR = png(4, 4)


def connector_for(
    http: httpx.AsyncClient, pds: PdsServer, credentials: Credentials | None = None
) -> BlueskyConnector:
    return BlueskyConnector(ConnectorContext(http=http, base_url=pds.url, credentials=credentials))


def image(data: bytes, alt: str, width: int, height: int) -> Media:
    return Media(
        kind="image",
        mime_type="image/png",
        size=len(data),
        width=width,
        height=height,
        alt_text=alt,
        source=BytesSource(data),
    )


async def strong_ref(http: httpx.AsyncClient, pds: PdsServer, uri: str) -> dict[str, str]:
    """The post's URI and CID as the PDS holds them, read without our code."""
    repo, collection, rkey = uri.removeprefix("at://").split("/")
    answer = await http.get(
        f"{pds.url}/xrpc/com.atproto.repo.getRecord",
        params={"repo": repo, "collection": collection, "rkey": rkey},
    )
    answer.raise_for_status()
    return {"uri": answer.json()["uri"], "cid": answer.json()["cid"]}


@contextmanager
def serving_appview() -> Iterator[FakeAppView]:
    """The fake AppView on loopback, under Bluesky's own AppView DID."""
    fake = FakeAppView(did=BLUESKY_APPVIEW.split("#")[0])
    with LiveServer(fake) as server:
        fake.url = server.url
        yield fake
    # An answer the fake held back made its test fail already; say why once more at the end.
    assert not fake.problems, fake.problems


@contextmanager
def pds_behind(appview: FakeAppView) -> Iterator[PdsServer]:
    """A PDS that forwards app.bsky.* queries to ``appview``, which reads its repositories."""
    # The PDS reaches the fake under Bluesky's AppView DID: the connector's default header
    # is the one tested, and the PDS takes the URL from its configuration, resolving nothing.
    with PdsServer(appview=(appview.url, appview.did)) as server:
        appview.serve(server.url, server.plc_url, server.lexicons_url)
        yield server


def stamp(minutes_ago: float = 0) -> str:
    moment = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def reply_on_pds(
    pds: PdsServer,
    author: PdsAccount,
    text: str,
    root: dict[str, str],
    parent: dict[str, str],
    minutes_ago: float = 0,
) -> dict[str, str]:
    """A reply written by another account, straight to the PDS: its strong reference."""
    record = {
        "$type": POST,
        "text": text,
        "createdAt": stamp(minutes_ago),
        "reply": {"root": root, "parent": parent},
    }
    return pds.create_record(author, POST, record)


def mention_on_pds(
    pds: PdsServer, author: PdsAccount, named: PdsAccount, text: str, minutes_ago: float = 0
) -> dict[str, str]:
    """A post of ``author`` naming ``named`` (``@handle`` at the end of ``text``, with its
    mention facet, as the apps write it), straight to the PDS: its strong reference."""
    full = f"{text} @{named.handle}"
    start = len(full.encode()) - len(f"@{named.handle}".encode())
    record = {
        "$type": POST,
        "text": full,
        "createdAt": stamp(minutes_ago),
        "facets": [
            {
                "index": {"byteStart": start, "byteEnd": len(full.encode())},
                "features": [{"$type": "app.bsky.richtext.facet#mention", "did": named.did}],
            }
        ],
    }
    return pds.create_record(author, POST, record)
