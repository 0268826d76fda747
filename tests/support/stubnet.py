"""A stand-in network for the publishing tests and the scheduler benchmark.

A small HTTP API on loopback that keeps every post it accepts, honours ``Idempotency-Key``
(same key, same post: like Mastodon), lists an account's recent posts (for
reconciliation), takes comments and media files (uploaded before the post that names them,
as X, Mastodon or Bluesky take them), and can be told to misbehave on the next publish calls:
answer 429 with ``Retry-After``, answer 500, refuse, take the post and never answer
(the answer is lost: the caller cannot know), take the post and wait for a release so
that a test can kill the worker while the network holds the answer, or let the access
token expire (401). Tokens rotate as OAuth's do: ``POST /oauth/token`` trades the current
refresh token for a new access token (and a new refresh token), and only the current
access token is accepted.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, ClassVar

import httpx
from litestar import Litestar, Request, Response, delete, get, post
from litestar.params import FromPath

from agency.connector import (
    AuthExpired,
    Capability,
    Comment,
    Connector,
    Credentials,
    Limits,
    Media,
    Post,
    Published,
    Refused,
    StagedMedia,
)
from agency.connector.base import MediaRule, Problem, files_missing
from agency.connector.http import call, json_body

TOKEN = "stubnet-access-token"
PAGE = 100  # posts per page of the list of recent posts
# Who the network says wrote what the channel's token sent (the brand's account).
BRAND = "brand-account"
REFRESH_TOKEN = "stubnet-refresh-token"
CLIENT_ID = "stubnet-app"
CLIENT_SECRET = "stubnet-app-secret"


@dataclass
class StubNetState:
    __test__ = False

    latency: float = 0.0  # seconds per publish call (the benchmark's 20 ms)
    # Or seconds per publish call drawn for each call's body (the benchmark's distribution).
    delay: Callable[[dict[str, Any]], float] | None = None
    posts: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0
    # What the next publish calls do: "429:<seconds>", "500", "refuse", "lose", "hold",
    # "401" (the token presented expires now: refused, and every call with it after).
    plan: deque[str] = field(default_factory=deque)
    released: threading.Event = field(default_factory=threading.Event)
    received: threading.Event = field(default_factory=threading.Event)
    by_key: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Uploaded files by id: their type, size, SHA-256 and when they came (and expire: a post
    # naming an expired one is refused, as networks drop uploads no post took), and when
    # one was deleted (``deleted_at``: a post naming it is refused too).
    media: dict[str, dict[str, Any]] = field(default_factory=dict)
    media_ttl: float = 3600.0
    # Seconds an upload takes (the benchmark's 30 s photo), before it is stored.
    upload_delay: float = 0.0
    # What the next uploads do: "500", "refuse".
    upload_plan: deque[str] = field(default_factory=deque)
    # How many of the next deletes of an upload answer 503.
    deletes_fail: int = 0
    # The access token accepted now, and the refresh token that renews it (None: the grant
    # was revoked, renewing is refused).
    token: str | None = TOKEN
    refresh_token: str | None = REFRESH_TOKEN
    # Every token request, and the token each publish call carried with its answer's status.
    refreshes: list[dict[str, str]] = field(default_factory=list)
    publish_tries: list[tuple[str, int]] = field(default_factory=list)
    # The conversation (TalkNetConnector): what the next replies do ("lose": taken, the
    # answer never comes; "500"; "refuse"; "429:<seconds>"), the replies by idempotency key,
    # hide and delete calls, and what the next comment listings answer ("500").
    reply_plan: deque[str] = field(default_factory=deque)
    replies_by_key: dict[str, dict[str, Any]] = field(default_factory=dict)
    listing_plan: deque[str] = field(default_factory=deque)
    listings: int = 0
    moderated: list[tuple[str, str]] = field(default_factory=list)
    # What the next hides and deletes meet: "500", or "gone" (the comment was deleted).
    moderation_plan: deque[str] = field(default_factory=deque)

    def store(self, body: dict[str, Any], key: str | None, arrived: float) -> dict[str, Any]:
        """A post taken (the one of ``key`` when that key was seen: not taken twice)."""
        with self.lock:
            if key and key in self.by_key:
                return self.by_key[key]
            post_id = f"stub-{len(self.posts) + 1}"
            record = {
                "id": post_id,
                "text": body.get("text", ""),
                "media_ids": list(body.get("media_ids", [])),
                "created_at": datetime.now(UTC).isoformat(),
                "at": time.time(),
                "received_at": arrived,  # when the call arrived, before the latency
                "key": key,
                "account": body.get("account"),
            }
            self.posts.append(record)
            if key:
                self.by_key[key] = record
            return record

    def unknown_media(self, body: dict[str, Any], at: float) -> list[str]:
        """The uploads a post names that are not here (never, expired or deleted)."""
        return [
            m
            for m in body.get("media_ids", [])
            if m not in self.media
            or self.media[m]["expires_at"] < at
            or self.media[m].get("deleted_at")
        ]

    def expire_token(self) -> None:
        """The access token dies now (its refresh token still renews it)."""
        self.token = None

    def count(self, text: str) -> int:
        return sum(1 for p in self.posts if p["text"] == text)

    def say(
        self,
        post_id: str,
        text: str,
        author: str = "camille",
        name: str | None = None,
        ago: timedelta = timedelta(0),
        parent: str | None = None,
    ) -> str:
        """Someone of the audience comments under ``post_id`` (``ago``: that long ago)."""
        with self.lock:
            comment_id = f"c-{len(self.comments) + 1}"
            self.comments.append(
                {
                    "id": comment_id,
                    "post_id": post_id,
                    "text": text,
                    "author_id": author,
                    "author_name": name or author,
                    "created_at": (datetime.now(UTC) - ago).isoformat(),
                    "in_reply_to": parent,
                }
            )
        return comment_id

    def mention(self, text: str, author: str = "camille", ago: timedelta = timedelta(0)) -> str:
        """Someone posts ``text`` naming the brand's account, on a post of their own."""
        post_id = self.say("", text, author=author, ago=ago)
        with self.lock:
            self.comments[-1]["post_id"] = post_id
        return post_id

    def replies(self, text: str) -> list[dict[str, Any]]:
        """The brand's replies whose text is ``text``."""
        return [c for c in self.comments if c.get("author_id") == BRAND and c["text"] == text]


def moderation_failure(state: StubNetState) -> Response[Any] | None:
    """The answer the moderation plan gives the next hide or delete (None: it succeeds)."""
    step = state.moderation_plan.popleft() if state.moderation_plan else "ok"
    if step == "500":
        return Response({"error": "Internal error"}, status_code=500)
    if step == "gone":
        return Response({"error": "This comment was deleted by its author"}, status_code=404)
    return None


def build_stubnet(state: StubNetState) -> Litestar:
    def authorized(request: Request[Any, Any, Any]) -> bool:
        return state.token is not None and (
            request.headers.get("authorization") == f"Bearer {state.token}"
        )

    def presented(request: Request[Any, Any, Any]) -> str:
        return request.headers.get("authorization", "").removeprefix("Bearer ")

    def expired() -> Response[Any]:
        return Response({"error": "The access token expired"}, status_code=401)

    @post("/posts", status_code=201)
    async def create_post(request: Request[Any, Any, Any]) -> Response[Any]:
        if not authorized(request):
            state.publish_tries.append((presented(request), 401))
            return expired()
        arrived = time.time()
        state.calls += 1
        body = await request.json()
        if unknown := state.unknown_media(body, arrived):
            return Response({"error": f"unknown media {unknown}"}, status_code=400)
        wait = state.delay(body) if state.delay is not None else state.latency
        if wait:
            await asyncio.sleep(wait)
        step = state.plan.popleft() if state.plan else "ok"
        answers = {"401": 401, "500": 500, "refuse": 403}
        status = 429 if step.startswith("429") else answers.get(step, 201)
        state.publish_tries.append((presented(request), status))
        if step == "401":  # the token dies now: a new one comes only from /oauth/token
            state.token = None
            return expired()
        if step.startswith("429"):
            retry = step.split(":", 1)[1] if ":" in step else "30"
            return Response(
                {"error": "Too many requests"}, status_code=429, headers={"Retry-After": retry}
            )
        if step == "500":
            return Response({"error": "Internal error"}, status_code=500)
        if step == "refuse":
            return Response({"error": "This content breaks the rules"}, status_code=403)
        record = state.store(body, request.headers.get("idempotency-key"), arrived)
        if step == "lose":  # taken, but the answer never comes back in time
            await asyncio.sleep(3600)
        if step == "hold":  # taken; answer when the test says so
            state.received.set()
            await asyncio.to_thread(state.released.wait, 120)
        return Response(
            {"id": record["id"], "url": f"https://stub.invalid/{record['id']}"}, status_code=201
        )

    @post("/media", status_code=201)
    async def upload(request: Request[Any, Any, Any]) -> Response[Any]:
        if not authorized(request):
            return Response({"error": "invalid token"}, status_code=401)
        content = await request.body()
        if not content:
            return Response({"error": "empty file"}, status_code=400)
        step = state.upload_plan.popleft() if state.upload_plan else "ok"
        if state.upload_delay:
            await asyncio.sleep(state.upload_delay)
        if step == "500":
            return Response({"error": "Internal error"}, status_code=500)
        if step == "refuse":
            return Response({"error": "This file breaks the rules"}, status_code=403)
        arrived = time.time()
        with state.lock:
            media_id = f"m-{len(state.media) + 1}"
            state.media[media_id] = {
                "type": request.headers.get("content-type"),
                "size": len(content),
                "sha256": hashlib.sha256(content).hexdigest(),
                "received_at": arrived,
                "expires_at": arrived + state.media_ttl,
            }
        return Response({"id": media_id, "expires_in": state.media_ttl}, status_code=201)

    @delete("/media/{media_id:str}", status_code=200, sync_to_thread=False)
    def delete_upload(media_id: FromPath[str], request: Request[Any, Any, Any]) -> Response[Any]:
        """An upload no post took, deleted (as Mastodon's DELETE /api/v1/media/:id)."""
        if not authorized(request):
            return Response({"error": "invalid token"}, status_code=401)
        with state.lock:
            if state.deletes_fail > 0:
                state.deletes_fail -= 1
                return Response({"error": "Try again later"}, status_code=503)
            found = state.media.get(media_id)
            if found is None or found.get("deleted_at"):
                return Response({"error": "no such upload"}, status_code=404)
            found["deleted_at"] = time.time()
        return Response({}, status_code=200)

    @get("/posts", sync_to_thread=False)
    def recent(request: Request[Any, Any, Any]) -> Response[Any]:
        if not authorized(request):
            return Response({"error": "invalid token"}, status_code=401)
        since = float(request.query_params.get("since", "0"))
        after = int(request.query_params.get("after", "0"))  # the cursor: posts seen so far
        account = request.query_params.get("account")  # the account's own posts
        with state.lock:
            newer = [
                p
                for p in state.posts
                if p["at"] >= since and (account is None or p["account"] == account)
            ]
        page = newer[after : after + PAGE]
        more = after + PAGE < len(newer)
        return Response({"data": page, "next": str(after + PAGE) if more else None})

    @post("/posts/{post_id:str}/comments", status_code=201)
    async def comment(post_id: FromPath[str], request: Request[Any, Any, Any]) -> Response[Any]:
        if not authorized(request):
            return Response({"error": "invalid token"}, status_code=401)
        body = await request.json()
        key = request.headers.get("idempotency-key")
        step = state.reply_plan.popleft() if state.reply_plan and key else "ok"
        if step.startswith("429"):
            retry = step.split(":", 1)[1] if ":" in step else "30"
            return Response({"error": "Slow down"}, status_code=429, headers={"Retry-After": retry})
        if step == "500":
            return Response({"error": "Internal error"}, status_code=500)
        if step == "refuse":
            return Response({"error": "Replies are closed on this post"}, status_code=403)
        with state.lock:
            if key and key in state.replies_by_key:
                return Response(state.replies_by_key[key], status_code=201)
            record = {
                "id": f"c-{len(state.comments) + 1}",
                "post_id": post_id,
                "author_id": BRAND,
                "author_name": "Maison",
                "created_at": datetime.now(UTC).isoformat(),
                **body,
            }
            state.comments.append(record)
            if key:
                state.replies_by_key[key] = record
        if step == "lose":  # taken, but the answer never comes back in time
            await asyncio.sleep(3600)
        return Response(record, status_code=201)

    @get("/posts/{post_id:str}/comments", sync_to_thread=False)
    def comments(post_id: FromPath[str], request: Request[Any, Any, Any]) -> Response[Any]:
        if not authorized(request):
            return Response({"error": "invalid token"}, status_code=401)
        state.listings += 1
        if state.listing_plan and state.listing_plan.popleft() == "500":
            return Response({"error": "Internal error"}, status_code=500)
        since = request.query_params.get("since")
        with state.lock:
            items = [
                c
                for c in state.comments
                if c["post_id"] == post_id
                and c["id"] != post_id  # the post itself is no comment of its own
                and not c.get("deleted")
                and (since is None or c.get("created_at", "") >= since)
            ]
        return Response({"data": items})

    @get("/mentions", sync_to_thread=False)
    def mentions(request: Request[Any, Any, Any]) -> Response[Any]:
        """Posts naming the brand (``@brand-account`` in their text), its own replies too."""
        if not authorized(request):
            return Response({"error": "invalid token"}, status_code=401)
        since = request.query_params.get("since")
        with state.lock:
            items = [
                c
                for c in state.comments
                if f"@{BRAND}" in c.get("text", "")
                and not c.get("deleted")
                and (since is None or c.get("created_at", "") >= since)
            ]
        return Response({"data": items})

    @post("/comments/{comment_id:str}/hide", status_code=200)
    async def hide(comment_id: FromPath[str], request: Request[Any, Any, Any]) -> Response[Any]:
        if not authorized(request):
            return Response({"error": "invalid token"}, status_code=401)
        hidden = bool((await request.json()).get("hidden", True))
        failed = moderation_failure(state)
        if failed is not None:
            return failed
        state.moderated.append(("hide" if hidden else "show", comment_id))
        return Response({"id": comment_id, "hidden": hidden})

    @post("/comments/{comment_id:str}/delete", status_code=200)
    async def remove(comment_id: FromPath[str], request: Request[Any, Any, Any]) -> Response[Any]:
        if not authorized(request):
            return Response({"error": "invalid token"}, status_code=401)
        failed = moderation_failure(state)
        if failed is not None:
            return failed
        state.moderated.append(("delete", comment_id))
        for c in state.comments:
            if c["id"] == comment_id:
                c["deleted"] = True
        return Response({"id": comment_id, "deleted": True})

    @post("/oauth/token", status_code=200)
    async def token(request: Request[Any, Any, Any]) -> Response[Any]:
        """RFC 6749's refresh grant: a new access token and a new refresh token; the old
        ones stop working."""
        form = dict(await request.form())
        with state.lock:
            state.refreshes.append(form)
            if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
                return Response({"error": "invalid_client"}, status_code=401)
            if (
                form.get("grant_type") != "refresh_token"
                or state.refresh_token is None
                or form.get("refresh_token") != state.refresh_token
            ):
                return Response(
                    {
                        "error": "invalid_grant",
                        "error_description": "The refresh token was revoked by the user",
                    },
                    status_code=400,
                )
            n = len(state.refreshes)
            state.token = f"{TOKEN}-{n}"
            state.refresh_token = f"{REFRESH_TOKEN}-{n}"
            return Response(
                {
                    "access_token": state.token,
                    "refresh_token": state.refresh_token,
                    "token_type": "bearer",
                    "expires_in": 3600,
                }
            )

    return Litestar(
        [
            create_post,
            upload,
            delete_upload,
            recent,
            comment,
            comments,
            mentions,
            hide,
            remove,
            token,
        ],
        debug=False,
    )


class StubNetConnector(Connector):
    """The connector of the stand-in network."""

    __test__ = False
    network: ClassVar[str] = "stubnet"
    display_name: ClassVar[str] = "StubNet"
    default_base_url: ClassVar[str] = "http://stubnet.invalid"
    limits = Limits(
        max_text_length=500,
        max_posts_per_day=None,
        max_media=4,
        media={"image": MediaRule(frozenset({"image/jpeg", "image/png"}), max_bytes=5_000_000)},
    )
    capabilities = frozenset(
        {
            Capability.PUBLISH,
            Capability.FIND_PUBLISHED,
            Capability.REPLY,
            Capability.IDEMPOTENCY_KEY,
            Capability.STAGE_MEDIA,
        }
    )
    staged_media_lifetime = timedelta(hours=1)

    def _headers(self, key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.credentials.access_token}"}
        if key:
            headers["Idempotency-Key"] = key
        return headers

    def _account(self) -> dict[str, str]:
        """The account the channel is (when its credentials say), as the network knows it
        from the token: its posts are listed apart."""
        account = self.credentials.extra.get("account")
        return {"account": account} if account else {}

    @classmethod
    def delivery_problems(cls, post: Post) -> list[Problem]:
        return files_missing(post, "StubNet needs the file itself.")

    async def _upload(self, media: Media) -> dict[str, Any]:
        assert media.source is not None
        content = await media.source.read()
        response = await call(
            lambda: self.http.post(
                f"{self.base_url}/media",
                content=content,
                headers={**self._headers(), "Content-Type": media.mime_type},
            ),
            describe=_upload_words,
        )
        body: dict[str, Any] = json_body(response)
        return body

    async def stage_media(self, media: Media) -> StagedMedia:
        sent = datetime.now(UTC)
        body = await self._upload(media)
        return StagedMedia(str(body["id"]), sent + timedelta(seconds=float(body["expires_in"])))

    async def discard_staged(self, references: Sequence[str]) -> bool:
        for reference in references:
            url = f"{self.base_url}/media/{reference}"
            try:
                await call(partial(self.http.delete, url, headers=self._headers()))
            except Refused as gone:
                if gone.status != 404:
                    raise
        return True

    async def publish(self, post: Post) -> Published:
        self.check_publishable(post)
        media_ids = [m.staged or str((await self._upload(m))["id"]) for m in post.media]
        response = await call(
            lambda: self.http.post(
                f"{self.base_url}/posts",
                json={"text": post.text, "media_ids": media_ids, **self._account()},
                headers=self._headers(post.idempotency_key),
            ),
            publishing=True,
        )
        body = json_body(response)
        return Published(post_id=body["id"], url=body.get("url"))

    async def refresh(self, client_id: str | None, client_secret: str | None) -> Credentials:
        """A new access token from the refresh token at ``/oauth/token`` (the old one dies)."""
        current = self.credentials
        if not current.refresh_token or not client_id:
            raise AuthExpired("StubNet: the access cannot be renewed; reconnect.")
        try:
            response = await call(
                lambda: self.http.post(
                    f"{self.base_url}/oauth/token",
                    data={
                        "grant_type": "refresh_token",
                        "refresh_token": current.refresh_token or "",
                        "client_id": client_id,
                        "client_secret": client_secret or "",
                    },
                ),
                describe=_oauth_words,
            )
        except Refused as exc:  # invalid_grant: the grant is gone
            raise AuthExpired(exc.message, status=exc.status) from exc
        body = json_body(response)
        return Credentials(
            access_token=body["access_token"],
            refresh_token=body.get("refresh_token") or current.refresh_token,
            expires_at=datetime.now(UTC) + timedelta(seconds=int(body["expires_in"])),
            scopes=current.scopes,
            extra=dict(current.extra),
        )

    async def find_published(self, post: Post, since: datetime) -> Published | None:
        """The account's posts since ``since``, page after page (a page holds 100)."""
        cursor: str | None = "0"
        while cursor is not None:
            params = {"since": str(since.timestamp()), "after": cursor, **self._account()}
            response = await call(
                partial(self.http.get, f"{self.base_url}/posts", params=params,
                        headers=self._headers())
            )  # fmt: skip
            body = json_body(response)
            for item in body["data"]:
                if item["text"] == post.text:
                    return Published(post_id=item["id"])
            cursor = body.get("next")
        return None

    async def reply(self, comment: Comment, text: str) -> Comment:
        response = await call(
            lambda: self.http.post(
                f"{self.base_url}/posts/{comment.post_id}/comments",
                json={"text": text},
                headers=self._headers(),
            )
        )
        body = json_body(response)
        return Comment(comment_id=body["id"], post_id=comment.post_id, text=text)


def _upload_words(response: httpx.Response) -> str | None:
    """The network's own words for a refused upload (``{"error": ...}``)."""
    try:
        words = response.json().get("error")
    except ValueError:
        return None
    return f"StubNet refused the file: {words}" if words else None


def _error_words(response: httpx.Response) -> str | None:
    """The network's own words for a refusal (``{"error": ...}``)."""
    try:
        words = response.json().get("error")
    except ValueError:
        return None
    return f"TalkNet: {words}" if words else None


def _oauth_words(response: httpx.Response) -> str | None:
    """RFC 6749's error answer in words: the description, else the code."""
    try:
        body = response.json()
    except ValueError:
        return None
    words = body.get("error_description") or body.get("error")
    return f"StubNet refused to renew the access: {words}" if words else None


class QuotaNetConnector(StubNetConnector):
    """The same network with a rolling publishing quota (as Instagram's 50 per 24 h)."""

    network: ClassVar[str] = "quotanet"
    display_name: ClassVar[str] = "QuotaNet"
    limits = Limits(max_text_length=500, max_posts_per_day=2)


class TalkNetConnector(StubNetConnector):
    """The same network, with its conversation: comments read, replies sent with an
    idempotency key, comments hidden and deleted (the inbox's tests)."""

    network: ClassVar[str] = "talknet"
    display_name: ClassVar[str] = "TalkNet"
    limits = Limits(max_text_length=500, max_comment_length=280)
    capabilities = frozenset(
        {
            *StubNetConnector.capabilities,
            Capability.COMMENTS,
            Capability.MENTIONS,
            Capability.HIDE_COMMENT,
            Capability.DELETE_COMMENT,
        }
    )

    async def comments(self, post_id: str, since: datetime | None = None) -> list[Comment]:
        return [
            self._comment(item, post_id, item.get("in_reply_to"))
            for item in await self._listing(f"/posts/{post_id}/comments", since)
        ]

    async def mentions(self, since: datetime | None = None) -> list[Comment]:
        return [
            self._comment(item, item["id"], None)
            for item in await self._listing("/mentions", since)
        ]

    async def _listing(self, path: str, since: datetime | None) -> list[dict[str, Any]]:
        params = {"since": since.astimezone(UTC).isoformat()} if since else {}
        response = await call(
            lambda: self.http.get(f"{self.base_url}{path}", params=params, headers=self._headers())
        )
        return list(json_body(response)["data"])

    @staticmethod
    def _comment(item: dict[str, Any], post_id: str, parent_id: str | None) -> Comment:
        return Comment(
            comment_id=item["id"],
            post_id=post_id,
            text=item.get("text", ""),
            author_id=item.get("author_id"),
            author_name=item.get("author_name"),
            created_at=datetime.fromisoformat(item["created_at"]),
            parent_id=parent_id,
        )

    async def reply(self, comment: Comment, text: str) -> Comment:
        return await self._reply(comment, text, None)

    async def reply_once(self, comment: Comment, text: str, idempotency_key: str) -> Comment:
        return await self._reply(comment, text, idempotency_key)

    async def _reply(self, comment: Comment, text: str, key: str | None) -> Comment:
        response = await call(
            lambda: self.http.post(
                f"{self.base_url}/posts/{comment.post_id}/comments",
                json={"text": text, "in_reply_to": comment.comment_id},
                headers=self._headers(key),
            ),
            publishing=True,
            describe=_error_words,
        )
        body = json_body(response)
        return Comment(comment_id=body["id"], post_id=comment.post_id, text=text)

    async def hide_comment(self, comment: Comment, hidden: bool = True) -> None:
        await call(
            lambda: self.http.post(
                f"{self.base_url}/comments/{comment.comment_id}/hide",
                json={"hidden": hidden},
                headers=self._headers(),
            ),
            describe=_error_words,
        )

    async def delete_comment(self, comment: Comment) -> None:
        await call(
            lambda: self.http.post(
                f"{self.base_url}/comments/{comment.comment_id}/delete", headers=self._headers()
            ),
            describe=_error_words,
        )
