from __future__ import annotations

import uuid
from datetime import datetime

from agency.kernel.schemas import Input, Name, Output
from agency.tenant.models import Agency


class AgencyOut(Output):
    id: uuid.UUID
    name: str
    slug: str
    created_at: datetime

    @classmethod
    def of(cls, agency: Agency) -> AgencyOut:
        return cls(id=agency.id, name=agency.name, slug=agency.slug, created_at=agency.created_at)


class AgencyUpdate(Input):
    name: Name
