"""Calls to hosts a caller chose: one policy, enforced where the socket is opened.

A caller names a host (a Mastodon or Bluesky server, a webhook, an OIDC issuer) and our
servers call it. Unchecked, that name could be the database next door, an admin port on
loopback or the cloud metadata endpoint (server-side request forgery). Every such call goes
through :func:`transport` (or :func:`client`), which applies :class:`OutboundPolicy`:

* the URL: ``https`` (``http`` only where the operator allows it), no credentials, no local
  name (``localhost``); a literal address, in any form the resolver accepts (``[::1]``,
  ``2130706433``, ``0x7f.1``), is judged like a resolved one;
* at connection time, every address the name resolves to: none may be loopback, private,
  link-local (``169.254.169.254``), shared (CGNAT), multicast, reserved or unspecified, nor
  an IPv6 address carrying such an IPv4 one (IPv4-mapped or -compatible, NAT64, 6to4,
  Teredo). The socket is opened to one of the addresses checked, never to a second lookup,
  so a name that changes between the check and the call (DNS rebinding) gains nothing; the
  Host header and the TLS server name stay the URL's host, so certificates are verified as
  usual;
* redirects: each request that reaches the transport is checked, a followed redirect like
  the first hop; the clients built here do not follow redirects at all.

A refusal is :class:`OutboundRefused` (an ``httpx.ConnectError``), raised before any packet
is sent; :func:`refusal_in` finds it behind the errors a connector wraps it in. Its
``reason`` never includes an address a name resolved to (that would map an internal DNS).

The operator names private hosts that may be called all the same (``allowed_hosts``: a
self-hosted identity provider, the local peers of the tests); plain ``http`` is allowed to
those, and to every host when ``allow_http`` is set. No proxy from the environment is used.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from typing import Any

import httpcore
import httpx

from agency.config import OutboundSettings
from agency.kernel.sockets import tls_context

IPAddress = IPv4Address | IPv6Address

_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_SHARED = ip_network("100.64.0.0/10")  # RFC 6598, carrier-grade NAT
_NAT64 = ip_network("64:ff9b::/96")  # RFC 6052: the IPv4 address is the last 32 bits
_NAT64_LOCAL = ip_network("64:ff9b:1::/48")  # RFC 8215: local use, any prefix length
_IPV4_COMPATIBLE = ip_network("::/96")  # deprecated ::a.b.c.d
_IPV4_TRANSLATED = ip_network("::ffff:0:0:0/96")  # RFC 2765 SIIT
_HTTPX_LIMITS = httpx.Limits()  # the pool sizes httpx would use


@dataclass(frozen=True)
class OutboundPolicy:
    """What the operator allows beyond public HTTPS hosts."""

    allowed_hosts: frozenset[str] = frozenset()
    allow_http: bool = False

    @classmethod
    def from_settings(cls, settings: OutboundSettings) -> OutboundPolicy:
        return cls(
            frozenset(h.strip().lower().rstrip(".") for h in settings.allowed_hosts if h.strip()),
            settings.allow_http,
        )

    def allows(self, host: str, port: int | None) -> bool:
        """``host`` (and ``port``) is one the operator named: no address check for it."""
        name = host.lower().rstrip(".")
        shown = f"[{name}]" if ":" in name else name
        return name in self.allowed_hosts or (
            port is not None and f"{shown}:{port}" in self.allowed_hosts
        )


class OutboundRefused(httpx.ConnectError):
    """The policy refused a call before anything was sent; ``reason`` completes "<url> ..."."""

    def __init__(self, url: str, reason: str, request: httpx.Request | None = None) -> None:
        super().__init__(f"{url} {reason}", request=request)
        self.url = url
        self.reason = reason


class _AddressRefused(httpcore.ConnectError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def embedded_ipv4(ip: IPv6Address) -> tuple[IPv4Address, ...]:
    """The IPv4 addresses an IPv6 address carries (a packet to it reaches them)."""
    if ip.ipv4_mapped is not None:
        return (ip.ipv4_mapped,)
    if ip in _IPV4_TRANSLATED or ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return (IPv4Address(int(ip) & 0xFFFF_FFFF),)
    if ip.sixtofour is not None:
        return (ip.sixtofour,)
    if ip.teredo is not None:
        return ip.teredo  # (server, client): either may be the one reached
    return ()


def address_problem(ip: IPAddress) -> str | None:
    """What kind of address ``ip`` is when it may not be called ("a loopback address")."""
    if isinstance(ip, IPv6Address):
        ip = IPv6Address(int(ip))  # without a %zone
        if ip in _NAT64_LOCAL:
            return "a local-use NAT64 address"
        if not ip.is_loopback and not ip.is_unspecified:
            for inner in embedded_ipv4(ip):
                problem = address_problem(inner)
                if problem:
                    return f"{problem} inside an IPv6 address"
            if ip.ipv4_mapped is not None or ip in _IPV4_TRANSLATED or ip in _NAT64:
                return None  # the very IPv4 address it reaches, judged just above
    checks = (
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip in _SHARED, "a shared (carrier-grade NAT) address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved or not ip.is_global, "a reserved address"),
    )
    return next((problem for refused, problem in checks if refused), None)


def literal_address(host: str) -> IPAddress | None:
    """The address ``host`` spells, in any form the system resolver reads as one."""
    bare = host.strip("[]").split("%", 1)[0]
    try:
        return ip_address(bare)
    except ValueError:
        pass
    try:  # 2130706433, 0x7f.1, 017700000001, 127.1: inet_aton's forms, which getaddrinfo takes
        return IPv4Address(socket.inet_aton(bare))
    except (OSError, ValueError):
        return None


def check_url(url: str | httpx.URL, policy: OutboundPolicy) -> httpx.URL:
    """The parsed URL, or :class:`OutboundRefused` for what can be told before resolving."""
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise OutboundRefused(str(url), "is not a valid URL") from None
    host = parsed.host.lower().rstrip(".")

    def refuse(reason: str) -> OutboundRefused:
        return OutboundRefused(str(url), reason)

    if parsed.scheme not in ("https", "http") or not host:
        raise refuse("is not an https:// URL with a host")
    named = policy.allows(host, parsed.port or (443 if parsed.scheme == "https" else 80))
    if not named:  # where it goes first: that is what matters most
        if host in _LOCAL_NAMES or host.endswith(".localhost"):
            raise refuse("names this machine (a local name)")
        ip = literal_address(host)
        problem = address_problem(ip) if ip is not None else None
        if problem:
            raise refuse(f"is {problem}")
    if parsed.scheme == "http" and not (policy.allow_http or named):
        raise refuse("must use https://")
    if parsed.userinfo:
        raise refuse("must not carry credentials")
    return parsed


def refusal_in(error: BaseException) -> OutboundRefused | None:
    """The policy's refusal behind ``error`` (a connector wraps transport errors), if any."""
    seen: BaseException | None = error
    for _ in range(10):
        if seen is None or isinstance(seen, OutboundRefused):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


async def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise httpcore.ConnectError(f"{host} could not be resolved ({exc})") from exc
    return list(dict.fromkeys(ip_address(str(info[4][0]).split("%", 1)[0]) for info in found))


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host itself, checks every address, connects to a checked one."""

    def __init__(self, policy: OutboundPolicy, inner: httpcore.AsyncNetworkBackend) -> None:
        self._policy = policy
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if self._policy.allows(host, port):
            return await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        try:  # the lookup counts in the connect timeout, as in httpcore's own backends
            async with asyncio.timeout(timeout):
                addresses = await resolve(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"{host} was not resolved in time") from exc
        for address in addresses:
            # One bad address refuses the name: an answer mixing public and private
            # addresses is how rebinding is tried.
            problem = address_problem(address)
            if problem:
                raise _AddressRefused(f"resolves to {problem}")
        error: Exception | None = None
        for address in addresses:  # TLS still names the host (httpcore's origin), not this
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                error = exc
        raise error or httpcore.ConnectError(f"{host} has no address")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise _AddressRefused("is a local socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with every request checked against ``policy``."""

    def __init__(
        self,
        policy: OutboundPolicy,
        inner: httpcore.AsyncNetworkBackend | None = None,
        limits: httpx.Limits = _HTTPX_LIMITS,
    ) -> None:
        super().__init__(verify=tls_context())
        self.policy = policy
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=tls_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_CheckedBackend(policy, inner or httpcore.AnyIOBackend()),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            check_url(request.url, self.policy)
        except OutboundRefused as exc:
            exc.request = request
            raise
        try:
            return await super().handle_async_request(request)
        except httpx.ConnectError as exc:
            if isinstance(exc.__cause__, _AddressRefused):
                url = str(request.url.copy_with(path="/", query=None, fragment=None))[:-1]
                raise OutboundRefused(url, exc.__cause__.reason, request) from exc
            raise


def transport(policy: OutboundPolicy) -> GuardedTransport:
    return GuardedTransport(policy)


def client(policy: OutboundPolicy, **options: Any) -> httpx.AsyncClient:
    """An httpx client for caller-chosen hosts; redirects are not followed unless asked."""
    options.setdefault("follow_redirects", False)
    limits = options.pop("limits", _HTTPX_LIMITS)
    return httpx.AsyncClient(transport=GuardedTransport(policy, limits=limits), **options)


__all__ = [
    "GuardedTransport",
    "OutboundPolicy",
    "OutboundRefused",
    "address_problem",
    "check_url",
    "client",
    "embedded_ipv4",
    "literal_address",
    "refusal_in",
    "transport",
]
