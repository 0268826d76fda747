"""Calling a network with the channel's bearer token, and reading what it answers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from agency.connector import Connector
from agency.connector.http import call, json_body


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 timestamp (``Z`` or an offset; naive ones are UTC), else None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def count(metrics: Mapping[str, Any], *names: str) -> int | None:
    """The first of ``names`` that holds a number (networks rename their counters)."""
    for name in names:
        value = metrics.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
    return None


def network_words(network: str, *keys: str) -> Callable[[httpx.Response], str | None]:
    """``describe`` for :func:`call`: the first message found under ``keys`` of a JSON body.

    A key may name a list of error objects (X's ``errors``); their first ``detail`` or
    ``message`` is taken.
    """

    def describe(response: httpx.Response) -> str | None:
        try:
            body = response.json()
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        for key in keys:
            text = body.get(key)
            if isinstance(text, list) and text and isinstance(text[0], dict):
                text = text[0].get("detail") or text[0].get("message")
            if isinstance(text, str) and text:
                return f"{network} answered: {text}"
        return None

    return describe


async def bearer_call(
    connector: Connector,
    method: str,
    path: str,
    *,
    describe: Callable[[httpx.Response], str | None],
    publishing: bool = False,
    headers: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> Any:
    """``method path`` under the connector's base URL with its bearer token; the JSON answer.

    Failures are typed by :func:`agency.connector.http.call`; an empty answer is None.
    """
    url = f"{connector.base_url}{path}"
    sent = {"Authorization": f"Bearer {connector.credentials.access_token}", **(headers or {})}
    response = await call(
        lambda: connector.http.request(method, url, headers=sent, **kwargs),
        publishing=publishing,
        describe=describe,
    )
    return json_body(response) if response.content else None
