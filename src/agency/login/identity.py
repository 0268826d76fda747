"""From a provider's claims to a person of the agency: the rules an agency set on its
provider (allowed e-mail domains, a required claim), and just-in-time client members."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from agency.brand.schemas import ReportingLine
from agency.client.models import ClientMember
from agency.client.repository import ClientMemberRepository
from agency.client.service import person
from agency.kernel.tenancy import Subject
from agency.login.models import LoginProvider
from agency.login.oidc import LoginRefused
from agency.member.models import Membership
from agency.member.repository import MembershipRepository, UserRepository


@dataclass(frozen=True)
class Claimed:
    email: str
    name: str
    claims: dict[str, Any]


def _values(claim: Any) -> list[str]:
    if isinstance(claim, list):
        return [str(v) for v in claim]
    return [] if claim is None else [str(claim)]


def claimed_person(provider: LoginProvider, claims: dict[str, Any]) -> Claimed:
    """The person the claims name, if the provider's rules let them in."""
    email = claims.get(provider.email_claim)
    if not isinstance(email, str) or "@" not in email:
        raise LoginRefused(f"The provider gave no e-mail address (claim '{provider.email_claim}').")
    if claims.get("email_verified") is False:
        raise LoginRefused("The provider says this e-mail address is not verified.")
    email = email.strip().lower()
    domain = email.rpartition("@")[2]
    if provider.allowed_domains and domain not in provider.allowed_domains:
        raise LoginRefused(f"E-mail addresses at {domain} may not sign in with this provider.")
    if provider.required_claim and provider.required_value not in _values(
        claims.get(provider.required_claim)
    ):
        raise LoginRefused(
            f"Signing in needs '{provider.required_value}' in the claim "
            f"'{provider.required_claim}', which this account does not have."
        )
    name = claims.get(provider.name_claim)
    return Claimed(email, str(name)[:200] if name else email, claims)


def _reporting_line(provider: LoginProvider, claimed: Claimed) -> str | None:
    if provider.reporting_line_claim:
        for value in _values(claimed.claims.get(provider.reporting_line_claim)):
            line = provider.reporting_lines.get(value)
            if line in set(ReportingLine):
                return str(line)
    return provider.default_reporting_line


async def client_place(
    session: AsyncSession, system: Subject, provider: LoginProvider, claimed: Claimed
) -> tuple[ClientMember, bool]:
    """Their place on the provider's brand, made just in time when the provider allows it.

    Returns the place and whether it was just made.
    """
    assert provider.brand_id is not None
    places = ClientMemberRepository(session, system)
    place = await places.on_brand_by_email(provider.brand_id, claimed.email)
    if place is not None:
        if place.disabled_at is not None:
            raise LoginRefused("This client member is disabled on this brand.")
        return place, False
    line = _reporting_line(provider, claimed)
    if not provider.just_in_time or line is None:
        raise LoginRefused(f"{claimed.email} is not a client member of this brand.")
    user = await person(session, claimed.email, claimed.name)
    place = ClientMember(
        brand_id=provider.brand_id,
        user_id=user.id,
        name=claimed.name,
        email=user.email,
        reporting_line=line,
        locale=provider.member_locale,
        permissions=sorted(provider.member_permissions),
    )
    await places.add(place)
    return place, True


async def staff_membership(session: AsyncSession, system: Subject, claimed: Claimed) -> Membership:
    """An agency member signing in with the agency's own provider (never made on the fly)."""
    user = await UserRepository(session).by_email(claimed.email)
    membership = (
        await MembershipRepository(session, system).of_user(user.id) if user is not None else None
    )
    if user is None or membership is None or user.disabled_at is not None:
        raise LoginRefused(f"{claimed.email} is not a member of this agency.")
    return membership
