"""Small helpers shared by API tests."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import PASSWORD, Tenant


def assert_problem(response: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status, mentioning ``words``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert "type" in body
    text = response.text.lower()
    for word in words:
        assert word.lower() in text, f"{word!r} not in {response.text}"
    assert "traceback" not in text
    return body


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    response = await client.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def invite_and_join(
    client: httpx.AsyncClient, tenant: Tenant, email: str, role: str, name: str = "Invitee"
) -> dict[str, Any]:
    """Invite ``email`` into ``tenant`` and accept; returns the new session answer."""
    invited = await client.post(
        "/invitations", json={"email": email, "role": role}, headers=tenant.headers
    )
    assert invited.status_code == 201, invited.text
    accepted = await client.post(
        "/invitations/accept",
        json={"token": invited.json()["token"], "password": PASSWORD, "name": name},
    )
    assert accepted.status_code == 201, accepted.text
    body: dict[str, Any] = accepted.json()
    return body
