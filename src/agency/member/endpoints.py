from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from agency.access.permissions import Permission
from agency.kernel.deps import (
    AppRuntime,
    IdempotencyGuard,
    IfMatch,
    Paging,
    provide_service,
)
from agency.kernel.http import etag
from agency.kernel.problems import request_locale
from agency.member.schemas import (
    InvitationCreate,
    InvitationCreated,
    InvitationOut,
    InvitationPage,
    MemberOut,
    MemberPage,
    MemberUpdate,
)
from agency.member.service import InvitationMailer, MemberService


class MemberController(Controller):
    path = "/members"
    tags = ["Members"]
    dependencies = {"members": provide_service(MemberService)}

    @get(opt={"permission": Permission.MEMBERS_READ}, summary="List members")
    async def list_members(
        self,
        members: NamedDependency[MemberService],
        page: Paging,
    ) -> MemberPage:
        rows, cursor = await members.list(page)
        return MemberPage(items=[MemberOut.of(m) for m in rows], next_cursor=cursor)

    @get(
        "/{member_id:uuid}",
        # The name and e-mail come from the person's account, not the membership's version.
        opt={"permission": Permission.MEMBERS_READ, "partial_etag": True},
        summary="Get a member",
    )
    async def get_member(
        self,
        member_id: FromPath[uuid.UUID],
        members: NamedDependency[MemberService],
    ) -> Response[MemberOut]:
        member = await members.get(member_id)
        return Response(MemberOut.of(member), headers={"ETag": etag(member.version)})

    @patch(
        "/{member_id:uuid}",
        opt={"permission": Permission.MEMBERS_MANAGE},
        summary="Change a member's role",
    )
    async def update_member(
        self,
        member_id: FromPath[uuid.UUID],
        data: JSONBody[MemberUpdate],
        members: NamedDependency[MemberService],
        if_match: IfMatch,
    ) -> Response[MemberOut]:
        member = await members.change_role(member_id, data.role, if_match)
        return Response(MemberOut.of(member), headers={"ETag": etag(member.version)})

    @delete(
        "/{member_id:uuid}",
        opt={"permission": Permission.MEMBERS_MANAGE},
        summary="Remove a member",
    )
    async def remove_member(
        self,
        member_id: FromPath[uuid.UUID],
        members: NamedDependency[MemberService],
    ) -> None:
        await members.remove(member_id)


class InvitationController(Controller):
    path = "/invitations"
    tags = ["Members"]
    dependencies = {"members": provide_service(MemberService)}

    @post(opt={"permission": Permission.MEMBERS_MANAGE}, summary="Invite someone by e-mail")
    async def create_invitation(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[InvitationCreate],
        members: NamedDependency[MemberService],
        idempotency: IdempotencyGuard,
        runtime: AppRuntime,
        mail_invitation: NamedDependency[InvitationMailer],
    ) -> InvitationCreated:
        """The invitee receives the token by e-mail, in ``locale`` (default: this request's
        language). ``mail_id`` follows the e-mail (``GET /mail/messages/{id}``). ``token``
        is answered only while no SMTP server is configured (the embedded default writes
        e-mails to an outbox folder, which reaches nobody): with one, it stays in the
        invitee's mailbox."""
        ttl = timedelta(hours=runtime.settings.auth.invitation_ttl_hours)
        invitation, token = await members.invite(data.email, data.role, ttl)
        mailed = await mail_invitation(invitation, token, data.locale or request_locale(request))
        return InvitationCreated(
            **msgspec.structs.asdict(InvitationOut.of(invitation)),
            token=None if mailed.by_smtp else token,
            mail_id=mailed.mail_id,
        )

    @get(opt={"permission": Permission.MEMBERS_READ}, summary="List pending invitations")
    async def list_invitations(
        self,
        members: NamedDependency[MemberService],
        page: Paging,
    ) -> InvitationPage:
        rows, cursor = await members.list_invitations(page)
        return InvitationPage(items=[InvitationOut.of(i) for i in rows], next_cursor=cursor)

    @delete(
        "/{invitation_id:uuid}",
        opt={"permission": Permission.MEMBERS_MANAGE},
        summary="Revoke an invitation",
    )
    async def revoke_invitation(
        self,
        invitation_id: FromPath[uuid.UUID],
        members: NamedDependency[MemberService],
    ) -> None:
        await members.revoke_invitation(invitation_id)
