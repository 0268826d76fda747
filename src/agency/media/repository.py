from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select

from agency.kernel.repository import TenantRepository
from agency.media.models import MediaAsset


class MediaRepository(TenantRepository[MediaAsset]):
    model = MediaAsset
    noun = "media"

    def of_brand(self, brand_id: uuid.UUID, kind: str | None = None) -> Select[MediaAsset]:
        stmt = self.select().where(MediaAsset.brand_id == brand_id)
        if kind is not None:
            stmt = stmt.where(MediaAsset.kind == kind)
        return stmt

    async def many(self, media_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, MediaAsset]:
        if not media_ids:
            return {}
        stmt = self.select().where(MediaAsset.id.in_(set(media_ids)))
        return {m.id: m for m in (await self.session.execute(stmt)).scalars()}
