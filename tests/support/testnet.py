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
from dataclasses import dataclass, field
from typing import Any, ClassVar

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
from tests.support.fakes.asgi import FakeServer, Request, Response, json_response
from tests.support.fakes.oauth import AuthorizationServer, GrantRefused, Refusal

CLIENT_ID = "testnet-client"
CLIENT_SECRET = "testnet-client-secret-0a9b"


@dataclass
class TestNetState:
    """What the fake network knows, and switches tests flip."""

    __test__ = False

    redirect_uris: set[str] = field(default_factory=set)
    accounts: list[dict[str, str]] = field(
        default_factory=lambda: [{"id": "acct-1", "name": "Maison Dupont", "kind": "user"}]
    )
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
    # The tokens each authorization code issued (a replayed code revokes them).
    issued_by_code: dict[str, list[str]] = field(default_factory=dict)
    # The consent page and the code checks every fake shares (RFC 6749 4.1, RFC 7636).
    server: AuthorizationServer = field(init=False)

    def __post_init__(self) -> None:
        self.server = AuthorizationServer(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            subject="acct-1",
            denial={},
            redirect_uris=self.redirect_uris,  # the same set: tests register URIs here
        )

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


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    return json_response(status, {"error": error, "error_description": description})


REFUSALS = {
    Refusal.BAD_CLIENT: ("invalid_client", "Client authentication failed.", 401),
    Refusal.UNKNOWN_CODE: ("invalid_grant", "Unknown authorization code.", 400),
    Refusal.REUSED_CODE: ("invalid_grant", "The authorization code was already used.", 400),
    Refusal.REDIRECT_MISMATCH: (
        "invalid_grant",
        "redirect_uri differs from the authorization.",
        400,
    ),
    Refusal.VERIFIER_MISSING: ("invalid_grant", "PKCE verification failed.", 400),
    Refusal.VERIFIER_MISMATCH: ("invalid_grant", "PKCE verification failed.", 400),
}


class TestNet(FakeServer):
    """The stand-in network on loopback: its authorization server (consent page, token and
    revocation endpoints) and a two-endpoint resource API."""

    __test__ = False

    def __init__(self, state: TestNetState) -> None:
        super().__init__()
        self.state = state

    def handle(self, request: Request) -> Response:
        route = (request.method, request.path)
        if route == ("GET", "/authorize"):
            return self.authorize(request)
        if route == ("POST", "/token"):
            return self.token(request)
        if route == ("POST", "/revoke"):
            return self.revoke(request)
        if request.bearer not in self.state.access_tokens:
            return json_response(401, {"message": "Invalid or expired token"})
        if route == ("GET", "/me/accounts"):
            return json_response(200, {"data": self.state.accounts})
        if route == ("POST", "/posts"):
            post_id = f"post-{len(self.state.posts) + 1}"
            self.state.posts.append({"id": post_id, **request.json()})
            return json_response(201, {"id": post_id})
        return json_response(404, {"message": "Not found"})

    def authorize(self, request: Request) -> Response:
        """The consent page; ``deny_next`` makes the user refuse with that error code."""
        server, state = self.state.server, self.state
        if state.deny_next:
            server.deny_next = True
            server.denial = {"error": state.deny_next, "error_description": "The user said no."}
            state.deny_next = None
        return server.authorize(request)

    def _client(self, request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
        """The client's id and secret, from the form or HTTP Basic (RFC 6749 2.3.1)."""
        auth = request.headers.get("authorization", "")
        if auth.startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            return client_id, secret
        return form.get("client_id"), form.get("client_secret")

    def token(self, request: Request) -> Response:
        form = request.form()
        state = self.state
        state.token_requests.append(form)
        if state.token_endpoint_down:
            return _oauth_error("temporarily_unavailable", "Try again later.", 503)
        client_id, secret = self._client(request, form)
        if (client_id, secret) != (CLIENT_ID, CLIENT_SECRET):
            return _oauth_error("invalid_client", "Client authentication failed.", 401)
        if form.get("grant_type") == "authorization_code":
            return self._exchange({**form, "client_id": client_id or ""}, secret)
        if form.get("grant_type") == "refresh_token":
            if form.get("refresh_token") not in state.refresh_tokens:
                return _oauth_error("invalid_grant", "The refresh token was revoked.")
            state.refresh_tokens.discard(form["refresh_token"])
            return self._issue("read write")[0]
        return _oauth_error("unsupported_grant_type", "Unknown grant type.")

    def _exchange(self, form: dict[str, str], secret: str | None) -> Response:
        code = form.get("code") or ""
        try:
            grant = self.state.server.redeem(form, secret)
        except GrantRefused as refused:
            if refused.refusal == Refusal.REUSED_CODE:  # RFC 6749 4.1.2: revoke what it issued
                issued = self.state.issued_by_code.get(code, [])
                self.state.access_tokens.difference_update(issued)
                self.state.refresh_tokens.difference_update(issued)
            return _oauth_error(*REFUSALS[refused.refusal])
        response, issued = self._issue(grant.scope)
        self.state.issued_by_code[code] = issued
        return response

    def _issue(self, scope: str) -> tuple[Response, list[str]]:
        """New access and refresh tokens, and the two of them."""
        state = self.state
        access, refresh = state.server.new_token("at-"), state.server.new_token("rt-")
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
        return json_response(200, body, {"cache-control": "no-store"}), [access, refresh]

    def revoke(self, request: Request) -> Response:
        """RFC 7009 section 2: the client authenticates, ``token`` is required; an unknown
        token also answers 200 (2.2); a refresh token takes its grant's access token along."""
        state = self.state
        if state.revoke_endpoint_down:
            return _oauth_error("temporarily_unavailable", "Try again later.", 503)
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return _oauth_error("invalid_request", "The body must be form-encoded.")
        form = request.form()
        if self._client(request, form) != (CLIENT_ID, CLIENT_SECRET):
            return _oauth_error("invalid_client", "Client authentication failed.", 401)
        token = form.get("token") or ""
        if not token:
            return _oauth_error("invalid_request", "The token parameter is missing.")
        if token in state.refresh_tokens or token in state.access_tokens:
            state.revoked.append(token)
        state.refresh_tokens.discard(token)
        state.access_tokens.discard(token)
        state.access_tokens.discard(state.pairs.pop(token, ""))
        return Response(200)


def build_testnet(state: TestNetState) -> TestNet:
    return TestNet(state)


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
