from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from agency.kernel.http import etag
from agency.kernel.schemas import Input, Name, Output
from agency.tenant.models import Agency


class AgencyOut(Output):
    id: uuid.UUID
    name: str
    slug: str
    login_origins: list[str]
    created_at: datetime
    # What an edit sends in If-Match (the ETag its GET answers with), so a list can edit.
    etag: str

    @classmethod
    def of(cls, agency: Agency) -> AgencyOut:
        return cls(
            etag=etag(agency.version),
            id=agency.id,
            name=agency.name,
            slug=agency.slug,
            login_origins=list(agency.login_origins),
            created_at=agency.created_at,
        )


Origin = Annotated[
    str,
    msgspec.Meta(
        max_length=300,
        pattern=r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?$",
        description="scheme://host[:port], no path",
    ),
]


class AgencyUpdate(Input):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    login_origins: Annotated[list[Origin], msgspec.Meta(max_length=20)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
