"""Client brands. Charters are validated documents; every change is in the audit log."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from agency.audit.repository import AuditRepository
from agency.brand.models import Brand
from agency.brand.repository import BrandRepository
from agency.brand.schemas import BrandCreate, BrandUpdate, CommunityCharter
from agency.kernel.db import utcnow
from agency.kernel.errors import FieldError, InvalidInput
from agency.kernel.http import check_if_match
from agency.kernel.i18n import Text
from agency.kernel.pagination import PageRequest
from agency.kernel.tenancy import Subject

_SLUG_TAKEN = "Another brand of this agency already uses this slug."


def _problems(timezone: str | None, community: CommunityCharter | None) -> list[FieldError]:
    problems = []
    if timezone is not None:
        try:
            ZoneInfo(timezone)
            valid = timezone in available_timezones() or timezone == "UTC"
        except (ZoneInfoNotFoundError, ValueError):
            valid = False
        if not valid:
            message = Text("Not an IANA time zone: {value}.", value=timezone)
            problems.append(FieldError(message, "unknown_timezone", "timezone"))
    if community is not None:
        numbers = [c.number for c in community.clauses]
        if len(numbers) != len(set(numbers)):
            message = Text("Clause numbers must be unique.")
            problems.append(FieldError(message, "duplicate_number", "community_charter.clauses"))
    return problems


class BrandService:
    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.repo = BrandRepository(session, subject)
        self.audit = AuditRepository(session, subject)

    async def create(self, data: BrandCreate) -> Brand:
        problems = _problems(data.timezone, data.community_charter)
        if problems:
            raise InvalidInput(Text("The brand cannot be created as sent."), errors=problems)
        fields = msgspec.to_builtins(data)
        brand = Brand(**fields)
        await self.repo.add(brand, conflict=_SLUG_TAKEN)
        self.audit.record("brand.created", "brand", brand.id, {"slug": brand.slug})
        return brand

    async def list(
        self, page: PageRequest, archived: bool | None
    ) -> tuple[Sequence[Brand], str | None]:
        return await self.repo.page(page, self.repo.listing(archived))

    async def get(self, brand_id: uuid.UUID) -> Brand:
        return await self.repo.get(brand_id)

    async def update(self, brand_id: uuid.UUID, data: BrandUpdate, if_match: str | None) -> Brand:
        brand = await self.repo.get(brand_id)
        check_if_match(if_match, brand.version)
        community = data.community_charter if data.community_charter is not msgspec.UNSET else None
        timezone = data.timezone if data.timezone is not msgspec.UNSET else None
        problems = _problems(timezone, community)
        if problems:
            raise InvalidInput(Text("The brand cannot be changed as sent."), errors=problems)
        changes: dict[str, Any] = {}
        for name, value in msgspec.structs.asdict(data).items():
            if value is msgspec.UNSET:
                continue
            if name == "archived":
                if value != (brand.archived_at is not None):
                    brand.archived_at = utcnow() if value else None
                    changes["archived"] = value
                continue
            new = msgspec.to_builtins(value)
            if getattr(brand, name) != new:
                changes[name] = new
                setattr(brand, name, new)
        if changes:
            await self.repo.flush(conflict=_SLUG_TAKEN)
            self.audit.record("brand.updated", "brand", brand.id, {"fields": sorted(changes)})
        return brand
