from __future__ import annotations

import uuid
from datetime import timedelta

import msgspec
from litestar import Controller, Response, delete, get, patch, post
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
from agency.member.schemas import (
    InvitationCreate,
    InvitationCreated,
    InvitationOut,
    InvitationPage,
    MemberOut,
    MemberPage,
    MemberUpdate,
)
from agency.member.service import MemberService


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
        data: JSONBody[InvitationCreate],
        members: NamedDependency[MemberService],
        idempotency: IdempotencyGuard,
        runtime: AppRuntime,
    ) -> InvitationCreated:
        ttl = timedelta(hours=runtime.settings.auth.invitation_ttl_hours)
        invitation, token = await members.invite(data.email, data.role, ttl)
        return InvitationCreated(
            **msgspec.structs.asdict(InvitationOut.of(invitation)), token=token
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
