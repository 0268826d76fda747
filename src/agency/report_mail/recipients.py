"""Who receives a schedule's report, and why someone named on it does not.

Client members of the brand on the schedule's reporting lines who hold ``reports:receive``
and are not disabled; agency members still in the agency; plain addresses once their owner
confirmed them. Anyone who unsubscribed from the schedule is left out, and an address
named twice receives one e-mail.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from agency.access.client_permissions import ClientPermission
from agency.client.repository import ClientMemberRepository
from agency.kernel.tenancy import Subject
from agency.member.repository import MembershipRepository
from agency.report_mail.models import ReportSchedule
from agency.report_mail.repository import AddressRepository, OptOutRepository
from agency.report_mail.schemas import MemberRecipient


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str | None
    kind: str  # client_member | member | address
    locale: str
    excluded: str | None = None  # why not (None: receives it)


async def recipients_of(
    session: AsyncSession, subject: Subject, schedule: ReportSchedule
) -> list[Recipient]:
    """Everyone the schedule names, each with the reason they are left out, if they are."""
    found: list[Recipient] = []
    if schedule.client_lines:
        clients = ClientMemberRepository(session, subject)
        for member in await clients.on_lines(schedule.brand_id, schedule.client_lines):
            why = None
            if member.disabled_at is not None:
                why = "disabled"
            elif ClientPermission.REPORTS_RECEIVE.value not in member.permissions:
                why = "lacks the reports:receive permission on this brand"
            found.append(Recipient(member.email, member.name, "client_member", member.locale, why))
    staff = MembershipRepository(session, subject)
    for entry in msgspec.convert(schedule.members, list[MemberRecipient]):
        membership = await staff.find(entry.member_id)
        if membership is None:
            found.append(
                Recipient(
                    str(entry.member_id),
                    None,
                    "member",
                    entry.locale.value,
                    "no longer a member of the agency",
                )
            )
            continue
        user = membership.user
        why = "disabled" if user.disabled_at is not None else None
        found.append(Recipient(user.email, user.name, "member", entry.locale.value, why))
    for address in await AddressRepository(session, subject).of_schedule(schedule.id):
        why = None if address.confirmed_at is not None else "has not confirmed the address yet"
        found.append(Recipient(address.email, address.name, "address", address.locale, why))
    opted_out = await OptOutRepository(session, subject).emails(schedule.id)
    seen: set[str] = set()
    result = []
    for recipient in found:
        key = recipient.email.lower()
        if recipient.excluded is None and key in opted_out:
            recipient = Recipient(
                recipient.email, recipient.name, recipient.kind, recipient.locale, "unsubscribed"
            )
        if recipient.excluded is None and key in seen:
            recipient = Recipient(
                recipient.email,
                recipient.name,
                recipient.kind,
                recipient.locale,
                "named twice: receives one e-mail",
            )
        if recipient.excluded is None:
            seen.add(key)
        result.append(recipient)
    return result


def receiving(recipients: list[Recipient]) -> list[Recipient]:
    return [r for r in recipients if r.excluded is None]
