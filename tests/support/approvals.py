"""A brand's team for approval tests: an agency (community manager, manager), the client's
people on each reporting line, a channel, and the calls they make."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from agency.kernel.runtime import Runtime
from tests.conftest import Tenant
from tests.helpers import (
    add_client_member,
    bearer,
    client_session,
    create_brand,
    insert_channel,
    invite_and_join,
)

# The two-step chain a press-relations publication goes through.
PRESS_CHAIN = {
    "name": "Press relations",
    "conditions": {"reporting_lines": ["press_relations"]},
    "steps": [
        {"name": "PR lead", "approvers": {"reporting_lines": ["press_relations"]}},
        {"name": "General management", "approvers": {"reporting_lines": ["management"]}},
    ],
}


@dataclass
class Team:
    client: httpx.AsyncClient
    runtime: Runtime
    tenant: Tenant
    brand: str
    channel: str
    network: str
    people: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The test SMTP server when one is on: invitations are then read from its mailbox.
    smtp: Any = None

    def as_(self, who: str) -> dict[str, str]:
        return bearer(self.people[who]["token"])

    def user(self, who: str) -> str:
        return str(self.people[who]["user_id"])

    async def staff(self, who: str, role: str) -> None:
        joined = await invite_and_join(
            self.client,
            self.tenant,
            f"{who}@{self.tenant.slug}.example",
            role,
            name=who.title(),
            smtp=self.smtp,
        )
        self.people[who] = {"token": joined["token"], "user_id": joined["user_id"]}

    async def client_member(
        self, who: str, line: str, permissions: list[str] | None = None, brand: str | None = None
    ) -> dict[str, Any]:
        member = await add_client_member(
            self.client,
            self.tenant,
            brand or self.brand,
            f"{who}@client.example",
            permissions if permissions is not None else ["approve", "calendar:read"],
            reporting_line=line,
            name=who.title(),
            invite=False,
        )
        token = await client_session(self.runtime, self.tenant.agency_id, member["user_id"])
        self.people[who] = {"token": token, "user_id": member["user_id"], "member": member}
        return member

    async def policy(self, body: dict[str, Any], brand: str | None = None) -> dict[str, Any]:
        response = await self.client.post(
            f"/brands/{brand or self.brand}/approval-policies",
            json=body,
            headers=self.tenant.headers,
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def draft(
        self, by: str = "cm", text: str = "Communiqué : notre nouvelle usine ouvre.", **extra: Any
    ) -> dict[str, Any]:
        body = {
            "title": "Launch",
            "variants": [{"channel_id": self.channel, "text": text}],
            **extra,
        }
        response = await self.client.post(
            f"/brands/{self.brand}/publications", json=body, headers=self.as_(by)
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def submit(self, publication_id: str, by: str = "cm") -> httpx.Response:
        return await self.client.post(
            f"/publications/{publication_id}/submit", headers=self.as_(by)
        )

    async def history(self, publication_id: str) -> dict[str, Any]:
        response = await self.client.get(
            f"/publications/{publication_id}/approvals", headers=self.tenant.headers
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def publication(self, publication_id: str) -> dict[str, Any]:
        response = await self.client.get(
            f"/publications/{publication_id}", headers=self.tenant.headers
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def decide(
        self,
        who: str,
        publication_id: str,
        decision: str = "approve",
        content_hash: str | None = None,
        **extra: Any,
    ) -> httpx.Response:
        if content_hash is None:
            content_hash = (await self.history(publication_id))["content_hash"]
        return await self.client.post(
            f"/publications/{publication_id}/decisions",
            json={"decision": decision, "content_hash": content_hash, **extra},
            headers=self.as_(who),
        )

    async def edit(self, publication_id: str, text: str, by: str = "cm") -> dict[str, Any]:
        current = await self.publication(publication_id)
        response = await self.client.patch(
            f"/publications/{publication_id}",
            json={"variants": [{"channel_id": self.channel, "text": text}]},
            headers={**self.as_(by), "If-Match": f'"{current["version"]}"'},
        )
        assert response.status_code == 200, response.text
        return dict(response.json())


async def make_team(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant: Tenant,
    network: str = "mastodon",
    slug: str = "maison",
    token: str = "tok",
    smtp: Any = None,
) -> Team:
    """A brand with one channel, a community manager (``cm``) and a manager (``manager``)."""
    brand = await create_brand(client, tenant, slug)
    channel = await insert_channel(runtime, tenant.agency_id, brand, network, token)
    team = Team(client, runtime, tenant, brand, channel, network, smtp=smtp)
    await team.staff("cm", "community_manager")
    await team.staff("manager", "manager")
    return team
