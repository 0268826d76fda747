from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

import msgspec

from agency.access.client_permissions import ClientPermission
from agency.brand.schemas import ReportingLine
from agency.kernel.http import etag
from agency.kernel.schemas import Email, Input, Locale, Name, Output, Password
from agency.login.models import LoginProvider

# The one redirect URI of every provider: register it exactly (no wildcard, no variant).
CALLBACK_PATH = "/auth/providers/callback"


class ProviderKind(StrEnum):
    OIDC = "oidc"  # OpenID Connect, with discovery
    OAUTH2 = "oauth2"  # plain OAuth 2.0 and a userinfo endpoint


class MagicLinkRequest(Input):
    email: Email
    agency_id: uuid.UUID


class MagicLinkRedeem(Input):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]


class PasswordForgotten(Input):
    email: Email
    # The agency whose frontend asks (its name is in the e-mail); default: the person's first.
    agency_id: uuid.UUID | None = None


class PasswordReset(Input):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    new_password: Password


class Accepted(Output):
    detail: str


Url = Annotated[str, msgspec.Meta(min_length=8, max_length=2000, pattern=r"^https?://[^\s]+$")]
ClaimName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
ClaimValue = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
Domain = Annotated[
    str, msgspec.Meta(max_length=253, pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9-]+)+$")
]
OAuthScope = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[!#-\[\]-~]+$")]
Secret = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
ClientId = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


def _default_scopes() -> list[str]:
    return ["openid", "email", "profile"]


def _default_permissions() -> list[ClientPermission]:
    return [ClientPermission.CALENDAR_READ]


class ProviderCreate(Input):
    """An identity provider for a brand's people, or (no ``brand_id``) the agency's staff."""

    name: Name
    client_id: ClientId
    brand_id: uuid.UUID | None = None
    kind: ProviderKind = ProviderKind.OIDC
    issuer: Url | None = None
    authorization_endpoint: Url | None = None
    token_endpoint: Url | None = None
    userinfo_endpoint: Url | None = None
    client_secret: Secret | None = None
    scopes: Annotated[list[OAuthScope], msgspec.Meta(max_length=30)] = msgspec.field(
        default_factory=_default_scopes
    )
    allowed_domains: Annotated[list[Domain], msgspec.Meta(max_length=50)] = []
    required_claim: ClaimName | None = None
    required_value: ClaimValue | None = None
    email_claim: ClaimName = "email"
    name_claim: ClaimName = "name"
    reporting_line_claim: ClaimName | None = None
    reporting_lines: dict[ClaimValue, ReportingLine] = {}
    default_reporting_line: ReportingLine | None = None
    just_in_time: bool = False
    member_permissions: Annotated[list[ClientPermission], msgspec.Meta(max_length=10)] = (
        msgspec.field(default_factory=_default_permissions)
    )
    member_locale: Locale = Locale.FR
    enabled: bool = True


class ProviderUpdate(Input):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    client_id: ClientId | msgspec.UnsetType = msgspec.UNSET
    issuer: Url | msgspec.UnsetType | None = msgspec.UNSET
    authorization_endpoint: Url | msgspec.UnsetType | None = msgspec.UNSET
    token_endpoint: Url | msgspec.UnsetType | None = msgspec.UNSET
    userinfo_endpoint: Url | msgspec.UnsetType | None = msgspec.UNSET
    client_secret: Secret | msgspec.UnsetType | None = msgspec.UNSET
    scopes: Annotated[list[OAuthScope], msgspec.Meta(max_length=30)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    allowed_domains: Annotated[list[Domain], msgspec.Meta(max_length=50)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    required_claim: ClaimName | msgspec.UnsetType | None = msgspec.UNSET
    required_value: ClaimValue | msgspec.UnsetType | None = msgspec.UNSET
    email_claim: ClaimName | msgspec.UnsetType = msgspec.UNSET
    name_claim: ClaimName | msgspec.UnsetType = msgspec.UNSET
    reporting_line_claim: ClaimName | msgspec.UnsetType | None = msgspec.UNSET
    reporting_lines: dict[ClaimValue, ReportingLine] | msgspec.UnsetType = msgspec.UNSET
    default_reporting_line: ReportingLine | msgspec.UnsetType | None = msgspec.UNSET
    just_in_time: bool | msgspec.UnsetType = msgspec.UNSET
    member_permissions: (
        Annotated[list[ClientPermission], msgspec.Meta(max_length=10)] | msgspec.UnsetType
    ) = msgspec.UNSET
    member_locale: Locale | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET


class ProviderOut(Output):
    id: uuid.UUID
    brand_id: uuid.UUID | None
    kind: ProviderKind
    name: str
    issuer: str | None
    authorization_endpoint: str | None
    token_endpoint: str | None
    userinfo_endpoint: str | None
    client_id: str
    has_client_secret: bool
    scopes: list[str]
    allowed_domains: list[str]
    required_claim: str | None
    required_value: str | None
    email_claim: str
    name_claim: str
    reporting_line_claim: str | None
    reporting_lines: dict[str, ReportingLine]
    default_reporting_line: ReportingLine | None
    just_in_time: bool
    member_permissions: list[str]
    member_locale: Locale
    enabled: bool
    # Register exactly this redirect URI with the provider.
    redirect_uri: str
    # Where the frontend sends a browser to sign in with this provider.
    sign_in_url: str
    created_at: datetime
    # What an edit sends in If-Match (the ETag its GET answers with), so a list can edit.
    etag: str

    @classmethod
    def of(cls, p: LoginProvider, public_url: str) -> ProviderOut:
        base = public_url.rstrip("/")
        return cls(
            etag=etag(p.version),
            id=p.id,
            brand_id=p.brand_id,
            kind=ProviderKind(p.kind),
            name=p.name,
            issuer=p.issuer,
            authorization_endpoint=p.authorization_endpoint,
            token_endpoint=p.token_endpoint,
            userinfo_endpoint=p.userinfo_endpoint,
            client_id=p.client_id,
            has_client_secret=p.client_secret is not None,
            scopes=list(p.scopes),
            allowed_domains=list(p.allowed_domains),
            required_claim=p.required_claim,
            required_value=p.required_value,
            email_claim=p.email_claim,
            name_claim=p.name_claim,
            reporting_line_claim=p.reporting_line_claim,
            reporting_lines={k: ReportingLine(v) for k, v in p.reporting_lines.items()},
            default_reporting_line=(
                ReportingLine(p.default_reporting_line) if p.default_reporting_line else None
            ),
            just_in_time=p.just_in_time,
            member_permissions=list(p.member_permissions),
            member_locale=Locale(p.member_locale),
            enabled=p.enabled,
            redirect_uri=f"{base}{CALLBACK_PATH}",
            sign_in_url=f"{base}/auth/providers/{p.agency_id}/{p.id}/sign-in",
            created_at=p.created_at,
        )


class ProviderPage(Output):
    items: list[ProviderOut]
    next_cursor: str | None


class ProviderLogoutOut(Output):
    # Send the browser here to end the provider's session too; null when there is nothing
    # to end there (not signed in through a provider, or it offers no logout).
    end_session_url: str | None
