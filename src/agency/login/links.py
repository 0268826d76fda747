"""E-mailed sign-in links: the invitation of a new client member, and the magic link that
signs a client member in where their brand has no identity provider.

A link is a bearer secret (``agm_<agency and link ids>.<secret>``) that is single-use
(redeemed by one conditional UPDATE), short-lived and bound to one person. It leads to the
frontend with the secret in the URL fragment, which browsers never send to a server.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from agency.access.secrets import hash_secret, new_bearer, parse_bearer
from agency.audit.repository import AuditRepository, record_refusal
from agency.auth.service import Issued, SessionLife, start_client_session
from agency.client.models import ClientMember
from agency.client.repository import ClientMemberRepository
from agency.client.service import Inviter
from agency.config import Settings
from agency.kernel.db import new_id, utcnow
from agency.kernel.errors import Unauthorized
from agency.kernel.i18n import N_, translate
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import Subject, bind_tenant
from agency.login.models import SignInLink
from agency.login.repository import SignInLinkRepository
from agency.mail.service import queue_mail
from agency.member.models import Invitation
from agency.member.repository import UserRepository
from agency.member.service import InvitationMailed, InvitationMailer
from agency.tenant.repository import AgencyRepository

LINK_PREFIX = "agm"
_REFUSED = "This sign-in link is unknown, already used or expired: ask for a new one."


def duration(ttl: timedelta, locale: str) -> str:
    minutes = int(ttl.total_seconds() // 60)
    fr = locale == "fr"
    if minutes < 120:
        return f"{minutes} minutes"
    if minutes < 48 * 60:
        return f"{minutes // 60} {'heures' if fr else 'hours'}"
    return f"{minutes // 1440} {'jours' if fr else 'days'}"


async def _issue(
    session: AsyncSession, subject: Subject, user_id: uuid.UUID, purpose: str, ttl: timedelta
) -> str:
    link_id = new_id()
    bearer = new_bearer(subject.agency_id, link_id)
    link = SignInLink(
        id=link_id,
        user_id=user_id,
        purpose=purpose,
        secret_hash=hash_secret(bearer.secret),
        expires_at=utcnow() + ttl,
    )
    await SignInLinkRepository(session, subject).add(link)
    return bearer.render(LINK_PREFIX)


def link_url(settings: Settings, token: str) -> str:
    base = (settings.mail.frontend_url or settings.server.public_url).rstrip("/")
    return f"{base}/sign-in#token={token}"


async def send_link(
    session: AsyncSession,
    subject: Subject,
    runtime: Runtime,
    member: ClientMember,
    template: str,
    ttl: timedelta,
    **context: str,
) -> None:
    """Mail ``member`` a sign-in link in their locale (``template``: invitation or magic)."""
    purpose = "invitation" if template == "client_invitation" else "magic_link"
    token = await _issue(session, subject, member.user_id, purpose, ttl)
    agency = await AgencyRepository(session, subject).current()
    await queue_mail(
        session,
        subject,
        runtime.secrets,
        member.email,
        template,
        member.locale,
        {
            "name": member.name,
            "agency": agency.name,
            "link": link_url(runtime.settings, token),
            "valid_for": duration(ttl, member.locale),
            **context,
        },
        settings=runtime.settings.mail,
    )


def client_inviter(session: AsyncSession, subject: Subject, runtime: Runtime) -> Inviter:
    """What mails a new client member their invitation, in this transaction."""

    async def invite(member: ClientMember, brand_name: str) -> None:
        ttl = timedelta(hours=runtime.settings.auth.invitation_ttl_hours)
        await send_link(
            session, subject, runtime, member, "client_invitation", ttl, brand=brand_name
        )

    return invite


async def request_magic_link(
    session: AsyncSession, runtime: Runtime, email: str, agency_id: uuid.UUID
) -> None:
    """Mail a sign-in link if ``email`` is an active client member of the agency; say
    nothing either way, so the answer does not tell who is a client member."""
    await bind_tenant(session, agency_id)
    subject = Subject(agency_id=agency_id, kind="system")
    user = await UserRepository(session).by_email(email)
    if user is None:
        return
    places = await ClientMemberRepository(session, subject).active_places_of(user.id)
    if not places:
        return
    ttl = timedelta(minutes=runtime.settings.mail.magic_link_ttl_minutes)
    await send_link(session, subject, runtime, places[0], "magic_link", ttl)


async def redeem(session: AsyncSession, token: str, life: SessionLife) -> tuple[Issued, Subject]:
    """Trade a sign-in link for a client session; the link is spent, whatever follows."""
    bearer = parse_bearer(token, LINK_PREFIX)
    if bearer is None:
        raise Unauthorized(_REFUSED)
    await bind_tenant(session, bearer.agency_id)
    system = Subject(agency_id=bearer.agency_id, kind="system")
    links = SignInLinkRepository(session, system)
    link = await links.use(bearer.object_id, hash_secret(bearer.secret), utcnow())
    if link is None:
        if await links.find(bearer.object_id) is not None:
            await record_refusal(
                session,
                bearer.agency_id,
                "auth.sign_in_link_refused",
                "sign_in_link",
                bearer.object_id,
            )
        raise Unauthorized(_REFUSED)
    places = await ClientMemberRepository(session, system).active_places_of(link.user_id)
    if not places:
        await record_refusal(
            session,
            bearer.agency_id,
            "auth.sign_in_link_refused",
            "user",
            link.user_id,
            {"reason": "no active client member place"},
        )
        raise Unauthorized("This person is no longer an active client member of the agency.")
    issued, subject = await start_client_session(session, bearer.agency_id, link.user_id, life)
    AuditRepository(session, subject).record(
        "auth.sign_in_link", "sign_in_link", link.id, {"purpose": link.purpose}
    )
    return issued, subject


# The role an invitation grants, as the invitee reads it.
ROLE_NAMES = {
    "owner": N_("owner"),
    "admin": N_("administrator"),
    "manager": N_("manager"),
    "community_manager": N_("community manager"),
    "analyst": N_("analyst"),
}


def staff_invitation_mailer(
    session: AsyncSession, subject: Subject, runtime: Runtime
) -> InvitationMailer:
    """What mails a new staff member their invitation, in this transaction: the token goes
    to their mailbox, in a link to the frontend's ``/accept-invitation``."""

    async def mail(invitation: Invitation, token: str, locale: str) -> InvitationMailed:
        settings = runtime.settings
        agency = await AgencyRepository(session, subject).current()
        inviter = await UserRepository(session).by_id(subject.user_id) if subject.user_id else None
        base = (settings.mail.frontend_url or settings.server.public_url).rstrip("/")
        queued = await queue_mail(
            session,
            subject,
            runtime.secrets,
            invitation.email,
            "staff_invitation",
            locale,
            {
                "agency": agency.name,
                "inviter": inviter.name if inviter is not None else agency.name,
                "role": translate(locale, ROLE_NAMES.get(invitation.role, invitation.role)),
                "link": f"{base}/accept-invitation#token={token}",
                "valid_for": duration(timedelta(hours=settings.auth.invitation_ttl_hours), locale),
            },
            settings=settings.mail,
        )
        return InvitationMailed(queued.id, by_smtp=settings.mail.smtp_host is not None)

    return mail
