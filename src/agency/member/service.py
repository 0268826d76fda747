"""Members of an agency, their roles, and invitations."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from agency.access import policy
from agency.access.permissions import Role
from agency.access.secrets import (
    INVITATION_PREFIX,
    BearerSecret,
    hash_password_off_loop,
    hash_secret,
    new_bearer,
    secret_matches,
    verify_password_off_loop,
)
from agency.audit.repository import AuditRepository
from agency.kernel.db import new_id, utcnow
from agency.kernel.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from agency.kernel.http import check_if_match
from agency.kernel.i18n import Text
from agency.kernel.pagination import PageRequest
from agency.kernel.tenancy import Subject, bind_tenant
from agency.member.models import Invitation, Membership, User
from agency.member.repository import InvitationRepository, MembershipRepository, UserRepository


@dataclass(frozen=True)
class InvitationMailed:
    mail_id: uuid.UUID
    # Sent by an SMTP server: the token stays out of the API's answer (it is in the mailbox).
    by_smtp: bool


# Mails an invitation (its token, in a language): the login package provides it, as it
# provides the client members' (``invite_client``).
InvitationMailer = Callable[[Invitation, str, str], Awaitable[InvitationMailed]]


class MemberService:
    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.subject = subject
        self.members = MembershipRepository(session, subject)
        self.invitations = InvitationRepository(session, subject)
        self.audit = AuditRepository(session, subject)

    async def list(self, page: PageRequest) -> tuple[Sequence[Membership], str | None]:
        return await self.members.page(page)

    async def get(self, member_id: uuid.UUID) -> Membership:
        return await self.members.get(member_id)

    async def change_role(
        self, member_id: uuid.UUID, role: Role, if_match: str | None
    ) -> Membership:
        member = await self.members.get(member_id)
        check_if_match(if_match, member.version)
        policy.require_may_act_on(self.subject, member.role, "change this member's role")
        policy.require_may_grant(self.subject, role)
        if member.role == role:
            return member
        if member.role == Role.OWNER:
            await self._keep_an_owner()
        self.audit.record(
            "member.role_changed", "member", member.id, {"role": [member.role, role.value]}
        )
        member.role = role.value
        await self.members.flush()
        return member

    async def remove(self, member_id: uuid.UUID) -> None:
        member = await self.members.get(member_id)
        policy.require_may_act_on(self.subject, member.role, "remove this member")
        if member.role == Role.OWNER:
            await self._keep_an_owner()
        await self.members.delete(member.id)
        self.audit.record("member.removed", "member", member.id, {"user_id": str(member.user_id)})

    async def _keep_an_owner(self) -> None:
        if await self.members.count_owners() <= 1:
            raise Conflict(
                Text("An agency keeps at least one owner: make someone else owner first.")
            )

    async def invite(self, email: str, role: Role, ttl: timedelta) -> tuple[Invitation, str]:
        policy.require_may_grant(self.subject, role)
        invitation_id = new_id()
        bearer = new_bearer(self.subject.agency_id, invitation_id)
        invitation = Invitation(
            id=invitation_id,
            email=email.strip().lower(),
            role=role.value,
            secret_hash=hash_secret(bearer.secret),
            invited_by=policy.issuer(self.subject),
            system_issued=policy.issues_as_system(self.subject),
            expires_at=utcnow() + ttl,
        )
        await self.invitations.add(invitation)
        self.audit.record(
            "invitation.created", "invitation", invitation.id, {"email": email, "role": role}
        )
        return invitation, bearer.render(INVITATION_PREFIX)

    async def list_invitations(self, page: PageRequest) -> tuple[Sequence[Invitation], str | None]:
        return await self.invitations.page(page, self.invitations.pending())

    async def revoke_invitation(self, invitation_id: uuid.UUID) -> None:
        invitation = await self.invitations.get(invitation_id)
        policy.require_may_act_on(self.subject, invitation.role, "revoke this invitation")
        if invitation.accepted_at is not None:
            raise Conflict(Text("This invitation was already accepted; remove the member instead."))
        invitation.revoked_at = utcnow()
        self.audit.record("invitation.revoked", "invitation", invitation.id)


async def accept_invitation(
    session: AsyncSession, bearer: BearerSecret, name: str | None, password: str
) -> Membership:
    """Join the inviting agency, creating the user account on first acceptance."""
    await bind_tenant(session, bearer.agency_id)
    subject = Subject(agency_id=bearer.agency_id, kind="system")
    invitations = InvitationRepository(session, subject)
    found = await invitations.find_with_inviter_role(bearer.object_id)
    invitation, inviter_role = found if found is not None else (None, None)
    now = utcnow()
    if (
        invitation is None
        or not secret_matches(bearer.secret, invitation.secret_hash)
        or invitation.revoked_at is not None
        or invitation.accepted_at is not None
        or invitation.expires_at <= now
    ):
        raise NotFound(Text("This invitation does not exist, was used, revoked or has expired."))
    if not invitation.system_issued and not policy.may_still_grant(inviter_role, invitation.role):
        raise Forbidden(
            Text("Whoever sent this invitation may no longer grant its role: ask for a new one.")
        )
    users = UserRepository(session)
    user = await users.by_email(invitation.email)
    if user is None:
        if not name:
            raise InvalidInput(
                Text("A name is needed to create the account."),
                errors=[FieldError(Text("Required for a new account."), "required", "name")],
            )
        password_hash = await hash_password_off_loop(password)
        user = users.add(User(email=invitation.email, name=name, password_hash=password_hash))
        await session.flush()
    elif not await verify_password_off_loop(password, user.password_hash):
        raise Forbidden(Text("This e-mail already has an account: give its password to accept."))
    members = MembershipRepository(
        session, Subject(agency_id=bearer.agency_id, kind="system", user_id=user.id)
    )
    if await members.of_user(user.id) is not None:
        raise Conflict(Text("This account is already a member of the agency."))
    membership = Membership(user_id=user.id, role=invitation.role)
    await members.add(membership)
    invitation.accepted_at = now
    AuditRepository(session, members.subject).record(
        "invitation.accepted", "invitation", invitation.id, {"user_id": str(user.id)}
    )
    return membership
