from __future__ import annotations

import uuid

from litestar import Controller, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from agency.access.permissions import Permission
from agency.client.schemas import (
    ClientMemberCreate,
    ClientMemberOut,
    ClientMemberPage,
    ClientMemberUpdate,
)
from agency.client.service import ClientMemberService, Inviter
from agency.kernel.deps import (
    IdempotencyGuard,
    IfMatch,
    Paging,
    provide_service,
)
from agency.kernel.http import etag


class BrandClientMemberController(Controller):
    path = "/brands/{brand_id:uuid}/client-members"
    tags = ["Client members"]
    dependencies = {"client_members": provide_service(ClientMemberService)}

    @post(
        opt={"permission": Permission.BRANDS_WRITE},
        summary="Give a person of the client a place on this brand",
    )
    async def create_client_member(
        self,
        brand_id: FromPath[uuid.UUID],
        data: JSONBody[ClientMemberCreate],
        client_members: NamedDependency[ClientMemberService],
        idempotency: IdempotencyGuard,
        invite_client: NamedDependency[Inviter],
    ) -> Response[ClientMemberOut]:
        member = await client_members.create(brand_id, data, invite_client)
        return Response(
            ClientMemberOut.of(member), status_code=201, headers={"ETag": etag(member.version)}
        )

    @get(opt={"permission": Permission.MEMBERS_READ}, summary="A brand's client members")
    async def list_client_members(
        self,
        brand_id: FromPath[uuid.UUID],
        client_members: NamedDependency[ClientMemberService],
        page: Paging,
    ) -> ClientMemberPage:
        rows, cursor = await client_members.list(brand_id, page)
        return ClientMemberPage(items=[ClientMemberOut.of(m) for m in rows], next_cursor=cursor)


class ClientMemberController(Controller):
    path = "/client-members"
    tags = ["Client members"]
    dependencies = {"client_members": provide_service(ClientMemberService)}

    @get(
        "/{client_member_id:uuid}",
        opt={"permission": Permission.MEMBERS_READ},
        summary="A client member",
    )
    async def get_client_member(
        self,
        client_member_id: FromPath[uuid.UUID],
        client_members: NamedDependency[ClientMemberService],
    ) -> Response[ClientMemberOut]:
        member = await client_members.get(client_member_id)
        return Response(ClientMemberOut.of(member), headers={"ETag": etag(member.version)})

    @patch(
        "/{client_member_id:uuid}",
        opt={"permission": Permission.BRANDS_WRITE},
        summary="Change a client member (only the fields sent); disable with disabled=true",
    )
    async def update_client_member(
        self,
        client_member_id: FromPath[uuid.UUID],
        data: JSONBody[ClientMemberUpdate],
        client_members: NamedDependency[ClientMemberService],
        if_match: IfMatch,
    ) -> Response[ClientMemberOut]:
        member = await client_members.update(client_member_id, data, if_match)
        return Response(ClientMemberOut.of(member), headers={"ETag": etag(member.version)})

    @delete(
        "/{client_member_id:uuid}",
        opt={"permission": Permission.BRANDS_WRITE},
        summary="Remove a client member from the brand (their sessions end with it)",
    )
    async def remove_client_member(
        self,
        client_member_id: FromPath[uuid.UUID],
        client_members: NamedDependency[ClientMemberService],
    ) -> None:
        await client_members.remove(client_member_id)
