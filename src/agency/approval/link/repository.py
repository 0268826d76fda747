from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from agency.approval.link.models import DecisionLink
from agency.kernel.repository import TenantRepository
from agency.kernel.tenancy import scoped_update


class DecisionLinkRepository(TenantRepository[DecisionLink]):
    model = DecisionLink
    noun = "decision link"

    async def spend(
        self, link_id: uuid.UUID, secret_hash: str, now: datetime, decision: str
    ) -> DecisionLink | None:
        """Mark the link used, if it is unused, unrevoked, unexpired and its secret matches:
        in one statement, so two posts racing with the same link cannot both decide."""
        stmt = (
            scoped_update(DecisionLink, self.subject)
            .where(
                DecisionLink.id == link_id,
                DecisionLink.secret_hash == secret_hash,
                DecisionLink.used_at.is_(None),
                DecisionLink.revoked_at.is_(None),
                DecisionLink.expires_at > now,
            )
            .values(used_at=now, decision=decision)
            .returning(DecisionLink)
        )
        found: DecisionLink | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found

    async def of_publication(self, publication_id: uuid.UUID) -> Sequence[DecisionLink]:
        stmt = (
            self.select()
            .where(DecisionLink.publication_id == publication_id)
            .order_by(DecisionLink.created_at, DecisionLink.id)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def revoke_open(
        self,
        publication_id: uuid.UUID,
        now: datetime,
        by: uuid.UUID | None,
        link_id: uuid.UUID | None = None,
        other_than: str | None = None,
    ) -> int:
        """Revoke the publication's unused links (one of them, or those of every version but
        ``other_than``); how many were."""
        stmt = scoped_update(DecisionLink, self.subject).where(
            DecisionLink.publication_id == publication_id,
            DecisionLink.used_at.is_(None),
            DecisionLink.revoked_at.is_(None),
        )
        if link_id is not None:
            stmt = stmt.where(DecisionLink.id == link_id)
        if other_than is not None:
            stmt = stmt.where(DecisionLink.content_hash != other_than)
        result = await self.session.execute(
            stmt.values(revoked_at=now, revoked_by=by).execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)
