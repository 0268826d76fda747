"""A community manager's desk for calendar tests: brands, channels and publications through
the API (channels written straight to the database, as if a network had granted access)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from agency.channel.credentials import seal
from agency.channel.models import Channel
from agency.connector.base import Credentials
from agency.kernel.db import utcnow
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import bind_tenant
from tests.conftest import Tenant
from tests.helpers import create_brand


@dataclass
class Desk:
    client: httpx.AsyncClient
    runtime: Runtime
    tenant: Tenant

    @property
    def headers(self) -> dict[str, str]:
        return self.tenant.headers

    async def brand(self, slug: str, timezone: str = "Europe/Paris", **extra: Any) -> str:
        return await create_brand(self.client, self.tenant, slug, timezone=timezone, **extra)

    async def channel(self, brand_id: str, network: str, handle: str | None = None) -> str:
        channel = Channel(
            agency_id=self.tenant.agency_id,
            brand_id=uuid.UUID(brand_id),
            network=network,
            account_id=f"acct-{uuid.uuid4().hex[:8]}",
            account_kind="user",
            name=f"{network} account",
            handle=handle,
            scopes=["write"],
            connected_at=utcnow(),
            credentials=seal(self.runtime.secrets, Credentials(access_token="desk-token")),
        )
        async with self.runtime.session() as session:
            await bind_tenant(session, self.tenant.agency_id)
            session.add(channel)
            await session.commit()
        return str(channel.id)

    async def draft(
        self, brand_id: str, channels: list[str], title: str = "Post", **extra: Any
    ) -> dict[str, Any]:
        body = {
            "title": title,
            "variants": [
                {"channel_id": c, "text": f"{title} on {i}"} for i, c in enumerate(channels)
            ],
            **extra,
        }
        response = await self.client.post(
            f"/brands/{brand_id}/publications", json=body, headers=self.headers
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def schedule(
        self,
        publication: dict[str, Any],
        *,
        local_time: str | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        body = {"local_time": local_time} if local_time else {"at": at.isoformat() if at else None}
        response = await self.client.post(
            f"/publications/{publication['id']}/schedule",
            json=body,
            headers={**self.headers, "If-Match": f'"{publication["version"]}"'},
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def post(
        self, brand_id: str, channels: list[str], local_time: str, title: str = "Post", **extra: Any
    ) -> dict[str, Any]:
        """A publication drafted and scheduled at a wall-clock time in the brand's zone."""
        return await self.schedule(
            await self.draft(brand_id, channels, title, **extra), local_time=local_time
        )

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(path, params=params, headers=self.headers)
