"""Who is calling: the bearer credential of the request, turned into a :class:`Subject`.

Every route that is not explicitly public depends on ``subject``; a route names the
permission it needs in ``opt={"permission": ...}`` and the provider enforces it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession

from agency.access.client_permissions import brands_granting, opened_by
from agency.access.permissions import permissions_of
from agency.access.policy import token_permissions
from agency.access.secrets import SESSION_PREFIX, BearerSecret, parse_bearer, secret_matches
from agency.auth.cache import CredentialCache, Known, credential_cache
from agency.auth.cookies import (
    CSRF_COOKIE,
    CSRF_HEADER,
    SAFE_METHODS,
    SESSION_COOKIE,
    csrf_matches,
)
from agency.auth.repository import CredentialRepository
from agency.client.repository import ClientMemberRepository
from agency.kernel.db import utcnow
from agency.kernel.deps import request_runtime, request_subject
from agency.kernel.errors import Forbidden, Unauthorized
from agency.kernel.i18n import N_, Text
from agency.kernel.tenancy import SUBJECT_STATE, Subject
from agency.kernel.transaction import request_context

if TYPE_CHECKING:
    import uuid

LAST_USED_GRANULARITY = timedelta(minutes=5)
_INVALID = N_("The bearer credential is missing, malformed, expired or revoked.")


async def provide_db_session(request: Request[Any, Any, Any]) -> AsyncSession:
    return request_context(request.scope).get_session()


async def authenticate_request(request: Request[Any, Any, Any]) -> None:
    """Authenticate before anything else about the request is looked at.

    Runs as the first ``before_request`` step, ahead of parameter and body decoding, so that a
    request without valid credentials gets 401 (and one lacking the permission 403) whatever
    else is wrong with it: no bad cursor or bad body leaks past a missing credential.
    """
    handler = request.route_handler
    if handler.opt.get("public"):
        return
    bearer = _credential(request)
    if bearer is None:
        raise Unauthorized(Text(_INVALID))
    app_filter: bool = request.app.state.app_tenant_filter
    session = request_context(request.scope).get_session()
    permission = handler.opt.get("permission")
    cache = request_runtime(request).component(credential_cache)
    subject = await authenticate(
        session, bearer, app_filter=app_filter, needed=permission, cache=cache
    )
    if permission:
        subject.require(permission)
    request.state[SUBJECT_STATE] = subject


def _credential(request: Request[Any, Any, Any]) -> BearerSecret | None:
    """The bearer header, or else the browser's session cookie (with its CSRF check)."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        return parse_bearer(token.strip(), SESSION_PREFIX) if scheme.lower() == "bearer" else None
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is None:
        return None
    key = request_runtime(request).settings.auth.secret_key.get_secret_value()
    if request.method not in SAFE_METHODS and not csrf_matches(
        cookie, request.headers.get(CSRF_HEADER), key
    ):
        raise Forbidden(
            Text(
                "A request signed in by cookie must repeat the {cookie} cookie's value in the "
                "{header} header.",
                cookie=CSRF_COOKIE,
                header=CSRF_HEADER,
            )
        )
    return parse_bearer(cookie, SESSION_PREFIX)


async def provide_subject(request: Request[Any, Any, Any]) -> Subject:
    return request_subject(request)


async def authenticate(
    session: AsyncSession,
    bearer: BearerSecret,
    *,
    app_filter: bool = True,
    needed: str | None = None,
    cache: CredentialCache | None = None,
) -> Subject:
    """The subject a bearer secret stands for; ``needed`` narrows a client member's brands.

    The tenant binding, the credential and the current role of the member it acts for come
    in one statement, so a session or a token never acts with a role its member no longer
    has, and the request pays one round trip for all three. With a ``cache`` that keeps the
    credential, the round trip binds the agency and reads its access version alone; the
    credential is read again (a second round trip) only when the version moved since it was
    kept (``auth.cache``).
    """
    agency_id, secret = bearer.agency_id, bearer.secret
    claimed = Subject(agency_id=agency_id, kind="system", app_filter=app_filter)
    credentials = CredentialRepository(session, claimed)
    known = cache.get(agency_id, bearer.object_id) if cache is not None else None
    if known is not None and await credentials.bind_and_read_version() != known.version:
        known = None  # the agency changed since: read the credential again
    now = utcnow()
    if known is None:
        found = await credentials.bind_and_find_held(bearer.object_id)
        if found is None or found.id is None:
            raise Unauthorized(Text(_INVALID))
        known = Known(found.access_version, found, found.last_used_at)
        if cache is not None and found.access_version is not None:
            cache.keep(agency_id, bearer.object_id, known)
    credential = known.held
    role: str | None = credential.role
    if (
        credential.revoked_at is not None
        or (credential.expires_at is not None and credential.expires_at <= now)
        or not secret_matches(secret, credential.secret_hash)
    ):
        raise Unauthorized(Text(_INVALID))
    if credential.kind == "session":
        if role is None:
            raise Unauthorized(Text("This login no longer belongs to a member of the agency."))
        subject = Subject(
            agency_id=agency_id,
            kind="session",
            credential_id=credential.id,
            user_id=credential.user_id,
            role=role,
            permissions=permissions_of(role),
            app_filter=app_filter,
            locale=credential.locale,
        )
    elif credential.kind == "client_session":
        assert credential.user_id is not None
        subject = await _client_subject(
            session, claimed, credential.id, credential.user_id, needed, credential.locale
        )
    else:
        permissions = token_permissions(credential.scopes, role, credential.system_issued)
        if permissions is None:
            raise Unauthorized(
                Text("The member who created this API token is no longer in the agency.")
            )
        subject = Subject(
            agency_id=agency_id,
            kind="api_token",
            credential_id=credential.id,
            on_behalf_of=credential.created_by,
            permissions=permissions,
            app_filter=app_filter,
        )
    if known.last_used_at is None or now - known.last_used_at > LAST_USED_GRANULARITY:
        await credentials.mark_used(credential.id, now)
        known.last_used_at = now
    return subject


async def _client_subject(
    session: AsyncSession,
    claimed: Subject,
    credential_id: uuid.UUID,
    user_id: uuid.UUID,
    needed: str | None,
    locale: str | None,
) -> Subject:
    """A client member, narrowed to the brands on which they hold what the route needs.

    Places are read on every request, so disabling or removing one takes effect at once.
    """
    places = await ClientMemberRepository(session, claimed).active_places_of(user_id)
    if not places:
        raise Unauthorized(Text("This login no longer belongs to a client member of the agency."))
    by_brand = {p.brand_id: list(p.permissions) for p in places}
    return Subject(
        agency_id=claimed.agency_id,
        kind="client",
        credential_id=credential_id,
        user_id=user_id,
        permissions=opened_by(p for granted in by_brand.values() for p in granted),
        brand_ids=brands_granting(by_brand, needed),
        app_filter=claimed.app_filter,
        locale=locale,
        # The agency gave each place a language; the first place's speaks for the person.
        given_locale=places[0].locale,
    )
