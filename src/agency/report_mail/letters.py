"""A run's e-mails: the report read once, one edition per language, one message per person.

Each message carries its recipient's own RFC 8058 unsubscribe link in ``List-Unsubscribe``
(with ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``, so mail programs offer a
one-click button that POSTs to it) and in the footer. Its Message-ID is derived from the
run and the recipient: should a copy ever arrive twice, mail programs see one message.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Sequence
from datetime import date
from email.message import EmailMessage
from email.utils import formataddr, parseaddr

from sqlalchemy.ext.asyncio import AsyncSession

from agency.access.permissions import ALL_PERMISSIONS
from agency.brand.models import Brand
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import Subject
from agency.mail.composing import compose
from agency.mail.sending import sender_domain
from agency.report_mail.branding import branding_of
from agency.report_mail.content import Branding, Edition, edition, letter
from agency.report_mail.links import ReportLinks
from agency.report_mail.models import ReportSchedule
from agency.report_mail.recipients import Recipient
from agency.reporting.service import ReportService


async def editions(
    session: AsyncSession,
    agency_id: uuid.UUID,
    runtime: Runtime,
    schedule: ReportSchedule,
    brand: Brand,
    period: tuple[date, date],
    locales: Sequence[str],
) -> tuple[dict[str, Edition], Branding]:
    """The report of ``period`` rendered once per language (charts, PDF: in a thread), and
    the agency's branding (the From, Reply-To)."""
    reader = Subject(agency_id=agency_id, kind="system", permissions=ALL_PERMISSIONS)
    report = await ReportService(session, reader).brand_report(
        brand.id, period[0], period[1], schedule.line
    )
    branding = await branding_of(session, reader, runtime.settings)
    found = {}
    for locale in sorted(set(locales)):
        found[locale] = await asyncio.to_thread(edition, report, locale, branding, schedule.name)
    return found, branding


def write_letter(
    runtime: Runtime,
    agency_id: uuid.UUID,
    schedule: ReportSchedule,
    run_id: uuid.UUID,
    edition: Edition,
    recipient: Recipient,
    branding: Branding,
) -> EmailMessage:
    links = ReportLinks.from_settings(runtime.settings)
    unsubscribe = links.unsubscribe_url(agency_id, schedule.id, recipient.email)
    html, text = letter(edition, recipient.name, unsubscribe)
    digest = hashlib.sha256(recipient.email.lower().encode()).hexdigest()[:20]
    domain = sender_domain(parseaddr(branding.sender)[1])
    headers = {
        "List-Unsubscribe": f"<{unsubscribe}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "List-Id": f"{_list_name(schedule.name)} <{schedule.id}.reports.{domain}>",
        "Auto-Submitted": "auto-generated",
        "Content-Language": edition.locale,
    }
    if branding.reply_to:
        headers["Reply-To"] = branding.reply_to
    return compose(
        sender=branding.sender,
        recipient=formataddr((recipient.name or "", recipient.email)),
        subject=edition.subject,
        message_id=f"<report.{run_id}.{digest}@{domain}>",
        text=text,
        html=html,
        images=edition.images,
        attachments=(edition.pdf,),
        headers=headers,
    )


def _list_name(name: str) -> str:
    return '"' + name.replace("\\", "").replace('"', "")[:100] + '"'
