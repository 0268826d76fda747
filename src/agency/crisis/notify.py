"""Telling the brand's decision makers that a crisis began or ended, each in their language.

E-mails are queued in the switching request's transaction and sent once it commits (the one
mail path, :mod:`agency.mail`). The agency's managers have no locale of their own: they get
the brand's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from agency.brand.models import Brand, Crisis
from agency.crisis.repository import DecisionMakerRepository
from agency.kernel.tenancy import Subject
from agency.mail.service import queue_mail

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime


def _when(crisis: Crisis, ended: bool) -> str:
    moment = crisis.ended_at if ended else crisis.started_at
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


async def tell_decision_makers(
    session: AsyncSession,
    subject: Subject,
    runtime: Runtime,
    brand: Brand,
    crisis: Crisis,
    held: int,
) -> int:
    """One e-mail to each decision maker of ``brand``; returns how many were queued."""
    ended = crisis.ended_at is not None
    people = DecisionMakerRepository(session, subject)
    recipients: dict[str, tuple[str, str]] = {}
    for member in await people.of_brand(brand.id):
        recipients.setdefault(member.email, (member.name, member.locale))
    for user in await people.managers():
        recipients.setdefault(user.email, (user.name or user.email, brand.locale))
    context = {
        "brand": brand.name,
        "reason": crisis.end_reason if ended else crisis.reason,
        "started_by": crisis.started_by_name,
        "started_at": _when(crisis, False),
        "ended_by": crisis.ended_by_name or "",
        "ended_at": _when(crisis, True),
        "held": held,
    }
    template = "crisis_ended" if ended else "crisis_started"
    for email, (name, locale) in sorted(recipients.items()):
        await queue_mail(
            session, subject, runtime.secrets, email, template, locale, {**context, "name": name}
        )
    return len(recipients)
