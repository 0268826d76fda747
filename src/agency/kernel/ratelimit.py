"""Rate limits: fixed windows in a Litestar store, every policy counted by one middleware.

A :class:`Policy` names what it counts (the client's address, the account a body names...),
a window and a limit, and which routes it guards; :class:`RateLimits` counts each request in
every policy that applies to its route, in windows that live in Redis when
``AGENCY_REDIS_URL`` is set (shared by every replica) and in memory in the embedded default.
Over the limit the route answers a 429 problem with ``Retry-After``; every answer of a
guarded route carries the ``RateLimit-*`` headers of the IETF draft. A policy counts before
credentials are checked, so a refused guess costs no password hash.

Guarded by default: the public routes that take a body, which is where a password, an
invitation or a one-time token is presented (login, magic links, invitation acceptance,
connect links). A handler says otherwise with ``opt={"rate_limit": True | False}``.

Every other route is counted per credential: the bearer token or session cookie a request
presents (counted by a digest, never the token itself), so one integration or one leaked token
cannot take the whole API, while every other credential of the same agency keeps its budget.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

import anyio
import msgspec
from litestar import Litestar, Request
from litestar.enums import ScopeType
from litestar.exceptions import TooManyRequestsException
from litestar.handlers import HTTPRouteHandler
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.rate_limit import DURATION_VALUES, DurationUnit, get_remote_address
from litestar.openapi.spec import OpenAPI, OpenAPIHeader, OpenAPIResponse, Reference, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from redis.exceptions import ConnectionError as RedisConnectionError

from agency.config import Settings
from agency.kernel.http import put_header

logger = logging.getLogger(__name__)

STORE_NAME = "rate_limit"
AWAY_RETRY_SECONDS = 0.5

Identify = Callable[[Request[Any, Any, Any]], Awaitable[str | None]]


def guards_credentials(handler: HTTPRouteHandler) -> bool:
    """Whether a route is one where credentials are presented without logging in."""
    explicit = handler.opt.get("rate_limit")
    if explicit is not None:
        return bool(explicit)
    return bool(handler.opt.get("public")) and bool(handler.http_methods & {"POST", "PUT"})


async def client_address(request: Request[Any, Any, Any]) -> str | None:
    if not guards_credentials(request.route_handler):
        return None
    return get_remote_address(request)


class _NamedAccount(msgspec.Struct):
    email: str | None = None


async def named_account(request: Request[Any, Any, Any]) -> str | None:
    """The e-mail address a guarded route's JSON body names, if it names one."""
    if not guards_credentials(request.route_handler):
        return None
    try:
        named = msgspec.json.decode(await request.body(), type=_NamedAccount)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError, ValueError):
        return None  # the route's own decoding answers a malformed body
    if not named.email:
        return None
    return named.email.strip().lower()[:320]


def counts_per_credential(handler: HTTPRouteHandler) -> bool:
    """Whether a route counts requests per presented credential: every route that is not
    public (the public ones are counted per address and per account, or not at all)."""
    return not handler.opt.get("public") and handler.opt.get("rate_limit") is not False


def rate_limited(handler: HTTPRouteHandler) -> bool:
    """Whether some policy may answer this route with a 429."""
    return guards_credentials(handler) or counts_per_credential(handler)


def presented_credential(session_cookie: str) -> Identify:
    """What a request presents to authenticate (a bearer token or the session cookie), as a
    digest: the counters in Redis never hold a usable credential. A request that presents
    none is not counted here (it is refused with a 401 before it costs anything)."""

    async def identify(request: Request[Any, Any, Any]) -> str | None:
        if not counts_per_credential(request.route_handler):
            return None
        authorization = request.headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        presented = token.strip() if scheme.lower() == "bearer" else ""
        if not presented:
            presented = request.cookies.get(session_cookie, "")
        if not presented:
            return None
        return hashlib.blake2b(presented.encode(), digest_size=16).hexdigest()

    return identify


@dataclass(frozen=True)
class Policy:
    name: str
    unit: DurationUnit
    limit: int
    identify: Identify
    description: str
    # Whether the policy counts a route's requests at all (decided without the request).
    applies: Callable[[HTTPRouteHandler], bool] = guards_credentials

    @property
    def seconds(self) -> int:
        return DURATION_VALUES[self.unit]


class Window(msgspec.Struct):
    """One window's count, as the store keeps it: requests counted, and when it ends (epoch
    seconds). Litestar keeps every request's time in a list that is read, decoded, copied
    and written back whole on each request, a cost that grows with the traffic; the limit
    only ever needed its length. A list written by an earlier release counts as its length."""

    reset: int
    count: int = 0
    history: list[int] | None = None


_WINDOW = msgspec.json.Decoder(Window)


@dataclass(frozen=True)
class Counted:
    """A policy's window after this request was counted in it."""

    policy: Policy
    window: Window

    def headers(self) -> dict[str, str]:
        limit, window = self.policy.limit, self.window
        return {
            "RateLimit-Policy": f"{limit}; w={self.policy.seconds}",
            "RateLimit-Limit": str(limit),
            "RateLimit-Remaining": str(max(limit - window.count, 0)),
            "RateLimit-Reset": str(window.reset - int(time.time())),
        }


class RateLimits:
    """Every policy in one middleware, in turn, each with a fixed window in the app's store
    (Litestar's ``RateLimitMiddleware`` counted as one layer per policy, each building its
    own request and wrapping ``send``).

    The first policy over its limit answers 429 with its own headers, before any later one
    counts; otherwise the answer carries the headers of the policy that leaves the fewest
    requests (draft-ietf-httpapi-ratelimit-headers: the closest limit; on a tie, the later
    policy's)."""

    def __init__(self, app: ASGIApp, policies: Sequence[Policy]) -> None:
        self.app = app
        self.policies = tuple(policies)
        # Held from reading a window to writing it back: two requests of this process never
        # both count from the same value. Not fair, so an uncontended one does not yield.
        self._lock = anyio.Lock(fast_acquire=True)
        self._applying: dict[HTTPRouteHandler, tuple[Policy, ...]] = {}

    def _applies(self, handler: HTTPRouteHandler) -> tuple[Policy, ...]:
        found = self._applying.get(handler)
        if found is None:
            found = self._applying[handler] = tuple(p for p in self.policies if p.applies(handler))
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        applying = self._applies(cast("HTTPRouteHandler", scope["route_handler"]))
        if not applying:
            await self.app(scope, receive, send)
            return
        # Built with ``receive``: a policy may read the body (cached for the handler).
        app = scope["litestar_app"]
        request = app.request_class(scope, receive)
        store = app.stores.get(STORE_NAME)
        closest: Counted | None = None
        for policy in applying:
            identity = await policy.identify(request)
            if identity is None:
                continue
            counted = await self._count(policy, identity, store)
            remaining = policy.limit - counted.window.count
            if closest is None or remaining <= closest.policy.limit - closest.window.count:
                closest = counted
        if closest is None:
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, _with_headers(send, closest))

    async def _count(self, policy: Policy, identity: str, store: Store) -> Counted:
        key = f"{policy.name}:{identity}"
        async with self._lock:
            window = await _window(key, policy.seconds, store)
            counted = Counted(policy, window)
            if window.count >= policy.limit:
                raise TooManyRequestsException(headers=counted.headers())
            window.count += 1
            await store.set(key, msgspec.json.encode(window), expires_in=policy.seconds)
        return counted


async def _window(key: str, seconds: int, store: Store) -> Window:
    now = int(time.time())
    kept = await store.get(key)
    if kept:
        try:
            window = _WINDOW.decode(kept)
        except msgspec.ValidationError:
            window = Window(reset=0)
        if window.reset > now:
            if window.history is not None:
                window.count, window.history = len(window.history), None
            return window
    return Window(reset=now + seconds)


def _with_headers(send: Send, counted: Counted) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            for key, value in counted.headers().items():
                put_header(message, key.lower().encode(), value)
        await send(message)

    return send_with_headers


def policies(settings: Settings, session_cookie: str) -> list[Policy]:
    limits = settings.rate_limits
    return [
        Policy(
            "ip",
            "minute",
            limits.credentials_per_ip_per_minute,
            client_address,
            "attempts per minute from one address",
        ),
        Policy(
            "account",
            "hour",
            limits.credentials_per_account_per_hour,
            named_account,
            "attempts per hour naming one account",
        ),
        Policy(
            "credential",
            "minute",
            limits.requests_per_credential_per_minute,
            presented_credential(session_cookie),
            "requests per minute with one token or session",
            counts_per_credential,
        ),
    ]


def rate_limit_middleware(settings: Settings, session_cookie: str) -> list[Any]:
    if not settings.rate_limits.enabled:
        return []
    return [DefineMiddleware(RateLimits, policies=policies(settings, session_cookie))]


class LocalStore(MemoryStore):
    """Litestar's in-memory store, whose lock does not yield to the event loop when it is
    free (anyio's default does, twice a counted request: once to read, once to write)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = anyio.Lock(fast_acquire=True)


class LoopLocalRedisStore(Store):
    """Litestar's Redis store, one client per event loop (a Redis connection belongs to the
    loop that opened it, and one process may serve from several loops)."""

    def __init__(self, url: str, namespace: str) -> None:
        self.url = url
        self.namespace = namespace
        self._fallback = LocalStore()
        self._retry_at: float | None = None  # while Redis is away: when to try it again
        self._stores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RedisStore] = (
            weakref.WeakKeyDictionary()
        )

    def _store(self) -> RedisStore:
        loop = asyncio.get_running_loop()
        store = self._stores.get(loop)
        if store is None:
            store = RedisStore.with_client(self.url, namespace=self.namespace)
            self._stores[loop] = store
        return store

    async def _call(self, operation: Callable[[Store], Awaitable[Any]]) -> Any:
        """Run one store operation; after a Redis restart the pooled connections are dead,
        so a lost connection drops this loop's client and the operation runs once more on a
        new one (a restart costs no request a 500). While Redis stays unreachable the limits
        still hold, counted by this process alone in memory (said once, and once when Redis
        counts again): an outage neither stops the API nor lifts the limits. Redis is tried
        again at most every ``AWAY_RETRY_SECONDS``, so an outage adds no failed connection
        to every request."""
        loop = asyncio.get_running_loop()
        if self._retry_at is not None and time.monotonic() < self._retry_at:
            return await operation(self._fallback)
        try:
            try:
                result = await operation(self._store())
            except RedisConnectionError:
                self._stores.pop(loop, None)
                result = await operation(self._store())
        except (RedisConnectionError, OSError):
            if self._retry_at is None:
                logger.warning(
                    "Redis unreachable: rate limits are counted by each process until it is back"
                )
            self._retry_at = time.monotonic() + AWAY_RETRY_SECONDS
            return await operation(self._fallback)
        if self._retry_at is not None:
            self._retry_at = None
            logger.warning("Redis reachable again: rate limits are shared by every process")
        return result

    async def set(
        self, key: str, value: str | bytes, expires_in: int | timedelta | None = None
    ) -> None:
        await self._call(lambda store: store.set(key, value, expires_in))

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        result: bytes | None = await self._call(lambda store: store.get(key, renew_for))
        return result

    async def delete(self, key: str) -> None:
        await self._call(lambda store: store.delete(key))

    async def delete_all(self) -> None:
        await self._call(lambda store: store.delete_all())

    async def exists(self, key: str) -> bool:
        return bool(await self._call(lambda store: store.exists(key)))

    async def expires_in(self, key: str) -> int | None:
        result: int | None = await self._call(lambda store: store.expires_in(key))
        return result


def rate_limit_store(settings: Settings) -> Store:
    if settings.redis.url:
        return LoopLocalRedisStore(settings.redis.url, namespace="agency-rate-limit")
    return LocalStore()


def _header(description: str) -> OpenAPIHeader:
    return OpenAPIHeader(schema=Schema(type=OpenAPIType.INTEGER), description=description)


HEADERS = {
    "Retry-After": _header("Seconds to wait before retrying."),
    "RateLimit-Limit": _header("Requests allowed in the window."),
    "RateLimit-Remaining": _header("Requests left in the window."),
    "RateLimit-Reset": _header("Seconds until the window resets."),
}


def document_rate_limits(app: Litestar, schema: OpenAPI) -> None:
    """Each rate-limited operation's success and 429 answers list the headers they carry."""
    if schema.components.headers is None:
        schema.components.headers = {}
    schema.components.headers.update(HEADERS)
    ref = {name: Reference(ref=f"#/components/headers/{name}") for name in HEADERS}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler) or not rate_limited(handler):
                continue
            item = (schema.paths or {}).get(route.path_format or "/")
            for method in handler.http_methods:
                operation = getattr(item, method.lower(), None)
                for status, response in (operation.responses or {}).items() if operation else []:
                    if not isinstance(response, OpenAPIResponse):
                        continue
                    if status.startswith("2") or status == "429":
                        names = [n for n in HEADERS if n != "Retry-After" or status == "429"]
                        response.headers = {
                            **(response.headers or {}),
                            **{n: ref[n] for n in names},
                        }
