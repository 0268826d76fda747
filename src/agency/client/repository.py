from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select

from agency.client.models import ClientMember
from agency.kernel.repository import TenantRepository


class ClientMemberRepository(TenantRepository[ClientMember]):
    model = ClientMember
    noun = "client member"

    def of_brand(self, brand_id: uuid.UUID) -> Select[ClientMember]:
        return self.select().where(ClientMember.brand_id == brand_id)

    async def active_places_of(self, user_id: uuid.UUID) -> Sequence[ClientMember]:
        """The places a person holds in this agency and may use now (not disabled)."""
        stmt = (
            self.select()
            .where(ClientMember.user_id == user_id, ClientMember.disabled_at.is_(None))
            .order_by(ClientMember.id)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def on_brand_by_email(self, brand_id: uuid.UUID, email: str) -> ClientMember | None:
        stmt = self.of_brand(brand_id).where(ClientMember.email == email)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def on_lines(self, brand_id: uuid.UUID, lines: Sequence[str]) -> Sequence[ClientMember]:
        """The brand's client members on these reporting lines (disabled ones too)."""
        stmt = (
            self.of_brand(brand_id)
            .where(ClientMember.reporting_line.in_(list(lines)))
            .order_by(ClientMember.email)
        )
        return (await self.session.execute(stmt)).scalars().all()
