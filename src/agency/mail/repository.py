from __future__ import annotations

import uuid

from agency.kernel.repository import TenantRepository
from agency.mail.models import MailMessage


class MailRepository(TenantRepository[MailMessage]):
    model = MailMessage
    noun = "e-mail"

    async def get_for_update(self, mail_id: uuid.UUID) -> MailMessage | None:
        stmt = self.select().where(MailMessage.id == mail_id).with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()
