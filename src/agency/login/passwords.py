"""A forgotten password: a single-use link by e-mail, then a new password.

The link is a sign-in link of purpose ``password_reset`` (the same single-use, hashed,
short-lived row as a magic link), under its own prefix (``agr_``) so that neither kind is
ever accepted as the other. It is mailed to the person's own address in the agency they
belong to (the one the request names, else their first); the answer to the request is the
same whether or not the address has an account, so it tells nobody who has one. Setting the
new password spends the link and ends every session of the person, in every agency.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from agency.access.secrets import hash_password_off_loop, hash_secret, new_bearer, parse_bearer
from agency.audit.repository import AuditRepository, record_refusal
from agency.auth.service import end_sessions
from agency.kernel.db import new_id, utcnow
from agency.kernel.errors import Unauthorized
from agency.kernel.i18n import Text
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import Subject, bind_tenant
from agency.login.links import duration
from agency.login.models import SignInLink
from agency.login.repository import SignInLinkRepository
from agency.mail.service import queue_mail
from agency.member.repository import UserRepository
from agency.tenant.repository import AgencyRepository

RESET_PREFIX = "agr"
PURPOSE = "password_reset"
_REFUSED = Text("This password reset link is unknown, already used or expired: ask for a new one.")


def reset_url(runtime: Runtime, token: str) -> str:
    settings = runtime.settings
    base = (settings.mail.frontend_url or settings.server.public_url).rstrip("/")
    return f"{base}/reset-password#token={token}"


async def request_password_reset(
    session: AsyncSession,
    runtime: Runtime,
    email: str,
    agency_id: uuid.UUID | None,
    locale: str | None,
) -> None:
    """Mail a reset link if ``email`` belongs to a member with a password; else nothing."""
    users = UserRepository(session)
    user = await users.by_email(email)
    if user is None or user.password_hash is None or user.disabled_at is not None:
        return
    memberships = [
        m for m in await users.memberships_of(user.id) if agency_id in (None, m.agency_id)
    ]
    if not memberships:
        return
    chosen = memberships[0].agency_id
    await bind_tenant(session, chosen)
    system = Subject(agency_id=chosen, kind="system")
    ttl = timedelta(minutes=runtime.settings.auth.password_reset_ttl_minutes)
    link_id = new_id()
    bearer = new_bearer(chosen, link_id)
    link = SignInLink(
        id=link_id,
        user_id=user.id,
        purpose=PURPOSE,
        secret_hash=hash_secret(bearer.secret),
        expires_at=utcnow() + ttl,
    )
    await SignInLinkRepository(session, system).add(link)
    language = user.locale or locale or "fr"
    agency = await AgencyRepository(session, system).current()
    await queue_mail(
        session,
        system,
        runtime.secrets,
        user.email,
        "password_reset",
        language,
        {
            "name": user.name,
            "agency": agency.name,
            "link": reset_url(runtime, bearer.render(RESET_PREFIX)),
            "valid_for": duration(ttl, language),
        },
        settings=runtime.settings.mail,
    )
    AuditRepository(session, system).record("auth.password_reset_requested", "user", user.id)


async def reset_password(session: AsyncSession, token: str, password: str) -> None:
    """Spend a reset link and set the new password; every session of the person ends."""
    bearer = parse_bearer(token, RESET_PREFIX)
    if bearer is None:
        raise Unauthorized(_REFUSED)
    await bind_tenant(session, bearer.agency_id)
    system = Subject(agency_id=bearer.agency_id, kind="system")
    links = SignInLinkRepository(session, system)
    link = await links.use(bearer.object_id, hash_secret(bearer.secret), utcnow())
    if link is None or link.purpose != PURPOSE:
        if await links.find(bearer.object_id) is not None:
            await record_refusal(
                session,
                bearer.agency_id,
                "auth.password_reset_refused",
                "sign_in_link",
                bearer.object_id,
            )
        raise Unauthorized(_REFUSED)
    user = await UserRepository(session).by_id(link.user_id)
    if user is None or user.disabled_at is not None:
        raise Unauthorized(_REFUSED)
    user.password_hash = await hash_password_off_loop(password)
    await end_sessions(session, system, user.id, keep=None)
    AuditRepository(session, system).record("auth.password_reset", "user", user.id)
