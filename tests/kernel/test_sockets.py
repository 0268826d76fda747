"""The networks' HTTP calls on plain asyncio sockets (``agency.kernel.sockets``), against a
real TCP server on loopback: connections kept and reused, one the server closed while idle
replaced without an error, TLS checked against the authority trusted, timeouts and refusals
mapped to httpx's errors as before."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from dramatiq.brokers.stub import StubBroker

from agency.config import ConnectorSettings, Settings
from agency.connector.registry import Registry
from agency.kernel.runtime import Runtime
from agency.kernel.sockets import AsyncioTransport
from tests.support.smtp import _certificate


class Server:
    """A loopback HTTP/1.1 server: answers each request ``hello <n>`` on its connection;
    ``close_after`` closes a connection after that many answers (keep-alive announced),
    ``delay`` waits before answering."""

    def __init__(self, close_after: int | None = None, delay: float = 0.0) -> None:
        self.close_after = close_after
        self.delay = delay
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        answered = 0
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                await asyncio.sleep(self.delay)
                answered += 1
                body = f"hello {answered}".encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
                if self.close_after is not None and answered >= self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def serve(server: Server, tls: ssl.SSLContext | None = None) -> asyncio.Server:
    return await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=tls)


def url(listening: asyncio.Server, scheme: str = "http") -> str:
    port = listening.sockets[0].getsockname()[1]
    return f"{scheme}://127.0.0.1:{port}/"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=AsyncioTransport(), timeout=2) as client:
        yield client


async def test_a_connection_is_kept_and_used_again(client: httpx.AsyncClient) -> None:
    server = Server()
    async with await serve(server) as listening:
        first = await client.get(url(listening))
        second = await client.get(url(listening))
    assert (first.status_code, first.text, second.text) == (200, "hello 1", "hello 2")
    assert server.connections == 1


async def test_a_connection_the_server_closed_while_idle_is_replaced(
    client: httpx.AsyncClient,
) -> None:
    """The server closes after each answer without saying so: the pooled connection is seen
    closed before the next request, which goes out on a new one (no error, nothing lost)."""
    server = Server(close_after=1)
    async with await serve(server) as listening:
        answers = []
        for _ in range(3):
            answers.append((await client.get(url(listening))).text)
            await asyncio.sleep(0.05)  # the server's FIN arrives
    assert answers == ["hello 1", "hello 1", "hello 1"]
    assert server.connections == 3


async def test_tls_is_checked_against_the_authority_trusted(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    server = Server()
    async with await serve(server, tls) as listening:
        trusting = ssl.create_default_context(cafile=str(cert))
        async with httpx.AsyncClient(transport=AsyncioTransport(verify=trusting)) as client:
            first = await client.get(url(listening, "https"))
            second = await client.get(url(listening, "https"))
        assert (first.text, second.text, server.connections) == ("hello 1", "hello 2", 1)
        async with httpx.AsyncClient(transport=AsyncioTransport()) as stranger:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await stranger.get(url(listening, "https"))


async def test_a_slow_answer_is_a_read_timeout() -> None:
    async with (
        await serve(Server(delay=1.0)) as listening,
        httpx.AsyncClient(transport=AsyncioTransport(), timeout=0.2) as client,
    ):
        with pytest.raises(httpx.ReadTimeout):
            await client.get(url(listening))


async def test_a_refused_connection_is_a_connect_error(client: httpx.AsyncClient) -> None:
    listening = await serve(Server())
    address = url(listening)
    listening.close()
    await listening.wait_closed()
    with pytest.raises(httpx.ConnectError):
        await client.get(address)


@pytest.mark.parametrize(("idle", "connections"), [(0.05, 1), (0.6, 2)])
async def test_a_connection_idle_longer_than_the_keepalive_is_not_used_again(
    idle: float, connections: int
) -> None:
    """The networks' client lets go of a connection idle longer than
    ``AGENCY_HTTP_KEEPALIVE_SECONDS``: many servers close theirs after 5 s (httpx kept them
    5 s too), and a call sent as the server closes the connection gets no answer."""
    server = Server()
    listening = await serve(server)
    settings = Settings(connectors=ConnectorSettings(http_keepalive_seconds=0.3, http_pools=1))
    runtime = Runtime(settings, StubBroker(), Registry([]))
    try:
        assert (await runtime.http.get(url(listening))).text == "hello 1"
        await asyncio.sleep(idle)
        second = await runtime.http.get(url(listening))
        assert second.text == ("hello 2" if connections == 1 else "hello 1")
        assert server.connections == connections
    finally:
        await runtime.dispose_current_loop()
        listening.close()
