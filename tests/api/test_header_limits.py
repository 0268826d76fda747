"""Oversized request headers are refused with 431 by a real uvicorn server, before any use."""

from __future__ import annotations

import json
import select
import socket
from collections.abc import Iterator

import httpx
import pytest
from litestar import Litestar

from agency.kernel.serving import HEAD_MARGIN, HeadLimitedHttpToolsProtocol, uvicorn_options
from tests.conftest import LiveServer
from tests.helpers import assert_problem

MIB = 1_048_576


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/health"), ("GET", "/agency"), ("POST", "/auth/login")]
)
def test_a_huge_authorization_header_is_431(
    live_server: LiveServer, method: str, path: str
) -> None:
    # uvicorn's default protocol reads the head whole: the app's own guard answers.
    response = httpx.request(
        method,
        live_server.url + path,
        headers={"Authorization": "Bearer " + "a" * MIB},
        json={"email": "x@example.com", "password": "x"},
        timeout=30,
    )
    assert_problem(response, 431, "header")


def test_many_small_headers_add_up(live_server: LiveServer) -> None:
    headers = {f"X-Filler-{i}": "v" * 100 for i in range(200)}  # about 22 KB
    assert_problem(httpx.get(live_server.url + "/health", headers=headers, timeout=30), 431)
    assert httpx.get(live_server.url + "/health", timeout=30).status_code == 200


@pytest.fixture(scope="module")
def bounded_server(app: Litestar) -> Iterator[LiveServer]:
    """The protocol ``agency serve`` runs with."""
    server = LiveServer(app)
    server.server.config.http = uvicorn_options()["http"]
    with server:
        yield server


def test_the_server_stops_reading_a_huge_head(bounded_server: LiveServer) -> None:
    assert bounded_server.server.config.http is HeadLimitedHttpToolsProtocol
    sent = 0
    with socket.create_connection(("127.0.0.1", bounded_server.port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ")
        chunk = b"a" * 16384
        while sent < MIB:
            if select.select([sock], [], [], 0.01)[0]:
                break  # the server answered mid-head
            try:
                sock.sendall(chunk)
            except OSError:
                break
            sent += len(chunk)
        answer = b""
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431"), answer[:200]
    assert json.loads(body)["status"] == 431
    # It stopped after the limit, not after a mebibyte.
    assert sent < 16_384 + HEAD_MARGIN + 4 * 65536, sent


def test_ordinary_requests_pass_the_bounded_server(bounded_server: LiveServer) -> None:
    response = httpx.post(
        bounded_server.url + "/auth/login",
        json={"email": "nobody@example.com", "password": "x" * 200_000},
        headers={"Authorization": "Bearer " + "b" * 4000},
        timeout=30,
    )
    # A large body after a small head is not a large head.
    assert response.status_code in (400, 401, 413, 422), response.text
    assert httpx.get(bounded_server.url + "/health", timeout=30).status_code == 200
