"""The separate frontend may call the API from the origins configured, and only those."""

from __future__ import annotations

import httpx

from agency.app import create_app
from agency.config import ServerSettings, Settings
from agency.kernel.runtime import Runtime


async def test_cors_allows_the_configured_frontend_only(
    settings: Settings, runtime: Runtime
) -> None:
    configured = Settings(
        database=settings.database,
        redis=settings.redis,
        server=ServerSettings(cors_origins=["https://app.example"]),
    )
    app = create_app(configured, runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        preflight = await client.options(
            "/agency",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "PATCH",
                "Access-Control-Request-Headers": "authorization,if-match",
            },
        )
        assert preflight.status_code in (200, 204)
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        assert "PATCH" in preflight.headers["access-control-allow-methods"]
        other = await client.get("/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
