"""moto's S3 server on loopback, standing in for an S3 address a network hands out.

Some networks answer an upload request with an Amazon S3 address and a presigned POST form
(Pinterest's ``POST /v5/media``). That address is outside the network's own description, so
Prism cannot serve it, and a test must not reach the internet: :class:`Rerouted` is an httpx
transport, mounted for that one address in the test's client, that sends its requests to
moto's S3 server instead. The Host header is kept, so moto reads the bucket from the
virtual-hosted name as S3 does (``<bucket>.s3-accelerate.amazonaws.com``), and answers as
S3 does: 204 for a stored form upload, an XML ``<Error>`` otherwise. moto does not check the
form's policy or signature; a test asserts the fields that reached it instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import httpx
from moto.server import ThreadedMotoServer

from tests.support.servers import LOCALHOST, free_port


@contextmanager
def moto_s3() -> Iterator[str]:
    """The endpoint of a moto S3 server, stopped on exit."""
    server = ThreadedMotoServer(ip_address=LOCALHOST, port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_client(endpoint: str) -> Any:
    """A boto3 S3 client for moto's ``endpoint`` (path-style addresses)."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test-key",
        aws_secret_access_key="test-secret",
    )


class Rerouted(httpx.AsyncBaseTransport):
    """Sends every request to ``endpoint``'s server, with its path, query and Host unchanged."""

    def __init__(self, endpoint: str) -> None:
        self._to = httpx.URL(endpoint)
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        to = self._to
        # A copy: the request the client recorded keeps the address the connector used.
        moved = httpx.Request(
            request.method,
            request.url.copy_with(scheme=to.scheme, host=to.host, port=to.port),
            headers=request.headers,
            stream=request.stream,
            extensions=request.extensions,
        )
        return await self._inner.handle_async_request(moved)

    async def aclose(self) -> None:
        await self._inner.aclose()
