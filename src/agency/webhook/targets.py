"""Where a webhook may go: public HTTPS endpoints, never the servers next to ours.

An agency types the URL, so a careless or hostile one could make our workers call an
internal service (SSRF). The URL is checked when it is saved (scheme, credentials, literal
addresses, ``localhost``), and every delivery connects only to addresses checked at
connection time: a name that resolves to a private address, today or after a DNS change, is
refused before a byte is sent. ``AGENCY_WEBHOOKS__ALLOW_PRIVATE_TARGETS`` lifts both checks
(tests, intranets) and allows plain ``http``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import urlsplit

import httpcore
import httpx

MAX_URL_LENGTH = 2000
_LOCAL_NAMES = ("localhost", "localhost.", "ip6-localhost", "ip6-loopback")


def is_public_address(address: str) -> bool:
    """A globally routable unicast address (not loopback, private, link-local, CGNAT...)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def target_problems(url: str, allow_private: bool) -> list[str]:
    """What is wrong with ``url`` as a webhook target, in plain words (empty: nothing)."""
    try:
        parts = urlsplit(url)
        port = parts.port
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL):
        return ["is not a valid URL"]
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        return ["must start with https://" if not allow_private else "must be http(s)"]
    host = parts.hostname
    if not host:
        return ["has no host"]
    problems = []
    if parts.username is not None or parts.password is not None:
        problems.append("must not carry credentials; verify our signature instead")
    if parts.fragment:
        problems.append("must not have a #fragment (it is never sent)")
    if port == 0:
        problems.append("has an invalid port")
    if not allow_private and _is_private_host(host):
        problems.append(f"points to a private or loopback address ({host})")
    return problems


def _is_private_host(host: str) -> bool:
    if host in _LOCAL_NAMES or host.endswith((".localhost", ".localhost.")):
        return True
    try:
        return not is_public_address(host)
    except ValueError:
        return False  # a name: checked when a delivery connects


class PrivateAddressRefused(httpcore.ConnectError):
    pass


class _PublicOnlyBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host itself and connects only to public addresses."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            found = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise httpcore.ConnectError(f"{host} could not be resolved ({exc})") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
        private = [a for a in addresses if not is_public_address(a)]
        if private:
            raise PrivateAddressRefused(
                f"{host} resolves to {private[0]}, a private or loopback address"
            )
        error: Exception | None = None
        for address in addresses:  # the TLS name stays the host: certificates still match
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
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
        raise httpcore.ConnectError("webhooks are never sent to a local socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    # Loading the CA bundle takes milliseconds: once per process, not per delivery.
    return httpx.create_ssl_context()


class _PublicOnlyTransport(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__(verify=_tls())
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=_tls(), network_backend=_PublicOnlyBackend(httpcore.AnyIOBackend())
        )


def transport(allow_private: bool) -> httpx.AsyncHTTPTransport:
    """A transport for one delivery: guarded unless private targets are allowed."""
    return httpx.AsyncHTTPTransport(verify=_tls()) if allow_private else _PublicOnlyTransport()
