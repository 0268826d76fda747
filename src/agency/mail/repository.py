from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Select, select, update

from agency.kernel.repository import TenantRepository
from agency.kernel.system import SystemRepository
from agency.mail.models import MailMessage, MailState


class MailRepository(TenantRepository[MailMessage]):
    model = MailMessage
    noun = "e-mail"

    async def get_for_update(self, mail_id: uuid.UUID) -> MailMessage | None:
        stmt = self.select().where(MailMessage.id == mail_id).with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    def listing(self, status: str | None, recipient: str | None) -> Select[MailMessage]:
        stmt = self.select()
        if status is not None:
            stmt = stmt.where(MailMessage.status == status)
        if recipient is not None:
            stmt = stmt.where(MailMessage.recipient == recipient.strip().lower())
        return stmt

    async def of_ids(self, ids: Sequence[uuid.UUID]) -> Sequence[MailMessage]:
        if not ids:
            return []
        stmt = self.select().where(MailMessage.id.in_(ids))
        return (await self.session.execute(stmt)).scalars().all()

    async def pending_of(self, ids: Sequence[uuid.UUID]) -> Sequence[MailMessage]:
        """Those of ``ids`` that have not started to leave, locked."""
        if not ids:
            return []
        stmt = (
            self.select()
            .where(MailMessage.id.in_(ids), MailMessage.status == MailState.PENDING)
            .with_for_update()
        )
        return (await self.session.execute(stmt)).scalars().all()


class MailSweepRepository(SystemRepository):
    """The scheduler's view of every agency's outgoing mail."""

    async def claim_due(
        self, now: datetime, lease: timedelta, limit: int
    ) -> Sequence[tuple[uuid.UUID, uuid.UUID, int]]:
        """Pending messages whose time has come (first send, retry, or lost message), leased:
        ``(agency_id, mail_id, attempts)``."""
        due = (
            await self.session.execute(
                select(MailMessage.agency_id, MailMessage.id, MailMessage.attempts)
                .where(MailMessage.status == MailState.PENDING, MailMessage.next_attempt_at <= now)
                .order_by(MailMessage.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if due:
            await self.session.execute(
                update(MailMessage)
                .where(MailMessage.id.in_([row.id for row in due]))
                .values(next_attempt_at=now + lease)
            )
        return [(row.agency_id, row.id, row.attempts) for row in due]

    async def stale(self, now: datetime, limit: int) -> Sequence[MailMessage]:
        """Messages whose worker stopped mid-send (its lease is over), locked."""
        stmt = (
            select(MailMessage)
            .where(
                MailMessage.status.in_([MailState.SENDING, MailState.TRANSMITTING]),
                MailMessage.next_attempt_at <= now,
            )
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.execute(stmt)).scalars().all()
