"""httpcore's network layer on plain asyncio streams, for the calls to the networks.

httpcore runs on asyncio through anyio: every read and write enters a cancel scope, and
every check of an idle pooled connection (each time a request starts or ends, for each
connection of the pool) builds the socket's whole attribute table, with a ``getpeername``
system call. At hundreds of publish calls a second this was a quarter of a worker's CPU
(``benchmarks/publish_profile.py``). :class:`AsyncioBackend` keeps the socket at hand and
times reads and writes with :func:`asyncio.timeout`; httpcore's errors are the same
(``ConnectError``, ``ReadTimeout``...), so httpx maps them as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Awaitable, Iterable
from functools import lru_cache
from typing import Any

import httpcore
import httpx
from httpcore._utils import is_socket_readable

# What a read asks for at most (httpcore asks for 64 KiB).
_LIMIT = 2**16


class AsyncioStream(httpcore.AsyncNetworkStream):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._socket: socket.socket | None = writer.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109 - httpcore's interface
        try:
            if timeout is None:
                return await self._reader.read(max_bytes)
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(str(exc) or "read timed out") from exc
        except OSError as exc:
            raise httpcore.ReadError(str(exc)) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109 - httpcore's interface
        if not buffer:
            return
        try:
            self._writer.write(buffer)
            if timeout is None:
                await self._writer.drain()
            else:
                async with asyncio.timeout(timeout):
                    await self._writer.drain()
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(str(exc) or "write timed out") from exc
        except (OSError, RuntimeError) as exc:  # RuntimeError: written after the close
            raise httpcore.WriteError(str(exc)) from exc

    async def aclose(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):  # already broken: closed all the same
            await self._writer.wait_closed()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError as exc:
            await self.aclose()
            raise httpcore.ConnectTimeout("TLS handshake timed out") from exc
        except (OSError, ssl.SSLError) as exc:
            await self.aclose()
            raise httpcore.ConnectError(str(exc)) from exc
        return AsyncioStream(self._reader, self._writer)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # An idle connection with something to read: the server closed it (or broke
            # the protocol); either way it is not used again.
            return (
                self._writer.is_closing()
                or self._reader.at_eof()
                or self._reader.exception() is not None
                or is_socket_readable(self._socket)
            )
        if info == "socket":
            return self._socket
        if info == "ssl_object":
            return self._writer.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._writer.get_extra_info("sockname")
        if info == "server_addr":
            return self._writer.get_extra_info("peername")
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        local = (local_address, 0) if local_address else None
        opening = asyncio.open_connection(host, port, local_addr=local, limit=_LIMIT)
        return await _opened(f"{host}:{port}", opening, timeout, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        opening = asyncio.open_unix_connection(path, limit=_LIMIT)
        return await _opened(path, opening, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def _opened(
    where: str,
    opening: Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]],
    timeout: float | None,  # noqa: ASYNC109 - httpcore's interface
    socket_options: Iterable[httpcore.SOCKET_OPTION] | None,
) -> AsyncioStream:
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await opening
    except TimeoutError as exc:
        raise httpcore.ConnectTimeout(f"{where} did not answer in time") from exc
    except OSError as exc:
        raise httpcore.ConnectError(str(exc)) from exc
    sock = writer.get_extra_info("socket")
    for option in socket_options or ():
        sock.setsockopt(*option)
    return AsyncioStream(reader, writer)


@lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """Loading the CA bundle takes milliseconds: once per process, not per client."""
    return httpx.create_ssl_context()


class AsyncioTransport(httpx.AsyncHTTPTransport):
    """httpx's transport on :class:`AsyncioBackend` (or ``backend``, which may wrap it);
    ``verify``: the authorities trusted (the system's by default)."""

    def __init__(
        self,
        limits: httpx.Limits = httpx.Limits(),
        backend: httpcore.AsyncNetworkBackend | None = None,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        verify = verify or tls_context()
        super().__init__(verify=verify, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=verify,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend or AsyncioBackend(),
        )
