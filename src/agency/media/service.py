"""Media uploaded once per brand and reused across publication variants.

An upload is inspected before anything is stored, stored before its row is written, and its
row written in the request's transaction; the file of a deleted media is removed by the
``media.delete_object`` job once the deletion has committed.

The publishing pipeline reads media through :func:`load_for_publish` (connector ``Media``
with a streaming source and a fetchable URL) and :func:`describe_for_validation`; the
publication domain registers, with :func:`register_usage_check`, what keeps a media in use.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from agency.audit.repository import AuditRepository
from agency.brand.repository import BrandRepository
from agency.connector.base import Media, MediaSource
from agency.kernel.db import new_id
from agency.kernel.errors import Conflict, NotFound
from agency.kernel.http import check_if_match
from agency.kernel.jobs import enqueue
from agency.kernel.pagination import PageRequest
from agency.kernel.tenancy import Subject
from agency.media.inspection import inspect_file
from agency.media.models import MediaAsset
from agency.media.repository import MediaRepository
from agency.media.schemas import MediaUpdate
from agency.media.storage import CHUNK_SIZE, MediaStorage, media_storage, object_key
from agency.media.upload import Upload

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime

logger = logging.getLogger("agency.media")

UsageCheck = Callable[[AsyncSession, Subject, uuid.UUID], Awaitable[str | None]]
_usage_checks: list[UsageCheck] = []


def register_usage_check(check: UsageCheck) -> UsageCheck:
    """Add a reason a media cannot be deleted: ``check`` answers why, or None when free.

    Domains that reference media (publication variants) call this when imported; it
    returns ``check`` so it can be used as a decorator.
    """
    if check not in _usage_checks:
        _usage_checks.append(check)
    return check


class StorageSource(MediaSource):
    """A stored file's bytes, read from storage afresh each time they are iterated."""

    def __init__(self, storage: MediaStorage, key: str) -> None:
        self._storage = storage
        self._key = key

    async def chunks(self, size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        async for chunk in self._storage.chunks(self._key, size):
            yield chunk


class MediaService:
    def __init__(self, session: AsyncSession, subject: Subject, runtime: Runtime) -> None:
        self.session = session
        self.subject = subject
        self.runtime = runtime
        self.repo = MediaRepository(session, subject)
        self.audit = AuditRepository(session, subject)

    @property
    def storage(self) -> MediaStorage:
        return media_storage(self.runtime)

    async def ensure_brand(self, brand_id: uuid.UUID) -> None:
        await BrandRepository(self.session, self.subject).get(brand_id)

    async def upload(self, brand_id: uuid.UUID, upload: Upload) -> MediaAsset:
        """Inspect the spooled file, store it, then record it; nothing stays if any step fails."""
        await self.ensure_brand(brand_id)
        found = await anyio.to_thread.run_sync(inspect_file, upload.path)
        media_id = new_id()
        key = object_key(self.subject.agency_id, brand_id, media_id)
        await self.storage.put(key, upload.path, content_type=found.mime_type)
        try:
            asset = MediaAsset(
                id=media_id,
                brand_id=brand_id,
                kind=found.kind,
                mime_type=found.mime_type,
                size_bytes=upload.size,
                width=found.width,
                height=found.height,
                duration_seconds=found.duration_seconds,
                frames=found.frames,
                sha256=upload.sha256,
                filename=upload.filename,
                storage_key=key,
                alt_text=upload.alt_text,
                created_by=self.subject.user_id,
            )
            await self.repo.add(asset)
            self.audit.record(
                "media.uploaded",
                "media",
                media_id,
                {"brand_id": str(brand_id), "mime_type": found.mime_type, "size": upload.size},
            )
        except BaseException:
            with contextlib.suppress(Exception):
                await self.storage.delete(key)
            raise
        return asset

    async def list(
        self, brand_id: uuid.UUID, page: PageRequest, kind: str | None
    ) -> tuple[Sequence[MediaAsset], str | None]:
        await self.ensure_brand(brand_id)
        return await self.repo.page(page, self.repo.of_brand(brand_id, kind))

    async def get(self, media_id: uuid.UUID) -> MediaAsset:
        return await self.repo.get(media_id)

    async def update(
        self, media_id: uuid.UUID, data: MediaUpdate, if_match: str | None
    ) -> MediaAsset:
        asset = await self.repo.get(media_id)
        check_if_match(if_match, asset.version)
        changes: dict[str, Any] = {}
        for name, value in msgspec.structs.asdict(data).items():
            if value is msgspec.UNSET or getattr(asset, name) == value:
                continue
            setattr(asset, name, value)
            changes[name] = value
        if changes:
            await self.repo.flush()
            self.audit.record("media.updated", "media", asset.id, {"fields": sorted(changes)})
        return asset

    async def delete(self, media_id: uuid.UUID) -> None:
        """Refused while something uses the media; the file goes once the deletion commits."""
        asset = await self.repo.get(media_id)
        for check in _usage_checks:
            reason = await check(self.session, self.subject, media_id)
            if reason:
                raise Conflict(f"This media is in use: {reason}", reason=reason)
        await self.repo.delete(media_id)
        self.audit.record("media.deleted", "media", media_id, {"brand_id": str(asset.brand_id)})
        enqueue("media.delete_object", asset.storage_key)

    async def content(self, asset: MediaAsset) -> AsyncIterator[bytes]:
        return await self.storage.open(asset.storage_key)


async def _in_order(
    session: AsyncSession, subject: Subject, media_ids: Sequence[uuid.UUID]
) -> list[MediaAsset]:
    found = await MediaRepository(session, subject).many(media_ids)
    missing = next((m for m in media_ids if m not in found), None)
    if missing is not None:
        raise NotFound(f"No media with id {missing} in this agency.", media_id=str(missing))
    return [found[m] for m in media_ids]


def _describe(asset: MediaAsset, **extra: Any) -> Media:
    return Media(
        kind=asset.kind,  # type: ignore[arg-type]
        mime_type=asset.mime_type,
        size=asset.size_bytes,
        width=asset.width,
        height=asset.height,
        duration_seconds=asset.duration_seconds,
        alt_text=asset.alt_text,
        **extra,
    )


async def describe_for_validation(
    session: AsyncSession, subject: Subject, media_ids: Sequence[uuid.UUID]
) -> list[Media]:
    """The media, in the order given, as the connectors' validation reads them (no bytes)."""
    return [_describe(asset) for asset in await _in_order(session, subject, media_ids)]


async def load_for_publish(
    session: AsyncSession, subject: Subject, runtime: Runtime, media_ids: Sequence[uuid.UUID]
) -> list[Media]:
    """The media, in the order given, ready for a connector.

    Each has a ``source`` that streams the file from storage (readable more than once) and
    a ``public_url`` a network can fetch for ``AGENCY_MEDIA__PUBLIC_URL_TTL_SECONDS``.
    Raises :class:`NotFound` naming the first id that is not a media of this agency.
    """
    storage = media_storage(runtime)
    ttl = runtime.settings.media.public_url_ttl_seconds
    loaded = []
    for asset in await _in_order(session, subject, media_ids):
        url = await storage.fetch_url(
            asset.storage_key, agency_id=asset.agency_id, media_id=asset.id, ttl_seconds=ttl
        )
        loaded.append(
            _describe(asset, source=StorageSource(storage, asset.storage_key), public_url=url)
        )
    return loaded
