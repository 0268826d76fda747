"""Privilege: the one rule every route that touches a member, an invitation or a token asks.

Nobody acts above their own role. Roles are nested (each role's permissions contain those of
the roles below it, and only owners hold ``ownership:manage``), so the rule is one test on
permissions: the caller must hold every permission of the role it grants, of the role of
whoever it acts on, and every scope it hands out. "Only an owner makes or unmakes an owner"
follows from it, and so does the rule for API tokens, whose permissions are their scopes cut
to what their creator may do now (:func:`token_permissions`, applied on every request).

Things issued (tokens, invitations) remember who issued them, so that their power keeps
following that member: a demoted or removed member's tokens and invitations shrink or stop
with them. Only the system (the admin command, or a token it issued) issues in nobody's name.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from agency.access.client_permissions import ClientPermission, opened_by
from agency.access.permissions import ALL_PERMISSIONS, Permission, Role, permissions_of
from agency.kernel.errors import FieldError, Forbidden, InvalidInput
from agency.kernel.i18n import Text
from agency.kernel.tenancy import Subject


def _lacking(subject: Subject, needed: Iterable[str]) -> list[str]:
    return sorted(p for p in set(needed) if not subject.can(p))


def _refuse(subject: Subject, role: str, doing: str) -> None:
    lacking = _lacking(subject, permissions_of(role))
    if not lacking:
        return
    if Permission.OWNERSHIP_MANAGE in lacking:
        raise Forbidden(f"Only an owner may {doing}: only an owner acts on owners.")
    raise Forbidden(
        f"You cannot {doing}: the role '{role}' holds {', '.join(lacking)}, "
        "which this credential lacks."
    )


def require_may_grant(subject: Subject, role: str) -> None:
    """Make someone ``role`` (an invitation, a role change): never above the caller."""
    _refuse(subject, role, f"grant the role '{role}'")


def require_may_act_on(subject: Subject, role: str | None, what: str) -> None:
    """Change, remove or revoke ``what``, held by someone whose role is ``role`` now.

    ``role`` None means nobody holds it any more (a token whose creator left): anyone who
    reaches the route may clean it up.
    """
    if role is not None:
        _refuse(subject, role, what)


def may_still_grant(issuer_role: str | None, role: str) -> bool:
    """Whether a member whose role is now ``issuer_role`` may still grant ``role``."""
    return issuer_role is not None and permissions_of(role) <= permissions_of(issuer_role)


def require_may_control_sign_in(subject: Subject, brand_id: uuid.UUID | None, what: str) -> None:
    """Decide how people sign in: whoever controls it can sign in as any of them.

    The agency's own provider and the origins a sign-in may land on (with the session in the
    URL) reach every member, owners included: only an owner sets them. A brand's provider
    reaches that brand's client members, whatever their place opens.
    """
    if brand_id is None:
        _refuse(subject, Role.OWNER.value, what)
    else:
        require_may_hand_out(subject, opened_by(ClientPermission), what)


def require_may_hand_out(subject: Subject, permissions: Iterable[str], what: str) -> None:
    """Give away agency permissions some other way (a client member's place on a brand)."""
    lacking = _lacking(subject, permissions)
    if lacking:
        raise Forbidden(f"You cannot {what}: it opens {', '.join(lacking)}, which you lack.")


def require_grantable_scopes(subject: Subject, scopes: Iterable[str]) -> None:
    """A token's scopes: known permissions, each held by its creator (422 lists each)."""
    scopes = list(scopes)
    problems = [
        FieldError(
            Text("Unknown scope: {scope}.", scope=scope),
            "unknown_scope",
            "scopes",
            params={"scope": scope},
        )
        for scope in scopes
        if scope not in ALL_PERMISSIONS
    ] + [
        FieldError(
            Text("You cannot grant {scope}, which you do not hold.", scope=scope),
            "scope_not_held",
            "scopes",
            params={"scope": scope},
        )
        for scope in scopes
        if scope in ALL_PERMISSIONS and not subject.can(scope)
    ]
    if problems:
        raise InvalidInput(Text("Some scopes cannot be granted."), errors=problems)


def issuer(subject: Subject) -> uuid.UUID | None:
    """The member in whose name ``subject`` issues a token or an invitation; None: the system.

    A session issues in its member's name; an API token in its creator's, so that a token
    made by a token still follows the person at the end of the chain.
    """
    if subject.kind == "session":
        return subject.user_id
    if subject.kind == "api_token":
        return subject.on_behalf_of
    return None


def issues_as_system(subject: Subject) -> bool:
    """The admin command, or a token it issued: nobody's role bounds what these issue."""
    return subject.kind == "system" or (
        subject.kind == "api_token" and subject.on_behalf_of is None
    )


def token_permissions(
    scopes: Iterable[object], creator_role: str | None, system_issued: bool
) -> frozenset[str] | None:
    """What an API token may do now: its scopes, cut to its creator's current role.

    None when the token may do nothing at all: its creator is no longer a member. A token
    the system issued keeps its scopes: the operator who ran the admin command stands above
    every role of the agency.
    """
    granted = frozenset(str(s) for s in scopes)
    if system_issued:
        return granted
    if creator_role is None:
        return None
    return granted & permissions_of(creator_role)


def token_holder_role(creator_role: str | None, system_issued: bool) -> str | None:
    """The role a token stands for when someone acts on it (a system token: an owner's)."""
    return Role.OWNER.value if system_issued else creator_role
