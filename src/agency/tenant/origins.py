"""Where a browser may be sent back to: the agency's frontend origins, never anywhere else.

A sign-in, an account connection or a connect link may name a URL to land on afterwards
(``return_to``, ``return_url``). Taken as it comes, that is an open redirect: a link of ours
that sends people to a page of an attacker's choosing, with whatever the landing carries. A
URL is accepted only when its origin is one the agency allows: its ``login_origins`` (set by
an owner), the deployment's CORS origins (``AGENCY_CORS_ORIGINS``) and its frontend
(``AGENCY_MAIL__FRONTEND_URL``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from agency.config import Settings
from agency.kernel.errors import FieldError, InvalidInput
from agency.kernel.i18n import Text
from agency.kernel.tenancy import Subject
from agency.tenant.repository import AgencyRepository


def origin(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL without credentials, else None."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname or "@" in parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc.lower()}"


async def allowed_origins(session: AsyncSession, subject: Subject, settings: Settings) -> set[str]:
    agency = await AgencyRepository(session, subject).current()
    found = {origin(o) for o in [*agency.login_origins, *settings.server.cors_origins]}
    if settings.mail.frontend_url:
        found.add(origin(settings.mail.frontend_url))
    return {o for o in found if o is not None}


async def require_allowed_origin(
    session: AsyncSession,
    subject: Subject,
    settings: Settings,
    url: str,
    field: str,
    source: str = "body",
) -> None:
    """Refuse ``url`` (422 naming ``field``) unless its origin is one the agency allows."""
    if origin(url) in await allowed_origins(session, subject, settings):
        return
    raise InvalidInput(
        Text("The browser may only be sent back to an origin the agency allows."),
        errors=[
            FieldError(
                Text("Not one of the agency's frontend origins."),
                "origin_not_allowed",
                field,
                source,
            )
        ],
    )
