"""The conversation with an identity provider: discovery, the authorization request, the
code exchange and the verified claims. OpenID Connect, or plain OAuth 2.0 with userinfo.

Authlib builds the authorization request (PKCE S256, ``state``, ``nonce``); the ID token is
checked with joserfc, Authlib's JOSE library: the signature against the provider's JWKS,
fetched at each sign-in so a rotated key is simply found (sign-ins are rare; a stale cache
would refuse the new key), then ``iss``, ``aud``, ``azp``, ``exp``, ``iat`` and the nonce.
A provider that cannot be reached or answers 5xx is :class:`ProviderUnavailable` (502);
anything it says that we cannot accept is :class:`LoginRefused`.

Every request here goes to a host an agency chose, through :func:`issuer_http`.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, InvalidClaimError, JoseError, MissingClaimError
from joserfc.jwk import KeySet

from agency.kernel.errors import AppError
from agency.kernel.i18n import N_
from agency.kernel.outbound import refusal_in
from agency.kernel.runtime import Runtime
from agency.login.models import LoginProvider

# Asymmetric algorithms only: "none" and HMAC (keyed with the client secret) are refused.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
LEEWAY_SECONDS = 60
_ERROR_CODE = re.compile(r"[a-z_]{1,64}")


class ProviderUnavailable(AppError):
    status_code = 502
    type_slug = "provider-unavailable"
    title = N_("Identity provider unavailable")
    explanation = N_(
        "The identity provider configured for this sign-in could not be reached, or answered "
        "in a way that is not OpenID Connect or OAuth 2.0. Try again later, or ask the agency "
        "to check the provider's settings."
    )


class LoginRefused(AppError):
    status_code = 401
    type_slug = "login-refused"
    title = N_("Sign-in refused")
    explanation = N_(
        "The identity provider's answer was refused: the sign-in was unknown, used or "
        "expired, the person declined, or their identity does not satisfy the provider's "
        "rules here (allowed domains, a required group). Start signing in again."
    )


@dataclass(frozen=True)
class Endpoints:
    issuer: str | None
    authorization: str
    token: str
    userinfo: str | None
    jwks_uri: str | None
    end_session: str | None
    # RFC 9207: the provider says it adds ``iss`` to its authorization responses.
    iss_parameter: bool


def issuer_http(runtime: Runtime) -> httpx.AsyncClient:
    """The client for calls to identity providers: hosts that agencies name, so under the
    outbound-address policy (no loopback, private or metadata address unless the operator
    allows the host; the endpoints a discovery document names are checked alike)."""
    return runtime.guarded_http


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


async def _json(http: httpx.AsyncClient, request: httpx.Request) -> dict[str, Any]:
    try:
        answer = await http.send(request)
    except httpx.HTTPError as exc:
        refusal = refusal_in(exc)
        why = refusal.reason if refusal else "could not be reached"
        raise ProviderUnavailable(
            f"The identity provider at {_host(str(request.url))} {why}."
        ) from exc
    if answer.status_code >= 500 or answer.status_code in {404, 429}:
        raise ProviderUnavailable(
            f"The identity provider at {_host(str(request.url))} answered HTTP "
            f"{answer.status_code}."
        )
    try:
        body = answer.json()
    except ValueError as exc:
        raise ProviderUnavailable(
            f"The identity provider at {_host(str(request.url))} did not answer JSON."
        ) from exc
    if not isinstance(body, dict):
        raise ProviderUnavailable("The identity provider answered something other than an object.")
    if answer.status_code >= 400:
        # RFC 6749's error code only: the provider's free text is not ours to repeat.
        error = body.get("error")
        code = error if isinstance(error, str) and _ERROR_CODE.fullmatch(error) else None
        raise LoginRefused(
            f"The identity provider refused ({code or f'HTTP {answer.status_code}'})."
        )
    return body


async def endpoints(http: httpx.AsyncClient, provider: LoginProvider) -> Endpoints:
    """Where the provider's endpoints are: discovered (OIDC) or as configured (OAuth 2.0)."""
    if provider.kind == "oauth2":
        assert provider.authorization_endpoint and provider.token_endpoint
        return Endpoints(
            None,
            provider.authorization_endpoint,
            provider.token_endpoint,
            provider.userinfo_endpoint,
            None,
            None,
            False,
        )
    assert provider.issuer is not None
    url = provider.issuer.rstrip("/") + "/.well-known/openid-configuration"
    doc = await _json(http, http.build_request("GET", url))
    if doc.get("issuer") != provider.issuer:
        # OpenID Connect Discovery 4.3: the document must name the issuer it was read from.
        raise ProviderUnavailable(
            f"The discovery document of {provider.issuer} names another issuer."
        )
    try:
        return Endpoints(
            provider.issuer,
            str(doc["authorization_endpoint"]),
            str(doc["token_endpoint"]),
            doc.get("userinfo_endpoint"),
            str(doc["jwks_uri"]),
            doc.get("end_session_endpoint"),
            doc.get("authorization_response_iss_parameter_supported") is True,
        )
    except KeyError as exc:
        raise ProviderUnavailable(
            f"The discovery document of {provider.issuer} lacks {exc.args[0]}."
        ) from exc


def authorization_url(
    where: Endpoints,
    provider: LoginProvider,
    redirect_uri: str,
    state: str,
    nonce: str,
    verifier: str,
) -> str:
    extra = {"nonce": nonce} if provider.kind == "oidc" else {}
    return str(
        prepare_grant_uri(
            where.authorization,
            client_id=provider.client_id,
            response_type="code",
            redirect_uri=redirect_uri,
            scope=" ".join(provider.scopes),
            state=state,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
            **extra,
        )
    )


async def exchange(
    http: httpx.AsyncClient,
    where: Endpoints,
    provider: LoginProvider,
    client_secret: str | None,
    code: str,
    redirect_uri: str,
    verifier: str,
) -> dict[str, Any]:
    """Trade the code for tokens (client_secret_basic, RFC 6749 2.3.1)."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    headers = {"Accept": "application/json"}
    if client_secret is not None:
        pair = f"{quote(provider.client_id, safe='')}:{quote(client_secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    else:
        form["client_id"] = provider.client_id
    request = http.build_request("POST", where.token, data=form, headers=headers)
    return await _json(http, request)


async def verified_claims(
    http: httpx.AsyncClient,
    where: Endpoints,
    provider: LoginProvider,
    tokens: dict[str, Any],
    nonce: str,
) -> dict[str, Any]:
    """Who signed in, as the provider vouches for it (ID token, completed by userinfo)."""
    claims: dict[str, Any] = {}
    if provider.kind == "oidc":
        claims = await _id_token_claims(http, where, provider, tokens, nonce)
    access_token = tokens.get("access_token")
    if where.userinfo and isinstance(access_token, str):
        request = http.build_request(
            "GET", where.userinfo, headers={"Authorization": f"Bearer {access_token}"}
        )
        info = await _json(http, request)
        if claims and info.get("sub") != claims.get("sub"):
            raise LoginRefused(
                "The provider's userinfo speaks of another person than the ID token."
            )
        claims = {**info, **claims}
    if not claims:
        raise LoginRefused("The provider said nothing about who signed in.")
    return claims


async def _id_token_claims(
    http: httpx.AsyncClient,
    where: Endpoints,
    provider: LoginProvider,
    tokens: dict[str, Any],
    nonce: str,
) -> dict[str, Any]:
    id_token = tokens.get("id_token")
    if not isinstance(id_token, str):
        raise LoginRefused("The provider sent no ID token.")
    assert where.jwks_uri is not None
    jwks = await _json(http, http.build_request("GET", where.jwks_uri))
    try:
        token = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=ALGORITHMS)  # type: ignore[arg-type]
    except (JoseError, ValueError) as exc:
        raise LoginRefused(
            "The ID token is not signed by any of the provider's current keys."
        ) from exc
    assert where.issuer is not None
    registry = jwt.JWTClaimsRegistry(
        leeway=LEEWAY_SECONDS,
        iss={"essential": True, "value": where.issuer},
        aud={"essential": True, "value": provider.client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(token.claims)
    except ExpiredTokenError as exc:
        raise LoginRefused("The ID token has expired.") from exc
    except (InvalidClaimError, MissingClaimError) as exc:
        raise LoginRefused(f"The ID token's claims are not for this sign-in: {exc}.") from exc
    except JoseError as exc:
        raise LoginRefused(f"The ID token was refused: {exc}.") from exc
    audience = token.claims["aud"]
    azp = token.claims.get("azp")
    several = isinstance(audience, list) and len(audience) > 1
    if (several or azp is not None) and azp != provider.client_id:
        raise LoginRefused("The ID token was issued to another party (azp).")
    return dict(token.claims)
