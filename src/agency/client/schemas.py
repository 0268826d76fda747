from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from agency.access.client_permissions import ClientPermission
from agency.brand.schemas import ReportingLine
from agency.client.models import ClientMember
from agency.kernel.http import etag
from agency.kernel.schemas import Email, Input, Locale, Name, Output

Permissions = Annotated[list[ClientPermission], msgspec.Meta(max_length=10)]


class ClientMemberCreate(Input):
    name: Name
    email: Email
    reporting_line: ReportingLine
    locale: Locale = Locale.FR
    # Mail them an invitation with a sign-in link (in their locale).
    invite: bool = True
    permissions: Permissions = msgspec.field(
        default_factory=lambda: [ClientPermission.CALENDAR_READ]
    )


class ClientMemberUpdate(Input):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    reporting_line: ReportingLine | msgspec.UnsetType = msgspec.UNSET
    locale: Locale | msgspec.UnsetType = msgspec.UNSET
    permissions: Permissions | msgspec.UnsetType = msgspec.UNSET
    disabled: bool | msgspec.UnsetType = msgspec.UNSET


class ClientMemberOut(Output):
    id: uuid.UUID
    brand_id: uuid.UUID
    user_id: uuid.UUID
    name: str
    email: str
    reporting_line: ReportingLine
    locale: Locale
    permissions: list[ClientPermission]
    disabled: bool
    created_at: datetime
    # What an edit sends in If-Match (the ETag its GET answers with), so a list can edit.
    etag: str

    @classmethod
    def of(cls, m: ClientMember) -> ClientMemberOut:
        return cls(
            etag=etag(m.version),
            id=m.id,
            brand_id=m.brand_id,
            user_id=m.user_id,
            name=m.name,
            email=m.email,
            reporting_line=ReportingLine(m.reporting_line),
            locale=Locale(m.locale),
            permissions=[ClientPermission(p) for p in m.permissions],
            disabled=m.disabled_at is not None,
            created_at=m.created_at,
        )


class ClientMemberPage(Output):
    items: list[ClientMemberOut]
    next_cursor: str | None
