"""Signing in through a provider, from the first redirect to the session.

``start`` checks where the sign-in should land (an origin the agency allows: no open
redirect), records the attempt (state, nonce, PKCE verifier; single-use, 10 minutes) and
answers the provider's authorization URL. ``finish`` takes the provider's answer at the one
redirect URI: the attempt named by ``state`` is spent first (a replay finds it used), the
``iss`` parameter must name the attempt's provider (RFC 9207 mix-up defence), the code is
exchanged and the ID token verified, the provider's rules applied, and a session opened.
Every refusal is audited in a transaction of its own; the request's is rolled back, so a
refused or failed sign-in creates nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from authlib.common.security import generate_token
from sqlalchemy.ext.asyncio import AsyncSession

from agency.access.secrets import hash_secret, new_bearer, parse_bearer
from agency.audit.repository import AuditRepository, record_refusal
from agency.auth.models import Credential
from agency.auth.service import Issued, SessionLife, start_client_session, start_session
from agency.config import Settings
from agency.kernel.db import new_id, utcnow
from agency.kernel.errors import AppError, NotFound
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import Subject, bind_tenant
from agency.login.identity import claimed_person, client_place, staff_membership
from agency.login.models import LoginAttempt, LoginProvider
from agency.login.oidc import (
    LoginRefused,
    ProviderUnavailable,
    authorization_url,
    endpoints,
    exchange,
    issuer_http,
    verified_claims,
)
from agency.login.repository import LoginAttemptRepository, LoginProviderRepository
from agency.login.schemas import CALLBACK_PATH
from agency.tenant.origins import require_allowed_origin

STATE_PREFIX = "ags"
ATTEMPT_TTL = timedelta(minutes=10)
_UNKNOWN = "This sign-in is unknown, was already completed or has expired: start again."


@dataclass(frozen=True)
class SignedIn:
    issued: Issued
    subject: Subject
    return_to: str
    mode: str


def redirect_uri(settings: Settings) -> str:
    return settings.server.public_url.rstrip("/") + CALLBACK_PATH


async def _check_return_to(
    session: AsyncSession, system: Subject, settings: Settings, return_to: str
) -> None:
    await require_allowed_origin(session, system, settings, return_to, "return_to", "query")


async def start(
    session: AsyncSession,
    runtime: Runtime,
    agency_id: uuid.UUID,
    provider_id: uuid.UUID,
    return_to: str,
    mode: str,
) -> str:
    """The provider's authorization URL for a new sign-in attempt."""
    await bind_tenant(session, agency_id)
    system = Subject(agency_id=agency_id, kind="system")
    provider = await LoginProviderRepository(session, system).find(provider_id)
    if provider is None or not provider.enabled:
        raise NotFound(f"No sign-in provider with id {provider_id} in this agency.")
    await _check_return_to(session, system, runtime.settings, return_to)
    where = await endpoints(issuer_http(runtime), provider)
    attempt_id = new_id()
    state = new_bearer(agency_id, attempt_id)
    nonce, verifier = generate_token(32), generate_token(64)
    attempt = LoginAttempt(
        id=attempt_id,
        provider_id=provider.id,
        secret_hash=hash_secret(state.secret),
        nonce=nonce,
        code_verifier=runtime.secrets.encrypt(verifier),
        return_to=return_to,
        mode=mode,
        expires_at=utcnow() + ATTEMPT_TTL,
    )
    await LoginAttemptRepository(session, system).add(attempt)
    return authorization_url(
        where, provider, redirect_uri(runtime.settings), state.render(STATE_PREFIX), nonce, verifier
    )


async def finish(
    session: AsyncSession,
    runtime: Runtime,
    state: str | None,
    code: str | None,
    iss: str | None,
    error: str | None,
) -> SignedIn:
    """Complete a sign-in from the provider's answer; see the module's docstring."""
    bearer = parse_bearer(state or "", STATE_PREFIX)
    if bearer is None:
        raise LoginRefused(_UNKNOWN)
    agency_id = bearer.agency_id
    await bind_tenant(session, agency_id)
    system = Subject(agency_id=agency_id, kind="system")
    attempts = LoginAttemptRepository(session, system)
    attempt = await attempts.use(bearer.object_id, hash_secret(bearer.secret), utcnow())
    if attempt is None:
        if await attempts.find(bearer.object_id) is not None:
            await record_refusal(
                session,
                agency_id,
                "auth.provider_refused",
                "sign_in",
                bearer.object_id,
                {"reason": _UNKNOWN},
            )
        raise LoginRefused(_UNKNOWN)
    provider = await LoginProviderRepository(session, system).get(attempt.provider_id)
    try:
        return await _complete(session, runtime, system, provider, attempt, code, iss, error)
    except AppError as exc:
        await record_refusal(
            session,
            agency_id,
            "auth.provider_refused",
            "login_provider",
            provider.id,
            {"reason": exc.detail, "status": exc.status_code},
        )
        raise


async def _complete(
    session: AsyncSession,
    runtime: Runtime,
    system: Subject,
    provider: LoginProvider,
    attempt: LoginAttempt,
    code: str | None,
    iss: str | None,
    error: str | None,
) -> SignedIn:
    if error is not None:
        raise LoginRefused(f"The identity provider answered: {error[:200]}")
    if not code:
        raise LoginRefused("The identity provider's answer carries no code.")
    http = issuer_http(runtime)
    where = await endpoints(http, provider)
    if (iss is not None or where.iss_parameter) and iss != where.issuer:
        raise LoginRefused(
            "This answer comes from another identity provider than the one this sign-in "
            "started with (RFC 9207 iss)."
        )
    secret = runtime.secrets.decrypt(provider.client_secret) if provider.client_secret else None
    verifier = runtime.secrets.decrypt(attempt.code_verifier)
    tokens = await exchange(
        http, where, provider, secret, code, redirect_uri(runtime.settings), verifier
    )
    claims = await verified_claims(http, where, provider, tokens, attempt.nonce)
    claimed = claimed_person(provider, claims)
    life = SessionLife.of(runtime.settings.auth)
    if provider.brand_id is None:
        membership = await staff_membership(session, system, claimed)
        issued, subject = await start_session(session, membership, life)
        created = False
    else:
        place, created = await client_place(session, system, provider, claimed)
        issued, subject = await start_client_session(session, system.agency_id, place.user_id, life)
    issued.credential.login_provider_id = provider.id
    id_token = tokens.get("id_token")
    if isinstance(id_token, str):
        issued.credential.id_token = runtime.secrets.encrypt(id_token)
    AuditRepository(session, subject).record(
        "auth.provider_login",
        "login_provider",
        provider.id,
        {"email": claimed.email, "just_in_time": created},
    )
    return SignedIn(issued, subject, attempt.return_to, attempt.mode)


async def end_session_url(
    session: AsyncSession,
    runtime: Runtime,
    credential: Credential,
    return_to: str | None,
) -> str | None:
    """Where to send the browser to end its session at the provider too (OpenID Connect
    RP-Initiated Logout), when it signed in through one that offers it; else None."""
    if credential.login_provider_id is None:
        return None
    system = Subject(agency_id=credential.agency_id, kind="system")
    provider = await LoginProviderRepository(session, system).find(credential.login_provider_id)
    if provider is None or provider.kind != "oidc":
        return None
    if return_to is not None:
        await _check_return_to(session, system, runtime.settings, return_to)
    try:
        where = await endpoints(issuer_http(runtime), provider)
    except ProviderUnavailable:
        return None  # signed out here all the same; the provider's session ends on its own
    if where.end_session is None:
        return None
    params = {"client_id": provider.client_id}
    if credential.id_token is not None:
        params["id_token_hint"] = runtime.secrets.decrypt(credential.id_token)
    if return_to is not None:
        params["post_logout_redirect_uri"] = return_to
    joiner = "&" if "?" in where.end_session else "?"
    return f"{where.end_session}{joiner}{urlencode(params)}"
