"""The OAuth 2.0 authorization-code flow (RFC 6749, PKCE per RFC 7636) with Authlib.

Authlib builds the authorization URL, the PKCE challenge and the token requests; the
requests themselves go through the shared httpx client, so tests and production use the
same transport and the same timeouts.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from agency.connector.errors import AuthExpired, NotSupported, Refused, Transient
from agency.connector.types import Credentials, OAuthMetadata

if TYPE_CHECKING:
    from agency.connector.base import Connector


@dataclass(frozen=True)
class AuthorizationRequest:
    url: str
    state: str
    code_verifier: str | None


@dataclass(frozen=True)
class OAuthClient:
    """The agency's app on a network (or on one Mastodon server)."""

    client_id: str
    client_secret: str | None
    redirect_uri: str


def authorization_request(
    meta: OAuthMetadata, client: OAuthClient, state: str | None = None
) -> AuthorizationRequest:
    """The URL to send the user to; ``state`` defaults to a fresh random token."""
    state = state or generate_token(43)
    verifier = generate_token(64) if meta.pkce else None
    params: dict[str, Any] = dict(meta.extra_authorize_params)
    if verifier:
        params |= {
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        }
    url = prepare_grant_uri(
        meta.authorize_url,
        client_id=client.client_id,
        response_type="code",
        redirect_uri=client.redirect_uri,
        scope=meta.scope_separator.join(meta.scopes),
        state=state,
        **params,
    )
    if meta.client_id_param != "client_id":
        parts = urlsplit(url)
        query = [
            (meta.client_id_param if key == "client_id" else key, value)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
        ]
        url = urlunsplit(parts._replace(query=urlencode(query)))
    return AuthorizationRequest(url=url, state=state, code_verifier=verifier)


async def _client_post(
    http: httpx.AsyncClient,
    meta: OAuthMetadata,
    client: OAuthClient,
    url: str,
    form: dict[str, str],
    endpoint: str,
    body_format: Literal["form", "json"] = "form",
) -> httpx.Response:
    """POST ``form`` to one of the network's OAuth endpoints, the client authenticated the
    way the network wants it (RFC 6749 section 2.3.1) and the body in its format."""
    headers = {"Accept": "application/json"}
    if meta.token_auth_method == "client_secret_basic" and client.client_secret is not None:
        pair = f"{client.client_id}:{client.client_secret}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    else:
        form[meta.client_id_param] = client.client_id
        if meta.token_auth_method == "client_secret_post" and client.client_secret:
            form["client_secret"] = client.client_secret
    if body_format == "json":
        body_kwargs: dict[str, Any] = {"json": form}
    else:
        body_kwargs = {
            "content": urlencode(form),
            "headers": {**headers, "Content-Type": "application/x-www-form-urlencoded"},
        }
    try:
        response = await http.post(url, **({"headers": headers} | body_kwargs))
    except httpx.TransportError as exc:
        raise Transient(f"The {endpoint} could not be reached ({type(exc).__name__}).") from exc
    if response.status_code >= 500:
        raise Transient(f"The {endpoint} answered HTTP {response.status_code}.")
    return response


def _error_words(response: httpx.Response, body: dict[str, Any]) -> tuple[str, str]:
    """RFC 6749 section 5.2's error code, and the network's words for it."""
    error = body.get("error", f"HTTP {response.status_code}")
    description = body.get("error_description")
    if isinstance(error, dict):  # Meta answers its Graph error object, not RFC 6749's
        description = error.get("error_user_msg") or error.get("message")
        error = error.get("type") or f"HTTP {response.status_code}"
    return str(error), f"{error}" + (f" ({description})" if description else "")


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body: Any = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def _token_request(
    http: httpx.AsyncClient, meta: OAuthMetadata, client: OAuthClient, form: dict[str, str]
) -> dict[str, Any]:
    response = await _client_post(http, meta, client, meta.token_url, form, "token endpoint")
    body = _json_object(response)
    if response.is_error or "error" in body or "access_token" not in body:
        error, words = _error_words(response, body)
        words = f"The network refused the grant: {words}"
        if error == "invalid_grant":
            raise AuthExpired(words, status=response.status_code)
        raise Refused(words, status=response.status_code)
    return body


async def revoke_token(
    http: httpx.AsyncClient,
    meta: OAuthMetadata,
    client: OAuthClient,
    token: str,
    token_type_hint: str | None = None,
) -> None:
    """RFC 7009: tell the network the token is no longer needed.

    A 200 means revoked; a token the server does not know also answers 200 (section 2.2),
    so a second disconnect is no error. 5xx or no answer: :class:`Transient`; any other
    refusal: :class:`Refused` in the network's words.
    """
    if meta.revocation_url is None:
        raise NotSupported("This network has no token revocation endpoint.")
    form = {"token": token}
    if token_type_hint:
        form["token_type_hint"] = token_type_hint
    response = await _client_post(
        http,
        meta,
        client,
        meta.revocation_url,
        form,
        "revocation endpoint",
        meta.revocation_request_body,
    )
    if response.is_error:
        _, words = _error_words(response, _json_object(response))
        raise Refused(words, status=response.status_code)


def credentials_from_token(token: dict[str, Any], meta: OAuthMetadata) -> Credentials:
    expires_at = None
    if (
        isinstance(token.get("expires_in"), int | float | str)
        and str(token["expires_in"]).isdigit()
    ):
        expires_at = datetime.now(UTC) + timedelta(seconds=int(token["expires_in"]))
    scope = token.get("scope")
    scopes = tuple(str(scope).replace(",", " ").split()) if scope else meta.scopes
    extra = {
        k: str(v)
        for k, v in token.items()
        if k not in {"access_token", "refresh_token", "expires_in", "scope", "token_type"}
        and isinstance(v, str | int)
    }
    return Credentials(
        access_token=str(token["access_token"]),
        refresh_token=str(token["refresh_token"]) if token.get("refresh_token") else None,
        expires_at=expires_at,
        scopes=scopes,
        extra=extra,
    )


async def exchange_code(
    http: httpx.AsyncClient,
    meta: OAuthMetadata,
    client: OAuthClient,
    code: str,
    code_verifier: str | None,
) -> Credentials:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": client.redirect_uri}
    if code_verifier:
        form["code_verifier"] = code_verifier
    return credentials_from_token(await _token_request(http, meta, client, form), meta)


async def refresh_credentials(
    connector: Connector, client_id: str | None, client_secret: str | None
) -> Credentials:
    meta = connector.context.oauth or connector.oauth_metadata(connector.base_url)
    current = connector.credentials
    if meta is None or not meta.refreshable or not current.refresh_token or not client_id:
        raise AuthExpired(f"{connector.display_name}: the access cannot be renewed; reconnect.")
    client = OAuthClient(client_id, client_secret, redirect_uri="")
    form = {"grant_type": "refresh_token", "refresh_token": current.refresh_token}
    try:
        token = await _token_request(connector.http, meta, client, form)
    except Refused as exc:
        raise AuthExpired(exc.message, status=exc.status) from exc
    fresh = credentials_from_token(token, meta)
    if fresh.refresh_token is None:  # many networks keep the refresh token unchanged
        fresh.refresh_token = current.refresh_token
    fresh.extra = {**current.extra, **fresh.extra}
    return fresh


async def revoke_credentials(
    connector: Connector,
    client_id: str | None,
    client_secret: str | None,
    *,
    refresh_token_too: bool = True,
) -> None:
    """Revoke the channel's grant: the refresh token first (RFC 7009 section 2.1: the server
    then drops the access tokens of that grant too), then the access token.

    ``refresh_token_too=False``: the network's endpoint takes access tokens only.
    """
    meta = connector.context.oauth or connector.oauth_metadata(connector.base_url)
    if meta is None or meta.revocation_url is None:
        raise NotSupported(f"{connector.display_name} does not let apps give their access back.")
    if not client_id:
        raise Refused(f"{connector.display_name} is not configured on this server (no client id).")
    client = OAuthClient(client_id, client_secret, redirect_uri="")
    current = connector.credentials
    if current.refresh_token and refresh_token_too:
        await revoke_token(connector.http, meta, client, current.refresh_token, "refresh_token")
    await revoke_token(connector.http, meta, client, current.access_token, "access_token")
