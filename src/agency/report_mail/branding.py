"""How an agency's report e-mails look and whom they come from.

The From is the agency's name with the deployment's address (``AGENCY_MAIL__SENDER``), or
an address of the agency's own on a domain the operator allows
(``AGENCY_REPORT_MAIL__SENDER_DOMAINS``): a server signs (SPF, DKIM) only for its domains,
and a From it cannot sign for lands in spam. Replies go to ``reply_to`` when set.
"""

from __future__ import annotations

from email.headerregistry import Address
from email.utils import formataddr, parseaddr
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from agency.audit.repository import AuditRepository
from agency.config import Settings
from agency.kernel.errors import InvalidInput
from agency.kernel.http import check_if_match
from agency.kernel.tenancy import Subject
from agency.report_mail.content import Branding
from agency.report_mail.models import ReportBranding
from agency.report_mail.repository import BrandingRepository
from agency.report_mail.schemas import BrandingUpdate
from agency.tenant.repository import AgencyRepository


def allowed_domains(settings: Settings) -> set[str]:
    own = parseaddr(settings.mail.sender)[1].rpartition("@")[2].lower()
    return {own, *(d.lower() for d in settings.report_mail.sender_domains)}


def from_header(settings: Settings, row: ReportBranding | None, agency_name: str) -> str:
    address = parseaddr(settings.mail.sender)[1] or "no-reply@localhost"
    if row is not None and row.sender_address:
        address = row.sender_address
    name = (row.sender_name if row is not None else None) or agency_name
    return formataddr((name, address))


class BrandingService:
    def __init__(self, session: AsyncSession, subject: Subject, settings: Settings) -> None:
        self.repo = BrandingRepository(session, subject)
        self.agencies = AgencyRepository(session, subject)
        self.audit = AuditRepository(session, subject)
        self.settings = settings

    async def get(self) -> tuple[ReportBranding, str]:
        """The agency's branding (defaults until it sets one) and the From it gives."""
        row = await self.repo.current() or ReportBranding(
            subjects={}, footers={}, accent_color="#1F4E79", version=0
        )
        agency = await self.agencies.current()
        return row, from_header(self.settings, row, agency.name)

    async def update(
        self, data: BrandingUpdate, if_match: str | None
    ) -> tuple[ReportBranding, str]:
        row = await self.repo.current(lock=True)
        if row is None:
            check_if_match(if_match, 0)
            row = ReportBranding(subjects={}, footers={}, accent_color="#1F4E79")
            await self.repo.add(row)
        else:
            check_if_match(if_match, row.version)
        changes: dict[str, Any] = {}
        for name, value in msgspec.structs.asdict(data).items():
            if value is msgspec.UNSET:
                continue
            value = msgspec.to_builtins(value)
            if name == "sender_address" and value is not None:
                value = self._allowed(value)
            if name == "accent_color":
                value = value.upper()
            if getattr(row, name) != value:
                changes[name] = value
                setattr(row, name, value)
        if changes:
            await self.repo.flush()
            self.audit.record("report_branding.updated", "report_branding", row.id, changes)
        agency = await self.agencies.current()
        return row, from_header(self.settings, row, agency.name)

    def _allowed(self, address: str) -> str:
        address = address.strip().lower()
        domain = address.rpartition("@")[2]
        allowed = allowed_domains(self.settings)
        if domain not in allowed:
            raise InvalidInput(
                "Reports can only come from a domain this server sends for.",
                [
                    {
                        "field": "sender_address",
                        "message": f"{domain} is not one of {', '.join(sorted(allowed))}",
                    }
                ],
            )
        try:
            Address(addr_spec=address)
        except (ValueError, IndexError) as exc:
            raise InvalidInput(
                "This is not an e-mail address.",
                [{"field": "sender_address", "message": str(exc)}],
            ) from exc
        return address


async def branding_of(session: AsyncSession, subject: Subject, settings: Settings) -> Branding:
    """What a report e-mail of this agency looks like, for the renderer."""
    row = await BrandingRepository(session, subject).current()
    agency = await AgencyRepository(session, subject).current()
    return Branding(
        agency_name=agency.name,
        sender=from_header(settings, row, agency.name),
        reply_to=row.reply_to if row else None,
        subjects=dict(row.subjects) if row else {},
        footers=dict(row.footers) if row else {},
        accent=row.accent_color if row else "#1F4E79",
        logo_png=row.logo_png if row else None,
    )
