"""Agency roles and what each may do. The table in docs/roles.md mirrors this module."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MANAGER = "manager"
    COMMUNITY_MANAGER = "community_manager"
    ANALYST = "analyst"


class Permission(StrEnum):
    AGENCY_READ = "agency:read"
    AGENCY_MANAGE = "agency:manage"
    MEMBERS_READ = "members:read"
    MEMBERS_MANAGE = "members:manage"
    OWNERSHIP_MANAGE = "ownership:manage"
    TOKENS_MANAGE = "tokens:manage"
    AUDIT_READ = "audit:read"
    BRANDS_READ = "brands:read"
    BRANDS_WRITE = "brands:write"
    CHANNELS_CONNECT = "channels:connect"
    PUBLICATIONS_READ = "publications:read"
    PUBLICATIONS_WRITE = "publications:write"
    # Who decides on a publication is its brand's approval policy (agency.approval), not a
    # permission; this one marks the agency's managers, to whom an overdue step escalates.
    PUBLICATIONS_APPROVE = "publications:approve"
    # Switch a brand's crisis mode on and off (the queue pauses; see docs/crisis.md).
    CRISIS_MANAGE = "crisis:manage"
    # The inbox (docs/inbox.md): read the messages, answer them in public, and moderate
    # (triage, assign, hide or delete citing the community charter).
    COMMENTS_READ = "comments:read"
    COMMENTS_ANSWER = "comments:answer"
    COMMENTS_MODERATE = "comments:moderate"
    REPORTS_READ = "reports:read"
    # Entering what reports read beyond the networks (costs, press coverage, the client's
    # results) and saving a report with its commentary.
    REPORTS_WRITE = "reports:write"
    REPORTS_MANAGE = "reports:manage"
    WEBHOOKS_MANAGE = "webhooks:manage"


_READ = {
    Permission.AGENCY_READ,
    Permission.BRANDS_READ,
    Permission.PUBLICATIONS_READ,
    Permission.REPORTS_READ,
    Permission.COMMENTS_READ,
}
_CM = _READ | {
    Permission.MEMBERS_READ,
    Permission.PUBLICATIONS_WRITE,
    Permission.COMMENTS_ANSWER,
    Permission.COMMENTS_MODERATE,
    Permission.REPORTS_WRITE,
}
_MANAGER = _CM | {
    Permission.BRANDS_WRITE,
    Permission.CHANNELS_CONNECT,
    Permission.PUBLICATIONS_APPROVE,
    Permission.CRISIS_MANAGE,
    Permission.REPORTS_MANAGE,
    Permission.AUDIT_READ,
}
_ADMIN = _MANAGER | {
    Permission.AGENCY_MANAGE,
    Permission.MEMBERS_MANAGE,
    Permission.TOKENS_MANAGE,
    Permission.WEBHOOKS_MANAGE,
}

# Each role holds every permission of the roles below it: "not above your own role" is then a
# test on permissions (agency.access.policy), which also bounds API tokens and their scopes.
ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.OWNER: frozenset(_ADMIN | {Permission.OWNERSHIP_MANAGE}),
    Role.ADMIN: frozenset(_ADMIN),
    Role.MANAGER: frozenset(_MANAGER),
    Role.COMMUNITY_MANAGER: frozenset(_CM),
    Role.ANALYST: frozenset(_READ),
}

ALL_PERMISSIONS: frozenset[str] = frozenset(p.value for p in Permission)


def permissions_of(role: str) -> frozenset[str]:
    try:
        return ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return frozenset()
