from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

from sqlalchemy import Select

from agency.brand.models import Brand, Crisis, CrisisEvent
from agency.kernel.repository import TenantRepository, one_of


class BrandRepository(TenantRepository[Brand]):
    model = Brand
    noun = "brand"

    def listing(self, archived: bool | None) -> Select[Brand]:
        stmt = self.select()
        if archived is True:
            stmt = stmt.where(Brand.archived_at.is_not(None))
        elif archived is False:
            stmt = stmt.where(Brand.archived_at.is_(None))
        return stmt

    async def lock(self, brand_id: uuid.UUID) -> Brand:
        """The brand, locked for a change of its crisis state (404 like a read)."""
        stmt = (
            self.select()
            .where(Brand.id == brand_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        found: Brand | None = (await self.session.execute(stmt)).scalar_one_or_none()
        if found is None:
            await self.get(brand_id)
        assert found is not None
        return found

    async def crises_of(
        self, brand_ids: Collection[uuid.UUID], *, share: bool = False
    ) -> dict[uuid.UUID, uuid.UUID | None]:
        """Each brand's crisis under way (None: none). With ``share`` the rows stay locked
        FOR SHARE until the commit: a crisis switched on meanwhile waits for it, so a call
        prepared in this transaction either went out before the crisis or sees it."""
        if not brand_ids:
            return {}
        stmt = (
            self.select()
            .with_only_columns(Brand.id, Brand.crisis_id)
            .where(one_of(Brand.id, brand_ids))
            .order_by(Brand.id)
        )
        if share:
            stmt = stmt.with_for_update(read=True)
        rows = (await self.session.execute(stmt)).all()
        return {brand_id: crisis_id for brand_id, crisis_id in rows}


class CrisisRepository(TenantRepository[Crisis]):
    model = Crisis
    noun = "crisis"

    def of_brand(self, brand_id: uuid.UUID) -> Select[Crisis]:
        return self.select().where(Crisis.brand_id == brand_id)


class CrisisEventRepository(TenantRepository[CrisisEvent]):
    model = CrisisEvent
    noun = "crisis event"

    async def of_crisis(self, crisis_id: uuid.UUID) -> Sequence[CrisisEvent]:
        stmt = (
            self.select()
            .where(CrisisEvent.crisis_id == crisis_id)
            .order_by(CrisisEvent.at, CrisisEvent.id)
        )
        return (await self.session.execute(stmt)).scalars().all()
