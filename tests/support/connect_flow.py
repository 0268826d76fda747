"""What a user does in the connect tests: create a brand, start connecting, agree at the network."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.conftest import Tenant


async def create_brand(client: httpx.AsyncClient, tenant: Tenant, slug: str = "dupont") -> str:
    response = await client.post(
        "/brands",
        json={"name": "Maison Dupont", "slug": slug, "timezone": "Europe/Paris"},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    brand_id: str = response.json()["id"]
    return brand_id


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


async def consent(authorization_url: str, redirect_uri: str) -> str:
    """The user agrees on the network's page, which sends the browser back to
    ``redirect_uri``; returns the path and query to call our callback with."""
    async with httpx.AsyncClient() as browser:
        response = await browser.get(authorization_url)
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect_uri
    return f"{location.path}?{location.query}"
