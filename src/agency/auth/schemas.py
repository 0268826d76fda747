from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

import msgspec

from agency.access.permissions import Role
from agency.kernel.schemas import Email, Input, Name, Output, Password

Scope = Annotated[str, msgspec.Meta(min_length=1, max_length=60)]


class LoginInput(Input):
    email: Email
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    agency_id: uuid.UUID | None = None


class SessionRole(StrEnum):
    """A session's role: an agency :class:`Role`, or ``client`` for a client member (a test
    holds the two together)."""

    OWNER = Role.OWNER.value
    ADMIN = Role.ADMIN.value
    MANAGER = Role.MANAGER.value
    COMMUNITY_MANAGER = Role.COMMUNITY_MANAGER.value
    ANALYST = Role.ANALYST.value
    CLIENT = "client"


class CredentialKind(StrEnum):
    SESSION = "session"
    API_TOKEN = "api_token"
    CLIENT = "client"  # a client member's session
    SYSTEM = "system"


class SessionOut(Output):
    token: str = msgspec.field(name="token")
    expires_at: datetime
    # Renewals (POST /auth/session/renew) never carry the session past this: sign in again.
    renewable_until: datetime | None
    agency_id: uuid.UUID
    user_id: uuid.UUID
    role: SessionRole


class ApiTokenCreate(Input):
    name: Name
    scopes: Annotated[list[Scope], msgspec.Meta(min_length=1, max_length=50)]
    expires_in_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] | None = 90


class ApiTokenOut(Output):
    id: uuid.UUID
    name: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    created_by: uuid.UUID | None


class ApiTokenPage(Output):
    items: list[ApiTokenOut]
    next_cursor: str | None = None


class ApiTokenCreated(ApiTokenOut):
    token: str


Language = Literal["fr", "en"]


class MeUser(Output):
    id: uuid.UUID
    email: str
    name: str
    # The language the person chose (None: each request's Accept-Language decides).
    locale: Language | None = None


class PasswordChange(Input):
    current_password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    new_password: Password


class LocaleChoice(Input):
    """The language of the API's messages and e-mails to this person; null: let each
    request's Accept-Language decide."""

    locale: Language | None


class MeOut(Output):
    agency_id: uuid.UUID
    kind: CredentialKind
    role: Role | None
    permissions: list[str]
    user: MeUser | None
    # A client member's brands; absent for agency staff and API tokens (the whole agency).
    brand_ids: list[uuid.UUID] | None = None
