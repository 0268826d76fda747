"""The process-wide runtime: settings, database engines, the Dramatiq broker, the HTTP clients
(for the networks the operator configured, and for hosts a caller chose), the secret box, the
installed connectors and the components built on them.

The kernel knows no domain: the app assembly (``agency.assembly``) finds the connectors and
declares the jobs; a domain asks for its own component (media storage, say) by the factory
that builds it, once per runtime. The runtime is handed down explicitly: to requests through
Litestar's dependency injection, to jobs and the scheduler as a parameter. No global holds it.

asyncpg connections (and httpx connection pools) belong to the event loop that opened them,
and one process may run several loops (uvicorn's, Dramatiq's async-actor thread, the
scheduler's), so each loop gets its own engine and HTTP client.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

import dramatiq
import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agency import __version__
from agency.config import Settings
from agency.connector.registry import Registry
from agency.kernel import outbound as outbound_policy
from agency.kernel.db import SESSION_OPTIONS, RequestSession, create_engine, create_session_maker
from agency.kernel.outages import watch_engine
from agency.kernel.secrets import SecretBox
from agency.kernel.sockets import AsyncioTransport

T = TypeVar("T")


@runtime_checkable
class _Closeable(Protocol):
    async def aclose(self) -> None: ...


class Runtime:
    def __init__(self, settings: Settings, broker: dramatiq.Broker, connectors: Registry) -> None:
        self.settings = settings
        self.broker = broker
        self.secrets = SecretBox.from_settings(
            settings.secrets, settings.auth.secret_key.get_secret_value()
        )
        self.connectors = connectors
        self._engines: dict[asyncio.AbstractEventLoop, AsyncEngine] = {}
        self._makers: dict[asyncio.AbstractEventLoop, async_sessionmaker[AsyncSession]] = {}
        # Per event loop: the plain clients (None) and the guarded ones of each policy in force,
        # used in turn.
        self._http: dict[
            tuple[asyncio.AbstractEventLoop, outbound_policy.OutboundPolicy | None, int],
            httpx.AsyncClient,
        ] = {}
        self._turn = itertools.count()
        self._components: dict[Callable[[Settings], Any], Any] = {}
        self._lock = threading.Lock()

    @property
    def outbound(self) -> outbound_policy.OutboundPolicy:
        """The policy for calls to hosts a caller chose, as the settings say now."""
        return outbound_policy.OutboundPolicy.from_settings(self.settings.outbound)

    @property
    def http(self) -> httpx.AsyncClient:
        """The client for the networks' own APIs, at the URLs the operator configured."""
        return self._client(guarded=False)

    @property
    def guarded_http(self) -> httpx.AsyncClient:
        """The client for hosts a caller chose (a Mastodon server...): the outbound policy."""
        return self._client(guarded=True)

    def _client(self, guarded: bool) -> httpx.AsyncClient:
        """One of the loop's clients for the policy, in turn. Several small connection pools
        rather than one large one: httpcore's pool walks all its connections (and, for each
        idle one, all of them again) whenever a request starts or ends, which at hundreds of
        calls in flight costs more CPU than the calls themselves."""
        connectors = self.settings.connectors
        policy = self.outbound if guarded else None
        with self._lock:
            shard = next(self._turn) % max(1, connectors.http_pools)
            key = (asyncio.get_running_loop(), policy, shard)  # pools belong to their loop
            client = self._http.get(key)
            if client is None:
                size = max(1, connectors.http_max_connections // max(1, connectors.http_pools))
                options: dict[str, Any] = {
                    "timeout": connectors.http_timeout_seconds,
                    "limits": httpx.Limits(
                        max_connections=size,
                        max_keepalive_connections=size,
                        keepalive_expiry=connectors.http_keepalive_seconds,
                    ),
                    "headers": {"User-Agent": f"agency/{__version__}"},
                    "follow_redirects": False,
                }
                if policy is not None:
                    client = outbound_policy.client(policy, **options)
                else:  # the networks' APIs: plain asyncio sockets (kernel.sockets)
                    client = httpx.AsyncClient(
                        transport=AsyncioTransport(options.pop("limits")), **options
                    )
                self._http[key] = client
            return client

    def component(self, factory: Callable[[Settings], T]) -> T:
        """What ``factory`` builds from these settings, built once for this runtime.

        A domain keeps its process-wide parts (media storage...) here instead of in a global,
        so two runtimes in one process (tests do it) never share them.
        """
        with self._lock:
            if factory not in self._components:
                self._components[factory] = factory(self.settings)
            found: T = self._components[factory]
            return found

    @property
    def engine(self) -> AsyncEngine:
        loop = asyncio.get_running_loop()
        with self._lock:
            engine = self._engines.get(loop)
            if engine is None:
                engine = create_engine(self.settings.database)
                watch_engine(engine)
                self._engines[loop] = engine
                self._makers[loop] = create_session_maker(engine)
            return engine

    def session(self) -> AsyncSession:
        self.engine  # noqa: B018 - creates this loop's engine on first use
        return self._makers[asyncio.get_running_loop()]()

    def request_session(self) -> AsyncSession:
        """A request's session: its first statement is run again after a dropped connection
        (``kernel.db.RequestSession``)."""
        return RequestSession(bind=self.engine, **SESSION_OPTIONS)

    def renew_pools(self) -> None:
        """Forget every loop's pooled connections without closing them (a restarted database
        closed them already): each engine's next use connects anew."""
        with self._lock:
            engines = list(self._engines.values())
        for engine in engines:
            engine.sync_engine.dispose(close=False)

    async def dispose_current_loop(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            engine = self._engines.pop(loop, None)
            self._makers.pop(loop, None)
            clients = [self._http.pop(key) for key in list(self._http) if key[0] is loop]
            components = list(self._components.values())
        if engine is not None:
            await engine.dispose()
        for client in clients:
            await client.aclose()
        for component in components:
            if isinstance(component, _Closeable):
                await component.aclose()
