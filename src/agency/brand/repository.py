from __future__ import annotations

from sqlalchemy import Select

from agency.brand.models import Brand
from agency.kernel.repository import TenantRepository


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
