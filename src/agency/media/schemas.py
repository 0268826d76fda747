from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

import msgspec

from agency.kernel.http import etag
from agency.kernel.schemas import Input, Output
from agency.media.models import MediaAsset
from agency.media.upload import MAX_ALT_TEXT

AltText = Annotated[str, msgspec.Meta(max_length=MAX_ALT_TEXT)]


class MediaKind(StrEnum):
    """``gif`` is an animated GIF; a still GIF is an ``image``, as the networks count them."""

    IMAGE = "image"
    VIDEO = "video"
    GIF = "gif"


class MediaUpdate(Input):
    """Only the fields present change; ``null`` clears the alt text."""

    alt_text: AltText | msgspec.UnsetType | None = msgspec.UNSET


class MediaOut(Output):
    id: uuid.UUID
    brand_id: uuid.UUID
    kind: MediaKind
    mime_type: str
    size_bytes: int
    width: int | None
    height: int | None
    duration_seconds: float | None
    frames: int | None
    sha256: str
    filename: str | None
    alt_text: str | None
    created_by: uuid.UUID | None
    created_at: datetime
    # What an edit sends in If-Match (the ETag its GET answers with), so a list can edit.
    etag: str

    @classmethod
    def of(cls, m: MediaAsset) -> MediaOut:
        return cls(
            etag=etag(m.version),
            id=m.id,
            brand_id=m.brand_id,
            kind=MediaKind(m.kind),
            mime_type=m.mime_type,
            size_bytes=m.size_bytes,
            width=m.width,
            height=m.height,
            duration_seconds=m.duration_seconds,
            frames=m.frames,
            sha256=m.sha256,
            filename=m.filename,
            alt_text=m.alt_text,
            created_by=m.created_by,
            created_at=m.created_at,
        )


class MediaPage(Output):
    items: list[MediaOut]
    next_cursor: str | None
