"""A runtime whose clients for the networks keep every answer, to count the calls a test's
worker made."""

from __future__ import annotations

from typing import Any

import httpx

from agency.kernel.runtime import Runtime


class WatchedRuntime(Runtime):
    """The runtime whose clients for the networks keep every answer, the worker's too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.answers: list[httpx.Response] = []

    def _client(self, guarded: bool) -> httpx.AsyncClient:
        client = super()._client(guarded)
        hooks = client.event_hooks["response"]
        if self._keep not in hooks:
            hooks.append(self._keep)
        return client

    async def _keep(self, response: httpx.Response) -> None:
        await response.aread()
        self.answers.append(response)

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        """The requests sent to the networks at ``path`` (on any server), oldest first."""
        return [
            answer.request
            for answer in self.answers
            if answer.request.method == method and answer.request.url.path == path
        ]
