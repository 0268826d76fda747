"""Who may decide on a step: agency members by role, a brand's client members by
reporting line (holding the client permission ``approve``), and whom an overdue step
escalates to."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agency.access.client_permissions import ClientPermission
from agency.access.permissions import ROLE_PERMISSIONS, Permission
from agency.approval.repository import PeopleRepository
from agency.client.models import ClientMember
from agency.kernel.errors import Forbidden
from agency.kernel.tenancy import Subject
from agency.member.models import Membership

# Where a step with nobody left, or overdue, goes at the agency: the roles that approve.
AGENCY_MANAGERS = tuple(
    role.value for role, held in ROLE_PERMISSIONS.items() if Permission.PUBLICATIONS_APPROVE in held
)
# The top of every client line.
MANAGEMENT = "management"


@dataclass(frozen=True)
class Person:
    user_id: uuid.UUID
    kind: str  # staff | client
    name: str
    email: str
    locale: str
    role: str | None = None
    reporting_line: str | None = None
    client_member_id: uuid.UUID | None = None
    may_approve: bool = True  # a client member holding ``approve`` on the brand

    def reason_for(self, approvers: Mapping[str, Any]) -> str | None:
        """Why ``approvers`` (a step's ``{"roles", "reporting_lines"}``) include this person."""
        if self.kind == "staff" and self.role in (approvers.get("roles") or ()):
            return f"role:{self.role}"
        lines = approvers.get("reporting_lines") or ()
        if self.kind == "client" and self.may_approve and self.reporting_line in lines:
            return f"line:{self.reporting_line}"
        return None


def staff(member: Membership, locale: str) -> Person:
    return Person(
        user_id=member.user_id,
        kind="staff",
        name=member.user.name,
        email=member.user.email,
        locale=locale,
        role=member.role,
    )


def client(member: ClientMember) -> Person:
    return Person(
        user_id=member.user_id,
        kind="client",
        name=member.name,
        email=member.email,
        locale=member.locale,
        reporting_line=member.reporting_line,
        client_member_id=member.id,
        may_approve=ClientPermission.APPROVE.value in (member.permissions or ()),
    )


class People:
    def __init__(self, repo: PeopleRepository) -> None:
        self.repo = repo

    async def eligible(
        self, approvers: Mapping[str, Any], brand_id: uuid.UUID, locale: str
    ) -> list[Person]:
        """Everyone ``approvers`` names on this brand now (active, client ones holding
        ``approve``), each once."""
        found: dict[uuid.UUID, Person] = {}
        for member in await self.repo.members_with_roles(approvers.get("roles") or ()):
            if member.user.disabled_at is None:
                found.setdefault(member.user_id, staff(member, locale))
        lines = approvers.get("reporting_lines") or ()
        for place in await self.repo.client_members(brand_id, lines):
            person = client(place)
            if person.may_approve:
                found.setdefault(person.user_id, person)
        return list(found.values())

    async def escalation(
        self, definition: Mapping[str, Any], brand_id: uuid.UUID, locale: str
    ) -> list[Person]:
        """Whom an overdue (or unstaffed) step goes to: ``escalate_to`` when the policy says;
        else the next in the line (the brand's general management, for a step of other
        client lines), or else the agency's managers."""
        if definition.get("escalate_to"):
            return await self.eligible(definition["escalate_to"], brand_id, locale)
        lines = set((definition.get("approvers") or {}).get("reporting_lines") or ())
        if lines - {MANAGEMENT}:
            found = await self.eligible({"reporting_lines": [MANAGEMENT]}, brand_id, locale)
            if found:
                return found
        return await self.eligible({"roles": list(AGENCY_MANAGERS)}, brand_id, locale)

    async def of(self, who: Subject | ClientMember, brand_id: uuid.UUID, locale: str) -> Person:
        """The person deciding: a signed-in member, a client member on this brand, or a client
        member's place handed in (a decision link). Refused: API tokens and the system, whose
        decision would be nobody's."""
        if isinstance(who, ClientMember):
            if who.brand_id != brand_id or who.disabled_at is not None:
                raise Forbidden("This person has no place on the publication's brand.")
            return client(who)
        if who.user_id is None or who.kind not in ("session", "client"):
            raise Forbidden(
                "A decision is a person's: sign in to decide (an API token cannot approve)."
            )
        if who.kind == "client":
            place = await self.repo.client_place(brand_id, who.user_id)
            if place is None:
                raise Forbidden("You have no place on this publication's brand.")
            return client(place)
        member = await self.repo.member(who.user_id)
        if member is None:
            raise Forbidden("You are no longer a member of this agency.")
        return staff(member, locale)


def without(people: Iterable[Person], user_ids: Sequence[str]) -> list[Person]:
    excluded = set(user_ids)
    return [p for p in people if str(p.user_id) not in excluded]
