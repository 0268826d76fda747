"""What the Meta connectors (Facebook, Instagram, Threads) share: Graph calls and errors.

Meta publishes no machine-readable description of its APIs; this module follows these pages:

- error body and codes: https://developers.facebook.com/docs/graph-api/guides/error-handling
- usage headers: https://developers.facebook.com/docs/graph-api/overview/rate-limiting
- Instagram error codes:
  https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/error-codes
- Page tokens: https://developers.facebook.com/docs/pages/getting-started
- long-lived tokens:
  https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived

Tokens travel in the ``Authorization: Bearer`` header rather than the documented
``access_token`` query parameter: httpx logs every URL it requests, and a token in a URL ends
up in the logs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar

import httpx

from agency.connector.base import (
    Capability,
    Connector,
    Credentials,
    Post,
    PostMetrics,
    Problem,
    Published,
    StagedMedia,
    urls_missing,
)
from agency.connector.errors import (
    AuthExpired,
    ConnectorError,
    InvalidContent,
    RateLimited,
    Refused,
    Transient,
)
from agency.connector.http import RateLimit, call, error_for, json_body, read_rate_limit
from agency.connector.oauth import credentials_from_token
from agency_connectors.answers import parse_time
from agency_connectors.matching import same_text

logger = logging.getLogger("agency.connector.meta")
T = TypeVar("T")

# Codes from the error-handling guide, grouped by what the pipeline should do.
AUTH_CODES = frozenset({102, 190, 2500})  # session/token expired, revoked or missing
AUTH_SUBCODES = frozenset({458, 459, 460, 463, 464, 467})
THROTTLE_CODES = frozenset({4, 17, 32, 341, 613, *range(80000, 80015)})
PUBLISHING_LIMIT_CODE = 9  # Instagram: "You reached maximum number of posts" (2207042)
TRANSIENT_CODES = frozenset({1, 2, -1, -2})  # "Temporary issue due to downtime"
DUPLICATE_POST_CODE = 506
CONTENT_CODES = frozenset({352, 9004, 36000, 36001, 36003, 36004, 1609005})
NOT_READY_CODE = 9007  # Instagram: the container is not ready for publishing yet

# "v21.0" at the end of a Graph base URL; token endpoints of Threads live above it.
VERSION_SUFFIX = re.compile(r"/v\d+\.\d+$")


def _regain_seconds(response: httpx.Response) -> float | None:
    """``estimated_time_to_regain_access`` (minutes) of X-Business-Use-Case-Usage, in seconds."""
    raw = response.headers.get("x-business-use-case-usage")
    if not raw:
        return None
    try:
        usage = json.loads(raw)
    except ValueError:
        return None
    minutes = [
        entry.get("estimated_time_to_regain_access")
        for entries in (usage.values() if isinstance(usage, dict) else [])
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, dict)
    ]
    known = [float(m) for m in minutes if isinstance(m, int | float)]
    return max(known) * 60 if known and max(known) > 0 else None


def graph_error(network: str, response: httpx.Response) -> ConnectorError:
    """The typed error for a Graph error answer, chosen by Meta's code before the HTTP status."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return error_for(response, f"{network} answered HTTP {response.status_code}.")
    code, subcode = error.get("code"), error.get("error_subcode")
    said = error.get("error_user_msg") or error.get("message") or "no reason given"
    words = f"{network}: {said}"
    status = response.status_code
    # "Error validating client secret." comes with code 1, which the error table calls a
    # temporary issue: Graph's "Error validating ..." messages are credential checks, never
    # downtime, whatever their code.
    credential_check = str(error.get("message", "")).startswith("Error validating")
    if code in AUTH_CODES or subcode in AUTH_SUBCODES:
        return AuthExpired(f"{words} Reconnect the account.", status=status)
    if code in THROTTLE_CODES or code == PUBLISHING_LIMIT_CODE:
        retry = _regain_seconds(response) or read_rate_limit(response).retry_after
        return RateLimited(words, retry_after=retry, status=status)
    if credential_check:
        return Refused(words, status=status)
    if code in TRANSIENT_CODES or error.get("is_transient") is True or code == NOT_READY_CODE:
        return Transient(words, status=status)
    if code == DUPLICATE_POST_CODE:
        return InvalidContent([Problem("text", words, "duplicate_post")], status=status)
    if code in CONTENT_CODES:
        return InvalidContent([Problem("media", words, "refused_by_network")], status=status)
    if status >= 500:
        return Transient(words, status=status)
    if status == 429:
        return RateLimited(words, retry_after=_regain_seconds(response), status=status)
    return Refused(words, status=status)


def insight_values(body: Mapping[str, Any]) -> dict[str, int]:
    """``{metric: value}`` from an insights answer (``values[0]`` or ``total_value``)."""
    found: dict[str, int] = {}
    for entry in body.get("data") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        total = entry.get("total_value")
        values = entry.get("values") or [{}]
        value = total.get("value") if isinstance(total, dict) else values[-1].get("value")
        if isinstance(value, int):
            found[entry["name"]] = value
    return found


# What every Meta connector does; each adds the deleting its API allows.
META_CAPABILITIES = frozenset(
    {
        Capability.PUBLISH,
        Capability.FIRST_COMMENT,
        Capability.FIND_PUBLISHED,
        Capability.POST_METRICS,
        Capability.ACCOUNT_METRICS,
        Capability.COMMENTS,
        Capability.REPLY,
        Capability.HIDE_COMMENT,
    }
)


# A container not published within 24 hours expires (ig-container and Threads' container
# ``status``: EXPIRED); Meta has no call that deletes one.
CONTAINER_LIFETIME = timedelta(hours=24)


def container_fingerprint(post: Post) -> str:
    """What a container holds of ``post`` besides its files (which the staging names by id):
    the caption, the link, each file's kind and description."""
    held = [post.text, post.link, [[m.kind, m.alt_text] for m in post.media]]
    return hashlib.sha256(json.dumps(held).encode()).hexdigest()[:32]


def _refused_outright(error: ConnectorError) -> bool:
    """An answer that says the call made nothing (a refusal, a 4xx "not ready")."""
    if isinstance(error, Refused | InvalidContent):
        return True
    return isinstance(error, Transient) and error.status is not None and 400 <= error.status < 500


def public_url_problems(network: str, post: Post) -> list[Problem]:
    """Instagram and Threads fetch every file themselves, from a public URL."""
    return urls_missing(post, f"{network} fetches media from a public URL, and this file has none.")


def matching_post(
    items: object,
    text: str,
    *,
    text_field: str,
    url_field: str,
    time_field: str,
    since: datetime | None = None,
) -> Published | None:
    """The first listed post whose text is ``text`` and that is not older than ``since``."""
    for item in items if isinstance(items, list) else []:
        when = parse_time(item.get(time_field))
        if since is not None and (when is None or when < since):
            continue
        if same_text(text, str(item.get(text_field) or "")):
            return Published(str(item["id"]), url=item.get(url_field), published_at=when)
    return None


class GraphConnector(Connector):
    """Shared plumbing of the Meta connectors; capabilities stay in the subclasses."""

    # Login gives a token of an hour or two; ``refresh`` swaps it for a long-lived one.
    refresh_after_connect: ClassVar[bool] = True

    # Meta asks apps to poll a container about once a minute; a publish job may wait 5 minutes.
    container_poll_seconds: ClassVar[float] = 5.0
    container_poll_attempts: ClassVar[int] = 60
    # The container field that says where processing stands, and the one that says why.
    container_status_field: ClassVar[str] = "status_code"
    container_detail_field: ClassVar[str] = "status"

    #: What Meta's usage headers said on the last answer of this call.
    rate_limit: RateLimit | None = None

    async def graph(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        publishing: bool = False,
        token: str | None = None,
        base: str | None = None,
    ) -> dict[str, Any]:
        url = f"{base or self.base_url}/{path.lstrip('/')}"
        bearer = token if token is not None else self.credentials.access_token
        headers = {"Accept": "application/json"}
        if bearer:  # token endpoints authenticate with the app's secret instead
            headers["Authorization"] = f"Bearer {bearer}"

        async def send() -> httpx.Response:
            response = await self.http.request(
                method, url, params=params, data=data, files=files, headers=headers
            )
            self.rate_limit = read_rate_limit(response)
            if response.is_error:
                await response.aread()
                raise graph_error(self.display_name, response)
            return response

        body = json_body(await call(send, publishing=publishing))
        if not isinstance(body, dict):
            raise Transient(f"{self.display_name} answered something unexpected.")
        return body

    async def insights(self, node: str, metrics: str) -> dict[str, int]:
        body = await self.graph("GET", f"{node}/insights", params={"metric": metrics})
        return insight_values(body)

    async def post_insights(
        self, post_id: str, fields: Mapping[str, str], *, also: tuple[str, ...] = ()
    ) -> PostMetrics:
        """PostMetrics read from the insights edge; ``fields`` maps its fields to metrics."""
        values = await self.insights(post_id, ",".join([*fields.values(), *also]))
        counts: dict[str, Any] = {field: values.get(metric) for field, metric in fields.items()}
        return replace(PostMetrics(raw=values), **counts)

    async def pages(self, fields: str) -> list[dict[str, Any]]:
        """The Pages the user token manages (``/me/accounts``), every page of results."""
        found: list[dict[str, Any]] = []
        params = {"fields": fields, "limit": "100"}
        for _ in range(20):  # 2,000 Pages is beyond any agency; stop rather than loop forever
            body = await self.graph("GET", "me/accounts", params=params)
            found += [page for page in body.get("data") or [] if isinstance(page, dict)]
            after = (body.get("paging") or {}).get("cursors", {}).get("after")
            if not (body.get("paging") or {}).get("next") or not after:
                break
            params = {**params, "after": after}
        return found

    def page_credentials(self, page_token: str, extra: dict[str, str]) -> Credentials:
        """A Page's own token, to store with the channel.

        A Page token taken with a long-lived user token does not expire; one taken with the
        short-lived token of the login lasts as long as that (an hour or two). The user token
        is kept as the Page token's refresh token: :meth:`refresh` exchanges it for a
        long-lived one and takes a lasting Page token with it.
        """
        user = self.credentials
        soon = datetime.now(UTC) + timedelta(days=1)
        expires = user.expires_at if user.expires_at and user.expires_at < soon else None
        return Credentials(
            access_token=page_token,
            refresh_token=user.access_token,
            expires_at=expires,
            scopes=user.scopes,
            extra=extra,
        )

    async def wait_for_container(self, container_id: str) -> None:
        """Poll a media container until Meta has fetched and processed its media."""
        status_field, detail_field = self.container_status_field, self.container_detail_field
        fields = f"{status_field},{detail_field}"
        for attempt in range(self.container_poll_attempts):
            body = await self.graph("GET", container_id, params={"fields": fields})
            status = body.get(status_field)
            if status in ("FINISHED", "PUBLISHED"):
                return
            if status == "ERROR":
                why = body.get(detail_field) or "no reason given"
                words = f"{self.display_name} could not process the media ({why})."
                raise InvalidContent([Problem("media", words, "media_processing_failed")])
            if status == "EXPIRED":
                raise Transient(f"{self.display_name}: the upload expired before publishing.")
            if attempt + 1 < self.container_poll_attempts:
                await asyncio.sleep(self.container_poll_seconds)
        raise Transient(f"{self.display_name} is still processing the media; try again later.")

    async def quietly(self, work: Awaitable[T], what: str) -> T | None:
        """Run a follow-up of a publication that already exists (first comment, permalink).

        Failing it must not fail the publication: the pipeline would publish the post again.
        """
        try:
            return await work
        except ConnectorError as exc:
            logger.warning("%s: %s failed after publishing: %s", self.network, what, exc.message)
            return None

    async def refresh(self, client_id: str | None, client_secret: str | None) -> Credentials:
        """Meta has no refresh tokens: exchange the user token for a long-lived one (60 days).

        For a Page channel the user token is its refresh token; the Page token read with the
        long-lived user token does not expire.
        """
        current = self.credentials
        page_id = current.extra.get("page_id")
        user_token = current.refresh_token if page_id else current.access_token
        if not user_token or not client_id or not client_secret:
            raise AuthExpired(f"{self.display_name}: the access cannot be renewed; reconnect.")
        form = {
            "grant_type": "fb_exchange_token",
            "client_id": client_id,
            "client_secret": client_secret,
            "fb_exchange_token": user_token,
        }
        # POSTed as a form so that neither the secret nor the token lands in a logged URL.
        user = await self.token_request("POST", "oauth/access_token", data=form)
        if not page_id:
            return user
        try:
            page = await self.graph(
                "GET", page_id, params={"fields": "access_token"}, token=user.access_token
            )
        except Refused as exc:  # the user no longer manages the Page
            raise AuthExpired(exc.message, status=exc.status) from exc
        if not page.get("access_token"):
            raise AuthExpired(f"{self.display_name}: the Page is no longer reachable; reconnect.")
        return Credentials(
            access_token=str(page["access_token"]),
            refresh_token=user.access_token,
            scopes=current.scopes,
            extra=dict(current.extra),
        )

    async def token_request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        base: str | None = None,
    ) -> Credentials:
        """New credentials from a token endpoint; a refusal there means: reconnect."""
        current = self.credentials
        try:
            body = await self.graph(method, path, params=params, data=data, token="", base=base)
        except Refused as exc:
            raise AuthExpired(exc.message, status=exc.status) from exc
        meta = self.oauth_metadata(self.base_url)
        if meta is None or "access_token" not in body:
            raise AuthExpired(f"{self.display_name} did not renew the access; reconnect.")
        fresh = credentials_from_token(body, meta)
        fresh.scopes = current.scopes or fresh.scopes
        fresh.extra = {**current.extra, **fresh.extra}
        return fresh


class ContainerConnector(GraphConnector):
    """Instagram and Threads: a post is a container Meta fetches the files into, then
    published; the container can be made ahead (``Capability.STAGE_MEDIA``)."""

    # The edge of the account that publishes a container ("media_publish", "threads_publish").
    publish_edge: ClassVar[str]

    @property
    def owner_id(self) -> str:
        """The account whose containers these are."""
        raise NotImplementedError

    async def prepare(self, post: Post) -> str:
        """The container to publish, processed and ready (each network builds its own)."""
        raise NotImplementedError

    async def publish_made(self, container: str) -> str:
        """Publish a container: the new post's id."""
        body = await self.graph(
            "POST",
            f"{self.owner_id}/{self.publish_edge}",
            data={"creation_id": container},
            publishing=True,
        )
        return str(body["id"])

    def container_problems(self, post: Post) -> list[Problem]:
        """Every reason ``post`` cannot be made into a container."""
        return [*self.network_problems(post), *self.delivery_problems(post)]

    async def stage_post(self, post: Post) -> list[StagedMedia]:
        """The post's container, made and processed ahead: ``publish`` then only publishes
        it. Every file of the post names the same container, with what it holds besides the
        files, so that a post changed since (a caption edited) gets a new container."""
        problems = self.container_problems(post)
        if problems:
            raise InvalidContent(problems)
        made_at = datetime.now(UTC)
        container = await self.prepare(post)
        reference = json.dumps({"container": container, "post": container_fingerprint(post)})
        return [StagedMedia(reference, made_at + CONTAINER_LIFETIME) for _ in post.media]

    @staticmethod
    def staged_container(post: Post) -> str | None:
        """The container made ahead for exactly this post, if its files name one."""
        references = {media.staged for media in post.media}
        if len(references) != 1 or None in references:
            return None
        try:
            staged = json.loads(str(references.pop()))
        except ValueError:
            return None
        if not isinstance(staged, dict) or staged.get("post") != container_fingerprint(post):
            return None
        container = staged.get("container")
        return str(container) if container else None

    async def publish_container(self, post: Post) -> str:
        """Publish the container staged for ``post``, or, when there is none (or it no
        longer holds this post), one made now. A staged container the network refuses is
        looked at: expired or failed, a new one is made and published; else the refusal
        stands."""
        staged = self.staged_container(post)
        if staged is None:
            return await self.publish_made(await self.prepare(post))
        try:
            return await self.publish_made(staged)
        except ConnectorError as refused:
            if not _refused_outright(refused):
                raise  # no answer, a 5xx, a rate limit: the pipeline's own handling
            status = await self.quietly(self._container_status(staged), "the staged container")
            if status not in ("EXPIRED", "ERROR"):
                raise
            logger.info("%s: staged container %s is %s", self.display_name, staged, status)
            return await self.publish_made(await self.prepare(post))

    async def _container_status(self, container_id: str) -> str | None:
        body = await self.graph("GET", container_id, params={"fields": self.container_status_field})
        status = body.get(self.container_status_field)
        return str(status) if status else None
