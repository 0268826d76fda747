"""Admin commands' work, run as the system (no HTTP route reaches these)."""

from __future__ import annotations

from typing import Any

from agency.access.permissions import ALL_PERMISSIONS
from agency.assembly import build_runtime
from agency.auth.service import CredentialService
from agency.config import Settings
from agency.kernel.errors import NotFound
from agency.kernel.secrets import rotate_all
from agency.kernel.tenancy import Subject, bind_system, bind_tenant
from agency.models import Base
from agency.tenant.repository import AgencyDirectory
from agency.tenant.service import bootstrap_agency


async def create_agency(
    name: str, slug: str, owner_email: str, owner_name: str, owner_password: str | None
) -> dict[str, Any]:
    runtime = build_runtime()
    try:
        async with runtime.session() as session:
            await bind_system(session)
            agency, user = await bootstrap_agency(
                session,
                name=name,
                slug=slug,
                owner_email=owner_email,
                owner_name=owner_name,
                owner_password=owner_password,
            )
            await session.commit()
            return {"agency_id": str(agency.id), "slug": agency.slug, "owner_id": str(user.id)}
    finally:
        await runtime.dispose_current_loop()


async def create_token(
    agency_slug: str, name: str, scopes: list[str], expires_in_days: int | None
) -> dict[str, Any]:
    runtime = build_runtime()
    try:
        async with runtime.session() as session:
            await bind_system(session)
            agency_id = await AgencyDirectory(session).id_by_slug(agency_slug)
            if agency_id is None:
                raise NotFound(f"No agency with slug '{agency_slug}'.")
            await bind_tenant(session, agency_id)
            subject = Subject(agency_id=agency_id, kind="system", permissions=ALL_PERMISSIONS)
            issued = await CredentialService(session, subject).create_api_token(
                name, scopes or sorted(ALL_PERMISSIONS), expires_in_days
            )
            await session.commit()
            return {
                "id": str(issued.credential.id),
                "token": issued.token,
                "expires_at": issued.credential.expires_at.isoformat()
                if issued.credential.expires_at
                else None,
                "scopes": issued.credential.scopes,
            }
    finally:
        await runtime.dispose_current_loop()


async def rotate_secrets(settings: Settings | None = None) -> dict[str, int]:
    """Re-encrypt every stored secret with the first key of AGENCY_ENCRYPTION_KEYS."""
    runtime = build_runtime(settings)
    try:
        async with runtime.session() as session:
            await bind_system(session)
            counts = await rotate_all(session, runtime.secrets, Base.metadata)
            await session.commit()
            return counts
    finally:
        await runtime.dispose_current_loop()
