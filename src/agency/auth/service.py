"""Login sessions and API tokens. Services never commit: the request owns the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from agency.access import policy
from agency.access.permissions import permissions_of
from agency.access.secrets import (
    SESSION_PREFIX,
    hash_password_off_loop,
    hash_secret,
    new_bearer,
    verify_password_off_loop,
)
from agency.audit.repository import AuditRepository
from agency.auth.models import Credential
from agency.auth.repository import CredentialRepository
from agency.auth.tasks import END_SESSIONS
from agency.config import AuthSettings
from agency.kernel.db import new_id, utcnow
from agency.kernel.errors import Conflict, FieldError, InvalidInput, Unauthorized
from agency.kernel.i18n import Text
from agency.kernel.jobs import enqueue
from agency.kernel.pagination import PageRequest
from agency.kernel.tenancy import Subject, bind_tenant
from agency.member.models import Membership, User
from agency.member.repository import UserRepository


@dataclass(frozen=True)
class Issued:
    """A credential with its secret, which exists only in this answer."""

    credential: Credential
    token: str


@dataclass(frozen=True)
class SessionLife:
    """How long a session lasts (``ttl``), and how long after its sign-in renewals may carry
    it (``max_age``): a stolen session cannot be kept alive for ever by renewing it."""

    ttl: timedelta
    max_age: timedelta

    @classmethod
    def of(cls, settings: AuthSettings) -> SessionLife:
        return cls(
            ttl=timedelta(hours=settings.session_ttl_hours),
            max_age=timedelta(hours=max(settings.session_max_hours, settings.session_ttl_hours)),
        )


def _issue(
    agency_id: uuid.UUID, kind: str, name: str, expires_in: timedelta | None, **fields: object
) -> Issued:
    credential_id = new_id()
    bearer = new_bearer(agency_id, credential_id)
    credential = Credential(
        id=credential_id,
        agency_id=agency_id,
        kind=kind,
        name=name,
        secret_hash=hash_secret(bearer.secret),
        expires_at=utcnow() + expires_in if expires_in else None,
        **fields,
    )
    return Issued(credential, bearer.render(SESSION_PREFIX))


def _session_fields(life: SessionLife) -> dict[str, object]:
    return {"renewable_until": utcnow() + life.max_age, "scopes": []}


async def start_session(
    session: AsyncSession, membership: Membership, life: SessionLife
) -> tuple[Issued, Subject]:
    subject = Subject(
        agency_id=membership.agency_id,
        kind="session",
        user_id=membership.user_id,
        role=membership.role,
        permissions=permissions_of(membership.role),
    )
    await bind_tenant(session, membership.agency_id)
    issued = _issue(
        membership.agency_id,
        "session",
        "login",
        life.ttl,
        user_id=membership.user_id,
        **_session_fields(life),
    )
    await CredentialRepository(session, subject).add(issued.credential)
    return issued, subject


async def start_client_session(
    session: AsyncSession, agency_id: uuid.UUID, user_id: uuid.UUID, life: SessionLife
) -> tuple[Issued, Subject]:
    """A session of a client member in one agency: it reaches all their brands there."""
    subject = Subject(agency_id=agency_id, kind="client", user_id=user_id, brand_ids=frozenset())
    await bind_tenant(session, agency_id)
    issued = _issue(
        agency_id,
        "client_session",
        "client login",
        life.ttl,
        user_id=user_id,
        **_session_fields(life),
    )
    await CredentialRepository(session, subject).add(issued.credential)
    return issued, subject


async def login(
    session: AsyncSession,
    email: str,
    password: str,
    agency_id: uuid.UUID | None,
    life: SessionLife,
) -> tuple[Issued, Membership]:
    """Check a password and open a session in one of the user's agencies."""
    users = UserRepository(session)
    user = await users.by_email(email)
    valid = await verify_password_off_loop(password, user.password_hash if user else None)
    if user is None or not valid or user.disabled_at is not None:
        raise Unauthorized(Text("Unknown e-mail address or wrong password."))
    memberships = await users.memberships_of(user.id)
    if agency_id is not None:
        memberships = [m for m in memberships if m.agency_id == agency_id]
    if not memberships:
        raise Unauthorized(Text("This account is not a member of that agency."))
    if len(memberships) > 1:
        choices = [str(m.agency_id) for m in memberships]
        raise InvalidInput(
            Text("This account belongs to several agencies: say which one in agency_id."),
            errors=[
                FieldError(
                    Text("One of: {allowed}.", allowed=", ".join(choices)),
                    "agency_required",
                    "agency_id",
                    params={"allowed": choices},
                )
            ],
        )
    membership = memberships[0]
    issued, subject = await start_session(session, membership, life)
    AuditRepository(session, subject).record("auth.login", "user", user.id)
    return issued, membership


async def end_sessions(
    session: AsyncSession, subject: Subject, user_id: uuid.UUID, keep: uuid.UUID | None
) -> None:
    """End a person's sessions but ``keep``: in this agency now, in their other agencies by
    a job sent after the commit (a request never reaches across agencies)."""
    await CredentialRepository(session, subject).end_sessions_of(user_id, keep, utcnow())
    enqueue(END_SESSIONS, str(user_id), str(keep) if keep else "")


class CredentialService:
    def __init__(self, session: AsyncSession, subject: Subject) -> None:
        self.session = session
        self.subject = subject
        self.repo = CredentialRepository(session, subject)
        self.users = UserRepository(session)
        self.audit = AuditRepository(session, subject)

    async def person(self) -> User | None:
        """The person logged in (staff or client member); None for an API token."""
        return await self.users.by_id(self.subject.user_id) if self.subject.user_id else None

    async def choose_locale(self, locale: str | None) -> User:
        """The language of messages and e-mails to the person logged in."""
        person = await self.person()
        if person is None:
            raise Conflict(
                Text("Only a person chooses a language; an API token sends Accept-Language.")
            )
        person.locale = locale
        self.audit.record("user.locale_chosen", "user", person.id, {"locale": locale})
        return person

    async def change_password(self, current: str, new: str) -> None:
        """A person changes their password: their other sessions end, everywhere."""
        person = await self.person()
        if person is None:
            raise Conflict(Text("Only a person signed in changes a password, not an API token."))
        if person.password_hash is None:
            raise Conflict(
                Text(
                    "This account signs in without a password (an identity provider or "
                    "e-mailed links): there is none to change."
                )
            )
        if not await verify_password_off_loop(current, person.password_hash):
            raise InvalidInput(
                Text("The current password is wrong."),
                errors=[FieldError(Text("Wrong password."), "wrong_password", "current_password")],
            )
        person.password_hash = await hash_password_off_loop(new)
        await end_sessions(self.session, self.subject, person.id, self.subject.credential_id)
        self.audit.record("user.password_changed", "user", person.id)

    async def _own_session(self, verb: str) -> Credential:
        if self.subject.kind not in {"session", "client"} or self.subject.credential_id is None:
            raise Conflict(
                f"Only a login session {verb}; an API token is revoked with "
                "POST /api-tokens/{id}/revoke."
            )
        return await self.repo.get(self.subject.credential_id)

    async def logout(self) -> Credential:
        """End the caller's session; it is returned for what its sign-in left to undo."""
        credential = await self._own_session("logs out")
        credential.revoked_at = utcnow()
        return credential

    async def renew(self, life: SessionLife) -> Issued:
        """A fresh session token for the same person, this one ending now (rotation). It
        lives ``life.ttl``, but never past the end its sign-in set (``renewable_until``)."""
        current = await self._own_session("is renewed")
        now = utcnow()
        current.revoked_at = now
        # Sessions from before the cap existed count from their own creation.
        cap = current.renewable_until or current.created_at + life.max_age
        issued = _issue(
            self.subject.agency_id,
            current.kind,
            current.name,
            life.ttl,
            user_id=current.user_id,
            scopes=[],
            renewable_until=cap,
            login_provider_id=current.login_provider_id,
            id_token=current.id_token,
        )
        # One instant for both ends: the new session never outlives its cap, not even by the
        # microseconds between two clock readings.
        issued.credential.expires_at = min(now + life.ttl, cap)
        await self.repo.add(issued.credential)
        return issued

    async def create_api_token(
        self, name: str, scopes: Sequence[str], expires_in_days: int | None
    ) -> Issued:
        """Mint a token whose scopes are within what its creator may do."""
        policy.require_grantable_scopes(self.subject, scopes)
        issued = _issue(
            self.subject.agency_id,
            "api_token",
            name,
            timedelta(days=expires_in_days) if expires_in_days else None,
            created_by=policy.issuer(self.subject),
            system_issued=policy.issues_as_system(self.subject),
            scopes=sorted(set(scopes)),
        )
        if self.subject.kind == "api_token" and self.subject.credential_id is not None:
            # Made by a token: it dies with that token, and never outlives it.
            parent = await self.repo.get(self.subject.credential_id)
            issued.credential.parent_id = parent.id
            if parent.expires_at is not None and (
                issued.credential.expires_at is None
                or issued.credential.expires_at > parent.expires_at
            ):
                issued.credential.expires_at = parent.expires_at
        await self.repo.add(issued.credential)
        self.audit.record(
            "api_token.created", "api_token", issued.credential.id, {"name": name, "scopes": scopes}
        )
        return issued

    async def list_api_tokens(self, page: PageRequest) -> tuple[Sequence[Credential], str | None]:
        return await self.repo.page(page, self.repo.api_tokens())

    async def get_api_token(self, token_id: uuid.UUID) -> Credential:
        return await self.repo.get_api_token(token_id)

    async def revoke_api_token(self, token_id: uuid.UUID) -> None:
        """A token stands for its creator: revoking it is acting on them."""
        credential, creator_role = await self.repo.get_api_token_with_creator_role(token_id)
        policy.require_may_act_on(
            self.subject,
            policy.token_holder_role(creator_role, credential.system_issued),
            "revoke this API token",
        )
        now = utcnow()
        # Tokens this one created go with it, even if it was revoked before they were.
        descendants = await self.repo.revoke_descendants(token_id, now)
        if credential.revoked_at is None or descendants:
            credential.revoked_at = credential.revoked_at or now
            self.audit.record(
                "api_token.revoked",
                "api_token",
                token_id,
                {"with": [str(d) for d in descendants]} if descendants else None,
            )
