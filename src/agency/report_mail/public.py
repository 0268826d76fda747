"""What the links in report e-mails do: unsubscribe (honoured at once) and confirm an address.

Neither needs a login: the signed link is the proof (:mod:`agency.report_mail.links`). A
GET only shows a page with a button; the change is a POST, so a mail scanner that opens
every link changes nothing (RFC 8058 asks exactly this of one-click unsubscribing).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from agency.audit.repository import AuditRepository
from agency.kernel.db import utcnow
from agency.kernel.errors import NotFound
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import Subject, bind_tenant
from agency.mail.service import cancel_pending
from agency.report_mail.links import CONFIRM, UNSUBSCRIBE, LinkClaim, ReportLinks
from agency.report_mail.repository import (
    AddressRepository,
    DeliveryRepository,
    OptOutRepository,
    ScheduleRepository,
)

INVALID = "This link is not valid (it was altered, or has expired)."


@dataclass(frozen=True)
class Outcome:
    schedule: str | None  # the schedule's name (None: it was deleted since)
    email: str
    done: bool


async def open_link(session: AsyncSession, runtime: Runtime, token: str, purpose: str) -> Outcome:
    """What a link is about, checked, without changing anything (the page a GET shows)."""
    claim = _claim(runtime, token, purpose)
    subject = await _bind(session, claim)
    schedule = await ScheduleRepository(session, subject).find(claim.schedule_id)
    if purpose == CONFIRM:
        address = await AddressRepository(session, subject).on_schedule(
            claim.schedule_id, claim.email
        )
        if schedule is None or address is None:
            raise NotFound("This address is no longer on the schedule.")
        return Outcome(schedule.name, claim.email, address.confirmed_at is not None)
    opted = claim.email in await OptOutRepository(session, subject).emails(claim.schedule_id)
    return Outcome(schedule.name if schedule else None, claim.email, opted or schedule is None)


async def unsubscribe(session: AsyncSession, runtime: Runtime, token: str) -> Outcome:
    """Never send this schedule to this address again; withdraw what is queued for it."""
    claim = _claim(runtime, token, UNSUBSCRIBE)
    subject = await _bind(session, claim)
    schedule = await ScheduleRepository(session, subject).find(claim.schedule_id)
    if schedule is None:
        return Outcome(None, claim.email, True)  # deleted: nothing will be sent anyway
    if await OptOutRepository(session, subject).record(schedule.id, claim.email):
        AuditRepository(session, subject).record(
            "report_schedule.unsubscribed",
            "report_schedule",
            schedule.id,
            {"email": claim.email},
        )
    queued = await DeliveryRepository(session, subject).queued_to(schedule.id, claim.email)
    await cancel_pending(
        session,
        subject,
        [d.mail_id for d in queued if d.mail_id is not None],
        "Not sent: the recipient unsubscribed.",
    )
    return Outcome(schedule.name, claim.email, True)


async def confirm(session: AsyncSession, runtime: Runtime, token: str) -> Outcome:
    claim = _claim(runtime, token, CONFIRM)
    subject = await _bind(session, claim)
    schedule = await ScheduleRepository(session, subject).find(claim.schedule_id)
    address = await AddressRepository(session, subject).on_schedule(
        claim.schedule_id, claim.email, lock=True
    )
    if schedule is None or address is None:
        raise NotFound("This address is no longer on the schedule.")
    if address.confirmed_at is None:
        address.confirmed_at = utcnow()
        AuditRepository(session, subject).record(
            "report_schedule.address_confirmed",
            "report_schedule",
            schedule.id,
            {"email": claim.email},
        )
    return Outcome(schedule.name, claim.email, True)


def _claim(runtime: Runtime, token: str, purpose: str) -> LinkClaim:
    claim = ReportLinks.from_settings(runtime.settings).verify(token, purpose)
    if claim is None:
        raise NotFound(INVALID)
    return claim


async def _bind(session: AsyncSession, claim: LinkClaim) -> Subject:
    await bind_tenant(session, claim.agency_id)
    return Subject(agency_id=claim.agency_id, kind="system")
