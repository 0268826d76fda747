from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from agency.access.permissions import Role
from agency.kernel.http import etag
from agency.kernel.schemas import Email, Input, Name, Output, Password
from agency.member.models import Invitation, Membership


class MemberOut(Output):
    id: uuid.UUID
    user_id: uuid.UUID
    email: str
    name: str
    role: Role
    created_at: datetime
    # What an edit sends in If-Match (the ETag its GET answers with), so a list can edit.
    etag: str

    @classmethod
    def of(cls, m: Membership) -> MemberOut:
        return cls(
            etag=etag(m.version),
            id=m.id,
            user_id=m.user_id,
            email=m.user.email,
            name=m.user.name,
            role=Role(m.role),
            created_at=m.created_at,
        )


class MemberPage(Output):
    items: list[MemberOut]
    next_cursor: str | None


class MemberUpdate(Input):
    role: Role


class InvitationCreate(Input):
    email: Email
    role: Role
    # The language of the invitation e-mail; default: the request's.
    locale: Literal["fr", "en"] | None = None


class InvitationOut(Output):
    id: uuid.UUID
    email: str
    role: Role
    invited_by: uuid.UUID | None
    created_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, i: Invitation) -> InvitationOut:
        return cls(
            id=i.id,
            email=i.email,
            role=Role(i.role),
            invited_by=i.invited_by,
            created_at=i.created_at,
            expires_at=i.expires_at,
        )


class InvitationCreated(InvitationOut):
    """The invitation, e-mailed to the invitee."""

    # The e-mail carrying the invitation (GET /mail/messages/{id} says where it stands).
    mail_id: uuid.UUID
    # The invitation's token, only while no SMTP server is configured (the outbox reaches
    # nobody): deprecated, it will go; with SMTP it is only in the invitee's mailbox.
    token: str | None = None


class InvitationPage(Output):
    items: list[InvitationOut]
    next_cursor: str | None


class InvitationAccept(Input):
    token: str
    password: Password
    name: Name | None = None
