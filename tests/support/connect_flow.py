"""What a user does in the connect tests: create a brand, start connecting, agree at the network."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.conftest import Tenant

PUBLIC_URL = "http://agency.test"  # our API, as the networks' apps know it


def callback_uri(network: str) -> str:
    return f"{PUBLIC_URL}/oauth/callback/{network}"


async def start_connection(
    client: httpx.AsyncClient, tenant: Tenant, brand_id: str, network: str
) -> dict[str, Any]:
    """``POST /brands/{id}/connections``: the connection, with its authorization URL."""
    response = await client.post(
        f"/brands/{brand_id}/connections", json={"network": network}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def connect_with_app_password(
    client: httpx.AsyncClient, tenant: Tenant, brand_id: str, identifier: str, app_password: str
) -> httpx.Response:
    """``POST /brands/{id}/connections`` for a Bluesky account: the answer, as it came."""
    return await client.post(
        f"/brands/{brand_id}/connections",
        json={"network": "bluesky", "identifier": identifier, "app_password": app_password},
        headers=tenant.headers,
    )


async def consent(authorization_url: str, redirect_uri: str) -> str:
    """The user agrees on the network's page, which sends the browser back to
    ``redirect_uri``; returns the path and query to call our callback with."""
    async with httpx.AsyncClient() as browser:
        response = await browser.get(authorization_url)
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect_uri
    return f"{location.path}?{location.query}"


async def connect_with_consent(
    client: httpx.AsyncClient, tenant: Tenant, brand_id: str, network: str, pick: str | None = None
) -> tuple[str, list[httpx.Response]]:
    """Connect an account of an OAuth network: start, agree at the network, come back, and
    pick the account ``pick`` where the grant reaches several. The channel id, and every
    answer of ours on the way."""
    started = await start_connection(client, tenant, brand_id, network)
    done = await client.get(await consent(started["authorization_url"], callback_uri(network)))
    answers = [done]
    if pick is not None:
        answers.append(
            await client.post(
                f"/connections/{done.json()['id']}/select",
                json={"account_ids": [pick]},
                headers=tenant.headers,
            )
        )
    assert answers[-1].status_code == 200, answers[-1].text
    [channel_id] = answers[-1].json()["channel_ids"]
    return str(channel_id), answers
