"""A stand-in network for the collection tests: post and account metrics on loopback.

It answers what the test sets (``posts[post_id]``: the counters of a post, ``followers``),
counts every call, and can be told to misbehave on the next calls (``plan``), or on the next
reads of a post (``post_plan``): ``"429:<seconds>"``
(rate limited, with Retry-After), ``"500"``, ``"401"`` (the token is refused; the connector
has no refresh token, so the channel then needs reconnecting), ``"nonsense"`` (a negative
count). The connector maps its counters the way the real ones do (likes are reactions...).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, ClassVar

from litestar import Litestar, Request, Response, get
from litestar.params import FromPath

from agency.connector import AccountMetrics, Capability, Connector, Limits, PostMetrics
from agency.connector.http import call, json_body

TOKEN = "metricnet-token"


@dataclass
class MetricNetState:
    __test__ = False

    posts: dict[str, dict[str, Any]] = field(default_factory=dict)
    followers: int | None = 1000
    plan: deque[str] = field(default_factory=deque)  # the next calls, whatever they read
    post_plan: deque[str] = field(default_factory=deque)  # the next reads of a post
    calls: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def build_metricnet(state: MetricNetState) -> Litestar:
    def misbehaving(path: str, post: bool = False) -> Response[Any] | None:
        with state.lock:
            state.calls.append(path)
            step = state.plan.popleft() if state.plan else None
            if step is None and post and state.post_plan:
                step = state.post_plan.popleft()
        if step is None:
            return None
        if step.startswith("429"):
            seconds = step.split(":")[1]
            return Response(
                {"error": "slow down"}, status_code=429, headers={"Retry-After": seconds}
            )
        if step == "500":
            return Response({"error": "down"}, status_code=500)
        if step == "401":
            return Response({"error": "invalid token"}, status_code=401)
        if step == "nonsense":
            return Response({"likes": -3, "views": 10})
        raise AssertionError(step)

    def authorized(request: Request[Any, Any, Any]) -> bool:
        return request.headers.get("authorization") == f"Bearer {TOKEN}"

    @get("/posts/{post_id:str}/metrics", sync_to_thread=False)
    def post_metrics(post_id: FromPath[str], request: Request[Any, Any, Any]) -> Response[Any]:
        odd = misbehaving(f"/posts/{post_id}/metrics", post=True)
        if odd is not None:
            return odd
        if not authorized(request):
            return Response({"error": "invalid token"}, status_code=401)
        return Response(state.posts.get(post_id, {}))

    @get("/account", sync_to_thread=False)
    def account(request: Request[Any, Any, Any]) -> Response[Any]:
        odd = misbehaving("/account")
        if odd is not None:
            return odd
        if not authorized(request):
            return Response({"error": "invalid token"}, status_code=401)
        return Response({"followers": state.followers})

    return Litestar([post_metrics, account])


class MetricNetConnector(Connector):
    __test__ = False
    network: ClassVar[str] = "metricnet"
    display_name: ClassVar[str] = "MetricNet"
    default_base_url: ClassVar[str] = "http://metricnet.invalid"
    limits = Limits(max_text_length=500)
    capabilities = frozenset({Capability.POST_METRICS, Capability.ACCOUNT_METRICS})

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credentials.access_token}"}

    async def post_metrics(self, post_id: str) -> PostMetrics:
        response = await call(
            lambda: self.http.get(
                f"{self.base_url}/posts/{post_id}/metrics", headers=self._headers()
            )
        )
        body = json_body(response)
        return PostMetrics(
            impressions=body.get("views"),
            reach=body.get("reach"),
            likes=body.get("likes"),
            comments=body.get("replies"),
            shares=body.get("boosts"),
            clicks=body.get("clicks"),
            raw=body,
        )

    async def account_metrics(self) -> AccountMetrics:
        response = await call(
            lambda: self.http.get(f"{self.base_url}/account", headers=self._headers())
        )
        body = json_body(response)
        return AccountMetrics(followers=body.get("followers"), raw=body)
