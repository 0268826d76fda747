"""Where media files live: a local directory (embedded default) or S3-compatible storage.

Both backends take a finished file from disk (the upload was spooled, hashed and inspected
first), hand the bytes back as an async chunk iterator, delete idempotently and give a URL a
network can fetch the file from without credentials: a presigned GET on S3, a link signed by
:class:`~agency.media.links.MediaLinks` and served by the API for the local directory.

aiobotocore clients hold an aiohttp connection pool, which belongs to the event loop that
opened it; like the runtime's engines, the S3 backend keeps one client per loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, ClassVar

import anyio

from agency.config import Settings
from agency.kernel.runtime import Runtime
from agency.media.links import MediaLinks

CHUNK_SIZE = 1 << 20
# S3 multipart parts: at least 5 MiB each; files up to one part go in a single PUT.
PART_SIZE = 16 << 20
_KEY = re.compile(
    r"^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}(/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12})+$"
)


class MissingObject(Exception):
    """The storage has no file under this key (deleted out of band, or never written)."""


def object_key(agency_id: uuid.UUID, brand_id: uuid.UUID, media_id: uuid.UUID) -> str:
    """Keys are made of ids only: no client-chosen text ever reaches a path or a bucket."""
    return f"{agency_id}/{brand_id}/{media_id}"


def _checked(key: str) -> str:
    if not _KEY.match(key):
        raise ValueError(f"not a media storage key: {key!r}")
    return key


class MediaStorage(ABC):
    backend: ClassVar[str]

    def __init__(self, links: MediaLinks) -> None:
        self.links = links

    @abstractmethod
    async def put(self, key: str, path: Path, *, content_type: str) -> None:
        """Store the file at ``path`` under ``key``, streamed (never whole in memory)."""

    async def open(self, key: str, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        """The stored bytes, ``chunk_size`` at a time; :class:`MissingObject` is raised here,
        before a response starts, rather than halfway through the body."""
        if not await self.exists(key):
            raise MissingObject(key)
        return self.chunks(key, chunk_size)

    @abstractmethod
    def chunks(self, key: str, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        """An async generator over the stored bytes (it opens the object when first read)."""

    @abstractmethod
    async def exists(self, key: str) -> bool: ...

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove the object; no error when it is already gone."""

    @abstractmethod
    async def fetch_url(
        self, key: str, *, agency_id: uuid.UUID, media_id: uuid.UUID, ttl_seconds: int
    ) -> str:
        """A URL that serves the file, without credentials, for ``ttl_seconds``."""

    async def aclose(self) -> None:  # noqa: B027 - only the S3 backend holds anything
        """Release what this event loop holds (connection pools)."""


class LocalStorage(MediaStorage):
    backend = "local"

    def __init__(self, root: Path, links: MediaLinks) -> None:
        super().__init__(links)
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / _checked(key)

    async def put(self, key: str, path: Path, *, content_type: str) -> None:
        await anyio.to_thread.run_sync(self._copy_in, path, self.path(key))

    @staticmethod
    def _copy_in(source: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        # Written beside the target, then renamed: a reader never sees half a file.
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            shutil.copyfile(source, partial)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)

    async def chunks(self, key: str, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        try:
            handle = await anyio.open_file(self.path(key), "rb")
        except FileNotFoundError as exc:
            raise MissingObject(key) from exc
        async with handle:
            while chunk := await handle.read(chunk_size):
                yield chunk

    async def exists(self, key: str) -> bool:
        return await anyio.Path(self.path(key)).is_file()

    async def delete(self, key: str) -> None:
        await anyio.Path(self.path(key)).unlink(missing_ok=True)

    async def fetch_url(
        self, key: str, *, agency_id: uuid.UUID, media_id: uuid.UUID, ttl_seconds: int
    ) -> str:
        return self.links.url(agency_id, media_id, ttl_seconds)


class S3Storage(MediaStorage):
    backend = "s3"

    def __init__(self, settings: Settings, links: MediaLinks) -> None:
        super().__init__(links)
        media = settings.media
        if not media.s3_bucket:
            raise ValueError("AGENCY_MEDIA__S3_BUCKET is required when AGENCY_MEDIA__STORAGE=s3")
        self.bucket = media.s3_bucket
        secret = media.s3_secret_access_key
        self._client_args: dict[str, Any] = {
            "region_name": media.s3_region,
            "endpoint_url": media.s3_endpoint_url,
            "aws_access_key_id": media.s3_access_key_id,
            "aws_secret_access_key": secret.get_secret_value() if secret else None,
        }
        self._clients: dict[asyncio.AbstractEventLoop, tuple[Any, AsyncExitStack]] = {}
        self._lock = threading.Lock()

    async def _client(self) -> Any:
        loop = asyncio.get_running_loop()
        with self._lock:
            found = self._clients.get(loop)
        if found is not None:
            return found[0]
        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session

        # A custom endpoint (MinIO, R2, a test server) is addressed by path, not by host name.
        style = "path" if self._client_args["endpoint_url"] else "auto"
        config = AioConfig(signature_version="s3v4", s3={"addressing_style": style})
        stack = AsyncExitStack()
        client = await stack.enter_async_context(
            get_session().create_client("s3", config=config, **self._client_args)
        )
        with self._lock:
            winner = self._clients.setdefault(loop, (client, stack))
        if winner[0] is not client:  # another task of this loop got there first
            await stack.aclose()
        return winner[0]

    async def put(self, key: str, path: Path, *, content_type: str) -> None:
        client = await self._client()
        size = (await anyio.Path(path).stat()).st_size
        if size <= PART_SIZE:
            body = await anyio.to_thread.run_sync(path.read_bytes)
            await client.put_object(
                Bucket=self.bucket, Key=_checked(key), Body=body, ContentType=content_type
            )
            return
        upload = await client.create_multipart_upload(
            Bucket=self.bucket, Key=_checked(key), ContentType=content_type
        )
        upload_id = upload["UploadId"]
        try:
            parts = await self._upload_parts(client, key, upload_id, path)
            await client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            with contextlib.suppress(Exception):
                await client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise

    async def _upload_parts(
        self, client: Any, key: str, upload_id: str, path: Path
    ) -> list[dict[str, Any]]:
        parts = []
        handle = await anyio.open_file(path, "rb")
        async with handle:
            number = 1
            while part := await handle.read(PART_SIZE):
                answer = await client.upload_part(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=part
                )
                parts.append({"PartNumber": number, "ETag": answer["ETag"]})
                number += 1
        return parts

    async def chunks(self, key: str, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        client = await self._client()
        try:
            answer = await client.get_object(Bucket=self.bucket, Key=_checked(key))
        except client.exceptions.NoSuchKey as exc:
            raise MissingObject(key) from exc
        body = answer["Body"]
        try:
            async for chunk in body.iter_chunks(chunk_size):
                yield chunk
        finally:
            body.close()

    async def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        client = await self._client()
        try:
            await client.head_object(Bucket=self.bucket, Key=_checked(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    async def delete(self, key: str) -> None:
        client = await self._client()
        await client.delete_object(Bucket=self.bucket, Key=_checked(key))

    async def fetch_url(
        self, key: str, *, agency_id: uuid.UUID, media_id: uuid.UUID, ttl_seconds: int
    ) -> str:
        client = await self._client()
        url: str = await client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": _checked(key)},
            ExpiresIn=ttl_seconds,
        )
        return url

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            found = self._clients.pop(loop, None)
        if found is not None:
            await found[1].aclose()


def media_storage(runtime: Runtime) -> MediaStorage:
    """The runtime's storage (built on first use, closed with the runtime's loop)."""
    return runtime.component(build_storage)


def build_storage(settings: Settings) -> MediaStorage:
    """The backend ``settings.media.storage`` names."""
    links = MediaLinks.from_settings(settings)
    kind = settings.media.storage
    if kind == "local":
        return LocalStorage(Path(settings.media.local_path).expanduser(), links)
    if kind == "s3":
        return S3Storage(settings, links)
    raise ValueError(f"AGENCY_MEDIA__STORAGE must be 'local' or 's3', not {kind!r}")
