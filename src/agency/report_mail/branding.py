"""How an agency's report e-mails look and whom they come from.

The From is the agency's name with the deployment's address (``AGENCY_MAIL__SENDER``), or
an address of the agency's own on a domain the operator allows
(``AGENCY_REPORT_MAIL__SENDER_DOMAINS``): a server signs (SPF, DKIM) only for its domains,
and a From it cannot sign for lands in spam. Replies go to ``reply_to`` when set.
"""

from __future__ import annotations

import asyncio
import io
from email.headerregistry import Address
from email.utils import formataddr, parseaddr
from typing import Any

import filetype
import msgspec
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession

from agency.audit.repository import AuditRepository
from agency.config import Settings
from agency.kernel.errors import InvalidInput
from agency.kernel.http import check_if_match
from agency.kernel.tenancy import Subject
from agency.media.inspection import InvalidMedia, MediaTooLarge, UnsupportedMediaType
from agency.report_mail.content import Branding
from agency.report_mail.models import ReportBranding
from agency.report_mail.repository import BrandingRepository
from agency.report_mail.schemas import BrandingUpdate
from agency.tenant.repository import AgencyRepository

LOGO_MAX_BYTES = 512 * 1024
LOGO_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG"}
# Drawn at most 300 x 100 in the e-mail's header and the PDF: kept at twice that, for
# high-density screens.
LOGO_BOX = (600, 200)
LOGO_MAX_PIXELS = 4000 * 4000


def normalized_logo(data: bytes) -> bytes:
    """The agency's logo as a small PNG, or why not (blocking: it decodes the image).

    The type comes from the bytes, never from a header; the dimensions are read from the
    image's header before anything is decoded, so a small file declaring huge dimensions is
    refused before it costs memory.
    """
    if not data:
        raise InvalidMedia("The body is empty: send the logo's bytes (PNG or JPEG).")
    if len(data) > LOGO_MAX_BYTES:
        raise MediaTooLarge(f"A logo is at most {LOGO_MAX_BYTES // 1024} KiB.")
    guessed = filetype.guess(data)
    mime = guessed.mime if guessed is not None else None
    if mime not in LOGO_TYPES:
        raise UnsupportedMediaType(
            "A logo is a PNG or JPEG image.",
            detected_type=mime,
            accepted_types=sorted(LOGO_TYPES),
        )
    try:
        with Image.open(io.BytesIO(data), formats=[LOGO_TYPES[mime]]) as image:
            width, height = image.size
            if width * height > LOGO_MAX_PIXELS or width < 1 or height < 1:
                raise InvalidMedia(f"The logo is {width}x{height} pixels; at most 4000x4000.")
            image.load()
            logo = image.convert("RGBA")
    except Image.DecompressionBombError as exc:
        raise InvalidMedia("The logo has too many pixels to decode safely.") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidMedia(f"The file starts like {mime} but does not decode as one.") from exc
    logo.thumbnail(LOGO_BOX)
    out = io.BytesIO()
    logo.save(out, format="PNG", optimize=True)
    return out.getvalue()


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

    async def look(self) -> Branding:
        """What the agency's reports look like, for the renderer."""
        row = await self.repo.current()
        agency = await self.agencies.current()
        return branding(self.settings, row, agency.name)

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

    async def set_logo(self, data: bytes, if_match: str | None) -> tuple[ReportBranding, str]:
        """Replace the logo with ``data`` (PNG or JPEG), kept as a small PNG."""
        return await self._set_logo(await asyncio.to_thread(normalized_logo, data), if_match)

    async def remove_logo(self, if_match: str | None) -> tuple[ReportBranding, str]:
        return await self._set_logo(None, if_match)

    async def _set_logo(
        self, logo: bytes | None, if_match: str | None
    ) -> tuple[ReportBranding, str]:
        row = await self.repo.current(lock=True)
        if row is None:
            check_if_match(if_match, 0)
            row = ReportBranding(subjects={}, footers={}, accent_color="#1F4E79")
            await self.repo.add(row)
        else:
            check_if_match(if_match, row.version)
        row.logo_png = logo
        await self.repo.flush()
        self.audit.record(
            "report_branding.logo_changed" if logo else "report_branding.logo_removed",
            "report_branding",
            row.id,
            {"bytes": len(logo)} if logo else None,
        )
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
    return await BrandingService(session, subject, settings).look()


def branding(settings: Settings, row: ReportBranding | None, agency_name: str) -> Branding:
    return Branding(
        agency_name=agency_name,
        sender=from_header(settings, row, agency_name),
        reply_to=row.reply_to if row else None,
        subjects=dict(row.subjects) if row else {},
        footers=dict(row.footers) if row else {},
        accent=row.accent_color if row else "#1F4E79",
        logo_png=row.logo_png if row else None,
    )
