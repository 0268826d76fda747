"""Media: upload (streamed multipart), list, read, describe, delete, download, signed links."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Stream

from agency.access.permissions import Permission
from agency.kernel.deps import (
    AppRuntime,
    CurrentSubject,
    DbSession,
    IfMatch,
    Paging,
    provide_runtime_service,
)
from agency.kernel.errors import NotFound
from agency.kernel.http import etag
from agency.kernel.idempotency import IdempotencyKeyHeader, claim_idempotency_key
from agency.kernel.tenancy import Subject, bind_tenant
from agency.media.inspection import ACCEPTED_TYPES
from agency.media.models import MediaAsset
from agency.media.schemas import MediaKind, MediaOut, MediaPage, MediaUpdate
from agency.media.service import MediaService
from agency.media.storage import media_storage
from agency.media.upload import ALT_TEXT_FIELD, FILE_FIELD, MAX_ALT_TEXT, Upload, receive_upload


@dataclass
class UploadOperation(Operation):
    """The multipart body the upload route reads itself (so Litestar cannot describe it)."""

    def __post_init__(self) -> None:
        file = Schema(
            type=OpenAPIType.STRING,
            content_media_type="application/octet-stream",
            description=f"The file: {', '.join(sorted(ACCEPTED_TYPES))}.",
        )
        alt = Schema(type=OpenAPIType.STRING, max_length=MAX_ALT_TEXT, description="Alt text.")
        form = Schema(
            type=OpenAPIType.OBJECT,
            properties={FILE_FIELD: file, ALT_TEXT_FIELD: alt},
            required=[FILE_FIELD],
            additional_properties=False,  # receive_upload refuses any other part
        )
        self.request_body = RequestBody(
            content={"multipart/form-data": OpenAPIMediaType(schema=form)}, required=True
        )


@dataclass
class FileOperation(Operation):
    """A download answers the file in its own type."""

    def __post_init__(self) -> None:
        content = {
            mime: OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING, content_media_type=mime))
            for mime in sorted(ACCEPTED_TYPES)
        }
        responses = dict(self.responses or {})
        responses["200"] = OpenAPIResponse(description="The file's bytes.", content=content)
        self.responses = responses


KindFilter = Annotated[MediaKind | None, QueryParameter(description="Only media of this kind.")]


def _upload_digest(request: Request[Any, Any, Any], upload: Upload) -> str:
    """Two uploads are the same request when path, file and fields are (not the boundary)."""
    parts = [request.url.path, upload.sha256, upload.filename or "", upload.alt_text or ""]
    return hashlib.sha256("\n".join(["POST", *parts]).encode()).hexdigest()


def _file_response(asset: MediaAsset, chunks: AsyncIterator[bytes]) -> Stream:
    disposition = "inline"
    if asset.filename:
        disposition += f"; filename*=UTF-8''{quote(asset.filename, safe='')}"
    return Stream(
        chunks,
        media_type=asset.mime_type,
        headers={
            "Content-Length": str(asset.size_bytes),
            "Content-Disposition": disposition,
            "ETag": f'"{asset.sha256}"',
            "Cache-Control": "private, no-store",
            # Uploaded content never runs as a page of this origin.
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


class BrandMediaController(Controller):
    path = "/brands/{brand_id:uuid}/media"
    tags = ["Media"]
    dependencies = {"media_service": provide_runtime_service(MediaService)}

    @post(
        opt={
            "permission": Permission.PUBLICATIONS_WRITE,
            "problems": [413, 415],
            "streamed_body": True,
        },
        summary="Upload a media file (multipart/form-data: file, alt_text)",
        status_code=201,
        # The route streams its body to disk and enforces AGENCY_MEDIA__MAX_UPLOAD_BYTES
        # itself; every other route keeps the app's AGENCY_MAX_BODY_BYTES.
        request_max_body_size=None,
        operation_class=UploadOperation,
    )
    async def upload_media(
        self,
        request: Request[Any, Any, Any],
        runtime: AppRuntime,
        brand_id: FromPath[uuid.UUID],
        media_service: NamedDependency[MediaService],
        db_session: DbSession,
        subject: CurrentSubject,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[MediaOut]:
        """The type is read from the file's bytes: JPEG, PNG, WebP, GIF, MP4 or QuickTime.
        Dimensions (and a video's duration) are measured before the file is accepted."""
        await media_service.ensure_brand(brand_id)
        limit = runtime.settings.media.max_upload_bytes
        async with receive_upload(request, limit) as upload:
            if idempotency_key is not None:
                digest = _upload_digest(request, upload)
                await claim_idempotency_key(request, subject, db_session, idempotency_key, digest)
            asset = await media_service.upload(brand_id, upload)
        return Response(MediaOut.of(asset), status_code=201, headers={"ETag": etag(asset.version)})

    @get(opt={"permission": Permission.PUBLICATIONS_READ}, summary="A brand's media, newest first")
    async def list_media(
        self,
        brand_id: FromPath[uuid.UUID],
        media_service: NamedDependency[MediaService],
        page: Paging,
        kind: KindFilter = None,
    ) -> MediaPage:
        rows, cursor = await media_service.list(brand_id, page, kind)
        return MediaPage(items=[MediaOut.of(m) for m in rows], next_cursor=cursor)


class MediaController(Controller):
    path = "/media"
    tags = ["Media"]
    dependencies = {"media_service": provide_runtime_service(MediaService)}

    @get("/{media_id:uuid}", opt={"permission": Permission.PUBLICATIONS_READ}, summary="A media")
    async def get_media(
        self,
        media_id: FromPath[uuid.UUID],
        media_service: NamedDependency[MediaService],
    ) -> Response[MediaOut]:
        asset = await media_service.get(media_id)
        return Response(MediaOut.of(asset), headers={"ETag": etag(asset.version)})

    @patch(
        "/{media_id:uuid}",
        opt={"permission": Permission.PUBLICATIONS_WRITE},
        summary="Change a media's alt text",
    )
    async def update_media(
        self,
        media_id: FromPath[uuid.UUID],
        data: JSONBody[MediaUpdate],
        media_service: NamedDependency[MediaService],
        if_match: IfMatch,
    ) -> Response[MediaOut]:
        asset = await media_service.update(media_id, data, if_match)
        return Response(MediaOut.of(asset), headers={"ETag": etag(asset.version)})

    @delete(
        "/{media_id:uuid}",
        opt={"permission": Permission.PUBLICATIONS_WRITE, "problems": [409]},
        summary="Delete a media no publication uses (409 says what uses it)",
    )
    async def delete_media(
        self,
        media_id: FromPath[uuid.UUID],
        media_service: NamedDependency[MediaService],
    ) -> None:
        await media_service.delete(media_id)

    @get(
        "/{media_id:uuid}/content",
        opt={"permission": Permission.PUBLICATIONS_READ},
        summary="Download the file",
        operation_class=FileOperation,
    )
    async def download_media(
        self,
        media_id: FromPath[uuid.UUID],
        media_service: NamedDependency[MediaService],
    ) -> Stream:
        asset = await media_service.get(media_id)
        return _file_response(asset, await media_service.content(asset))


_INVALID_LINK = "This media link is invalid or has expired."


@get(
    "/media/{media_id:uuid}/signed",
    operation_id="downloadSignedMedia",
    opt={"public": True, "problems": [404]},
    tags=["Media"],
    summary="The file, through an expiring signed link (what networks fetch)",
    operation_class=FileOperation,
)
async def signed_media(
    runtime: AppRuntime,
    media_id: FromPath[uuid.UUID],
    db_session: DbSession,
    agency: Annotated[str | None, QueryParameter(max_length=36)] = None,
    expires: Annotated[str | None, QueryParameter(max_length=12)] = None,
    signature: Annotated[str | None, QueryParameter(max_length=64)] = None,
) -> Stream:
    """All three query parameters come from the link this API made; an altered, incomplete or
    expired link answers 404, exactly like a media that does not exist."""
    agency_id = media_storage(runtime).links.verify(agency, media_id, expires, signature)
    if agency_id is None:
        raise NotFound(_INVALID_LINK)
    await bind_tenant(db_session, agency_id)
    service = MediaService(db_session, Subject(agency_id=agency_id, kind="system"), runtime)
    try:
        asset = await service.get(media_id)
    except NotFound:
        raise NotFound(_INVALID_LINK) from None
    return _file_response(asset, await service.content(asset))


ROUTES: list[Any] = [BrandMediaController, MediaController, signed_media]
