"""What the Bluesky tests share besides fixtures."""

from __future__ import annotations

import httpx

from agency.connector import (
    ConnectorContext,
    Credentials,
    Media,
)
from agency.connector.base import BytesSource
from agency_connectors.bluesky import BlueskyConnector
from tests.support.pds import (
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
