"""Who is calling: the bearer credential of the request, turned into a :class:`Subject`.

Every route that is not explicitly public depends on ``subject``; a route names the
permission it needs in ``opt={"permission": ...}`` and the provider enforces it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Request
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from agency.auth.models import Credential
from agency.auth.permissions import permissions_of
from agency.auth.secrets import SESSION_PREFIX, BearerSecret, parse_bearer, secret_matches
from agency.kernel.db import utcnow
from agency.kernel.errors import Unauthorized
from agency.kernel.tenancy import Subject, bind_tenant, scoped_select, scoped_update
from agency.kernel.transaction import request_context
from agency.member.models import Membership

LAST_USED_GRANULARITY = timedelta(minutes=5)
_INVALID = "The bearer credential is missing, malformed, expired or revoked."


async def provide_db_session(request: Request[Any, Any, Any]) -> AsyncSession:
    return request_context(request.scope).get_session()


async def provide_subject(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> Subject:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    bearer = parse_bearer(token.strip(), SESSION_PREFIX) if scheme.lower() == "bearer" else None
    if bearer is None:
        raise Unauthorized(_INVALID)
    app_filter: bool = request.app.state.app_tenant_filter
    subject = await authenticate(db_session, bearer, app_filter=app_filter)
    permission = request.route_handler.opt.get("permission")
    if permission:
        subject.require(permission)
    return subject


async def authenticate(
    session: AsyncSession, bearer: BearerSecret, *, app_filter: bool = True
) -> Subject:
    agency_id, secret = bearer.agency_id, bearer.secret
    await bind_tenant(session, agency_id)
    claimed = Subject(agency_id=agency_id, kind="system", app_filter=app_filter)
    stmt = scoped_select(Credential, claimed).where(Credential.id == bearer.object_id)
    credential = (await session.execute(stmt)).scalar_one_or_none()
    now = utcnow()
    if (
        credential is None
        or credential.revoked_at is not None
        or (credential.expires_at is not None and credential.expires_at <= now)
        or not secret_matches(secret, credential.secret_hash)
    ):
        raise Unauthorized(_INVALID)
    if credential.kind == "session":
        membership = (
            await session.execute(
                scoped_select(Membership, claimed).where(Membership.user_id == credential.user_id)
            )
        ).scalar_one_or_none()
        if membership is None:
            raise Unauthorized("This login no longer belongs to a member of the agency.")
        subject = Subject(
            agency_id=agency_id,
            kind="session",
            credential_id=credential.id,
            user_id=credential.user_id,
            role=membership.role,
            permissions=permissions_of(membership.role),
            app_filter=app_filter,
        )
    else:
        subject = Subject(
            agency_id=agency_id,
            kind="api_token",
            credential_id=credential.id,
            user_id=None,
            permissions=frozenset(str(s) for s in credential.scopes),
            app_filter=app_filter,
        )
    if credential.last_used_at is None or now - credential.last_used_at > LAST_USED_GRANULARITY:
        await session.execute(
            scoped_update(Credential, claimed)
            .where(Credential.id == credential.id)
            .values(last_used_at=now)
        )
    return subject
