from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from agency.kernel.db import Base, IdMixin, TimestampMixin
from agency.kernel.tenancy import TenantMixin


class MediaAsset(IdMixin, TenantMixin, TimestampMixin, Base):
    """A file uploaded once for a brand and reused across publication variants."""

    __tablename__ = "media"
    # Lists page newest first (id desc) within a brand, optionally of one kind.
    __tenant_indexes__ = (Index("ix_media_agency_brand", "agency_id", "brand_id", "id"),)

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))  # image | video | gif
    mime_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int]
    width: Mapped[int | None]
    height: Mapped[int | None]
    duration_seconds: Mapped[float | None]
    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str | None] = mapped_column(String(300))
    storage_key: Mapped[str] = mapped_column(String(500))
    alt_text: Mapped[str | None] = mapped_column(String(1500))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    # Frames of an image (an animated GIF, WebP or PNG has more than one); None for a video.
    frames: Mapped[int | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}
