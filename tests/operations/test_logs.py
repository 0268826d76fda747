"""Tokens in URLs never reach the log, even with the HTTP client's loggers turned up."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from agency.kernel.logs import guard_http_logs, redact
from tests.conftest import LiveServer


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def test_a_token_in_a_query_string_is_redacted_from_httpx_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard_http_logs()
    with LiveServer(_ok) as server, caplog.at_level(logging.DEBUG, logger="httpx"):
        logging.getLogger("httpx").setLevel(logging.DEBUG)  # someone debugging a connector
        try:
            async with httpx.AsyncClient() as client:
                response = await client.get(
                    f"{server.url}/refresh_access_token",
                    params={"grant_type": "th_refresh_token", "access_token": "THsecret42"},
                )
        finally:
            guard_http_logs()
    assert response.status_code == 200
    requests = [r for r in caplog.records if r.name == "httpx" and "HTTP Request" in r.message]
    assert requests, caplog.text  # httpx did log the request...
    assert "THsecret42" not in caplog.text  # ...without the token
    assert "access_token=[redacted]" in caplog.text
    assert "grant_type=th_refresh_token" in caplog.text  # the rest stays readable


def test_redact_covers_the_networks_spellings_and_leaves_lookalikes() -> None:
    line = (
        "GET /o?client_secret=abc&fb_exchange_token=def&code=ghi&error_code=190"
        "&page_token=next&Access_Token=jkl"
    )
    cleaned = redact(line)
    for secret in ("abc", "def", "ghi", "jkl"):
        assert f"={secret}" not in cleaned
    assert "error_code=190" in cleaned
    assert "page_token=next" in cleaned
