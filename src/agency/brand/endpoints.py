from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from agency.access.permissions import Permission
from agency.brand.schemas import BrandCreate, BrandOut, BrandPage, BrandUpdate
from agency.brand.service import BrandService
from agency.kernel.deps import (
    IdempotencyGuard,
    IfMatch,
    Paging,
    provide_service,
)
from agency.kernel.http import etag


class BrandController(Controller):
    path = "/brands"
    tags = ["Brands"]
    dependencies = {"brands": provide_service(BrandService)}

    @post(opt={"permission": Permission.BRANDS_WRITE}, summary="Create a client brand")
    async def create_brand(
        self,
        data: JSONBody[BrandCreate],
        brands: NamedDependency[BrandService],
        idempotency: IdempotencyGuard,
    ) -> Response[BrandOut]:
        brand = await brands.create(data)
        return Response(BrandOut.of(brand), status_code=201, headers={"ETag": etag(brand.version)})

    @get(opt={"permission": Permission.BRANDS_READ}, summary="List client brands")
    async def list_brands(
        self,
        brands: NamedDependency[BrandService],
        page: Paging,
        archived: Annotated[
            bool | None, QueryParameter(description="Only archived (true) or active (false).")
        ] = None,
    ) -> BrandPage:
        rows, cursor = await brands.list(page, archived)
        return BrandPage(items=[BrandOut.of(b) for b in rows], next_cursor=cursor)

    @get("/{brand_id:uuid}", opt={"permission": Permission.BRANDS_READ}, summary="Get a brand")
    async def get_brand(
        self,
        brand_id: FromPath[uuid.UUID],
        brands: NamedDependency[BrandService],
    ) -> Response[BrandOut]:
        brand = await brands.get(brand_id)
        return Response(BrandOut.of(brand), headers={"ETag": etag(brand.version)})

    @patch(
        "/{brand_id:uuid}",
        opt={"permission": Permission.BRANDS_WRITE},
        summary="Change a brand (only the fields sent); archive with archived=true",
    )
    async def update_brand(
        self,
        brand_id: FromPath[uuid.UUID],
        data: JSONBody[BrandUpdate],
        brands: NamedDependency[BrandService],
        if_match: IfMatch,
    ) -> Response[BrandOut]:
        brand = await brands.update(brand_id, data, if_match)
        return Response(BrandOut.of(brand), headers={"ETag": etag(brand.version)})
