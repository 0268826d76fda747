"""The process-wide runtime: settings, database engines, the Dramatiq broker, the HTTP client
for the networks, the secret box and the installed connectors.

asyncpg connections (and httpx connection pools) belong to the event loop that opened them,
and one process may run several loops (uvicorn's, Dramatiq's async-actor thread, the
scheduler's), so each loop gets its own engine and HTTP client.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agency import __version__
from agency.config import Settings, get_settings
from agency.kernel.db import create_engine, create_session_maker
from agency.kernel.secrets import SecretBox

if TYPE_CHECKING:
    import dramatiq

    from agency.connector.registry import Registry
    from agency.media.storage import MediaStorage


class Runtime:
    def __init__(
        self, settings: Settings, broker: dramatiq.Broker, connectors: Registry | None = None
    ) -> None:
        from agency.connector.registry import installed

        self.settings = settings
        self.broker = broker
        self.secrets = SecretBox.from_settings(
            settings.secrets, settings.auth.secret_key.get_secret_value()
        )
        # Tests pass their own registry; everywhere else it is what the entry points list.
        self.connectors = connectors if connectors is not None else installed()
        self._engines: dict[asyncio.AbstractEventLoop, AsyncEngine] = {}
        self._makers: dict[asyncio.AbstractEventLoop, async_sessionmaker[AsyncSession]] = {}
        self._http: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}
        self._media_storage: MediaStorage | None = None
        self._lock = threading.Lock()

    @property
    def http(self) -> httpx.AsyncClient:
        """The client for calls to the networks (one connection pool per event loop)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._http.get(loop)
            if client is None:
                client = httpx.AsyncClient(
                    timeout=self.settings.connectors.http_timeout_seconds,
                    headers={"User-Agent": f"agency/{__version__}"},
                    follow_redirects=False,
                )
                self._http[loop] = client
            return client

    @property
    def media_storage(self) -> MediaStorage:
        """Where media files live: the backend ``settings.media.storage`` names."""
        from agency.media.storage import build_storage

        with self._lock:
            if self._media_storage is None:
                self._media_storage = build_storage(self.settings)
            return self._media_storage

    @property
    def engine(self) -> AsyncEngine:
        loop = asyncio.get_running_loop()
        with self._lock:
            engine = self._engines.get(loop)
            if engine is None:
                engine = create_engine(self.settings.database)
                self._engines[loop] = engine
                self._makers[loop] = create_session_maker(engine)
            return engine

    def session(self) -> AsyncSession:
        self.engine  # noqa: B018 - creates this loop's engine on first use
        return self._makers[asyncio.get_running_loop()]()

    async def dispose_current_loop(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            engine = self._engines.pop(loop, None)
            self._makers.pop(loop, None)
            client = self._http.pop(loop, None)
        if engine is not None:
            await engine.dispose()
        if client is not None:
            await client.aclose()
        if self._media_storage is not None:
            await self._media_storage.aclose()


_current: Runtime | None = None


def init_runtime(settings: Settings | None = None) -> Runtime:
    """Build the runtime for this process and declare the actors on its broker."""
    from agency.kernel.jobs import setup_broker

    global _current
    settings = settings or get_settings()
    broker = setup_broker(settings)
    _current = Runtime(settings, broker)
    return _current


def current_runtime() -> Runtime:
    if _current is None:
        raise RuntimeError("the runtime is not initialised; call init_runtime() first")
    return _current
