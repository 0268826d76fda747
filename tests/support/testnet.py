"""A stand-in network for the connect-flow tests: an OAuth 2.0 authorization server held to
RFC 6749 (authorization code grant, section 4.1; refresh, section 6; errors, section 5.2)
and RFC 7636 (PKCE, S256), RFC 7009 (token revocation), plus a two-endpoint resource API,
and the connector for it.

It is strict where real servers are strict: the redirect URI must match the registered one
exactly, a code is good once (a second use revokes what it issued, RFC 6749 section 4.1.2),
the code verifier must hash to the challenge, the client must authenticate.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlencode

from litestar import Litestar, Request, Response, get, post
from litestar.response import Redirect

from agency.config import NetworkSettings
from agency.connector import (
    Account,
    Capability,
    Connector,
    Limits,
    OAuthMetadata,
    Post,
    Published,
)
from agency.connector.http import call, json_body

CLIENT_ID = "testnet-client"
CLIENT_SECRET = "testnet-client-secret-0a9b"


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    challenge: str | None
    scope: str
    used: bool = False
    issued: list[str] = field(default_factory=list)


@dataclass
class TestNetState:
    """What the fake network knows, and switches tests flip."""

    __test__ = False

    redirect_uris: set[str] = field(default_factory=set)
    accounts: list[dict[str, str]] = field(
        default_factory=lambda: [{"id": "acct-1", "name": "Maison Dupont", "kind": "user"}]
    )
    codes: dict[str, Grant] = field(default_factory=dict)
    access_tokens: set[str] = field(default_factory=set)
    refresh_tokens: set[str] = field(default_factory=set)
    deny_next: str | None = None  # an RFC 6749 error code for the next authorization
    token_endpoint_down: bool = False
    expires_in: int = 3600
    posts: list[dict[str, Any]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    revoke_endpoint_down: bool = False
    revoked: list[str] = field(default_factory=list)  # tokens revoked, in order
    # Each refresh token and the access token issued with it (one grant, RFC 7009 2.1).
    pairs: dict[str, str] = field(default_factory=dict)

    def expire_access_tokens(self) -> None:
        self.access_tokens.clear()

    def revoke_refresh_tokens(self) -> None:
        self.refresh_tokens.clear()


def network_settings(oauth_url: str, base_url: str, *, revocation: bool = True) -> NetworkSettings:
    """A network whose authorization server is this one (at ``oauth_url``) and whose API
    is at ``base_url`` (Prism serving its description)."""
    return NetworkSettings(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,  # type: ignore[arg-type]
        base_url=base_url,
        authorize_url=f"{oauth_url}/authorize",
        token_url=f"{oauth_url}/token",
        revocation_url=f"{oauth_url}/revoke" if revocation else None,
    )


def _oauth_error(error: str, description: str, status: int = 400) -> Response[Any]:
    return Response({"error": error, "error_description": description}, status_code=status)


def build_testnet(state: TestNetState) -> Litestar:
    @get("/authorize", sync_to_thread=False)
    def authorize(request: Request[Any, Any, Any]) -> Response[Any] | Redirect:
        q = request.query_params
        redirect_uri = q.get("redirect_uri", "")
        if q.get("client_id") != CLIENT_ID or redirect_uri not in state.redirect_uris:
            # Section 4.1.2.1: never redirect to an unverified URI.
            return Response({"error": "invalid_request"}, status_code=400)
        if q.get("response_type") != "code":
            return Response({"error": "unsupported_response_type"}, status_code=400)
        params = {"state": q.get("state", "")}
        if state.deny_next:
            params |= {"error": state.deny_next, "error_description": "The user said no."}
            state.deny_next = None
        else:
            challenge = q.get("code_challenge")
            if challenge and q.get("code_challenge_method") != "S256":
                return Response({"error": "invalid_request"}, status_code=400)
            code = secrets.token_urlsafe(16)
            state.codes[code] = Grant(CLIENT_ID, redirect_uri, challenge, q.get("scope", ""))
            params["code"] = code
        return Redirect(path=f"{redirect_uri}?{urlencode(params)}", status_code=302)

    def _client_authenticated(request: Request[Any, Any, Any], form: dict[str, Any]) -> bool:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("authorization", "")
        if auth.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
        return client_id == CLIENT_ID and client_secret == CLIENT_SECRET

    @post("/token", status_code=200)
    async def token(request: Request[Any, Any, Any]) -> Response[Any]:
        form = dict(await request.form())
        state.token_requests.append({k: str(v) for k, v in form.items()})
        if state.token_endpoint_down:
            return Response({"error": "temporarily_unavailable"}, status_code=503)
        if not _client_authenticated(request, form):
            return _oauth_error("invalid_client", "Client authentication failed.", 401)
        if form.get("grant_type") == "authorization_code":
            return _exchange(form)
        if form.get("grant_type") == "refresh_token":
            if form.get("refresh_token") not in state.refresh_tokens:
                return _oauth_error("invalid_grant", "The refresh token was revoked.")
            state.refresh_tokens.discard(str(form["refresh_token"]))
            return _issue("read write")
        return _oauth_error("unsupported_grant_type", "Unknown grant type.")

    @post("/revoke", status_code=200)
    async def revoke(request: Request[Any, Any, Any]) -> Response[Any]:
        """RFC 7009 section 2: the client authenticates, ``token`` is required; an unknown
        token also answers 200 (2.2); a refresh token takes its grant's access token along."""
        if state.revoke_endpoint_down:
            return Response({"error": "temporarily_unavailable"}, status_code=503)
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return _oauth_error("invalid_request", "The body must be form-encoded.")
        form = dict(await request.form())
        if not _client_authenticated(request, form):
            return _oauth_error("invalid_client", "Client authentication failed.", 401)
        token = str(form.get("token") or "")
        if not token:
            return _oauth_error("invalid_request", "The token parameter is missing.")
        if token in state.refresh_tokens or token in state.access_tokens:
            state.revoked.append(token)
        state.refresh_tokens.discard(token)
        state.access_tokens.discard(token)
        state.access_tokens.discard(state.pairs.pop(token, ""))
        return Response(None, status_code=200)

    def _exchange(form: dict[str, Any]) -> Response[Any]:
        grant = state.codes.get(str(form.get("code")))
        if grant is None:
            return _oauth_error("invalid_grant", "Unknown authorization code.")
        if grant.used:  # a replayed code: revoke everything it issued
            state.access_tokens.difference_update(grant.issued)
            state.refresh_tokens.difference_update(grant.issued)
            return _oauth_error("invalid_grant", "The authorization code was already used.")
        grant.used = True
        if form.get("redirect_uri") != grant.redirect_uri:
            return _oauth_error("invalid_grant", "redirect_uri differs from the authorization.")
        if grant.challenge is not None:
            verifier = str(form.get("code_verifier", ""))
            digest = hashlib.sha256(verifier.encode()).digest()
            expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if expected != grant.challenge:
                return _oauth_error("invalid_grant", "PKCE verification failed.")
        response = _issue(grant.scope)
        grant.issued += [response.content["access_token"], response.content["refresh_token"]]
        return response

    def _issue(scope: str) -> Response[Any]:
        access, refresh = "at-" + secrets.token_urlsafe(16), "rt-" + secrets.token_urlsafe(16)
        state.access_tokens.add(access)
        state.refresh_tokens.add(refresh)
        state.pairs[refresh] = access
        body = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": state.expires_in,
            "refresh_token": refresh,
            "scope": scope,
        }
        return Response(body, status_code=200, headers={"Cache-Control": "no-store"})

    def _authorized(request: Request[Any, Any, Any]) -> bool:
        header = request.headers.get("authorization", "")
        return header.startswith("Bearer ") and header[7:] in state.access_tokens

    @get("/me/accounts", sync_to_thread=False)
    def accounts(request: Request[Any, Any, Any]) -> Response[Any]:
        if not _authorized(request):
            return Response({"message": "Invalid or expired token"}, status_code=401)
        return Response({"data": state.accounts})

    @post("/posts", status_code=201)
    async def create_post(request: Request[Any, Any, Any]) -> Response[Any]:
        if not _authorized(request):
            return Response({"message": "Invalid or expired token"}, status_code=401)
        body = await request.json()
        post_id = f"post-{len(state.posts) + 1}"
        state.posts.append({"id": post_id, **body})
        return Response({"id": post_id}, status_code=201)

    return Litestar([authorize, token, revoke, accounts, create_post], debug=False)


class TestNetConnector(Connector):
    """The connector of the stand-in network (only what the connect tests need)."""

    __test__ = False
    network: ClassVar[str] = "testnet"
    display_name: ClassVar[str] = "TestNet"
    default_base_url: ClassVar[str] = "https://api.testnet.invalid"
    oauth = OAuthMetadata(
        authorize_url="https://testnet.invalid/authorize",
        token_url="https://testnet.invalid/token",
        scopes=("read", "write"),
        pkce=True,
        token_auth_method="client_secret_basic",
    )
    limits = Limits(max_text_length=280)
    capabilities = frozenset({Capability.PUBLISH})
    reference_docs = (
        "https://www.rfc-editor.org/rfc/rfc6749",
        "https://www.rfc-editor.org/rfc/rfc7636",
    )

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credentials.access_token}"}

    async def identify(self) -> list[Account]:
        response = await call(
            lambda: self.http.get(f"{self.base_url}/me/accounts", headers=self._headers())
        )
        return [
            Account(account_id=a["id"], name=a["name"], kind=a.get("kind", "user"))  # type: ignore[arg-type]
            for a in json_body(response)["data"]
        ]

    async def publish(self, post: Post) -> Published:
        response = await call(
            lambda: self.http.post(
                f"{self.base_url}/posts", json={"text": post.text}, headers=self._headers()
            ),
            publishing=True,
        )
        return Published(post_id=json_body(response)["id"])
