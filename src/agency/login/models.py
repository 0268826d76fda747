from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from agency.kernel.db import Base, IdMixin, TimestampMixin
from agency.kernel.secrets import Encrypted
from agency.kernel.tenancy import TenantMixin


class SignInLink(IdMixin, TenantMixin, TimestampMixin, Base):
    """A single-use, short-lived link that signs one person in to one agency.

    Only a SHA-256 of its secret is kept. It is bound to the person (``user_id``): whoever
    redeems it becomes that person, so it is only ever mailed to their own address.
    """

    __tablename__ = "sign_in_links"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(20))  # invitation | magic_link
    secret_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class LoginProvider(IdMixin, TenantMixin, TimestampMixin, Base):
    """An identity provider a brand's people (or, with no brand, the agency's staff) sign in
    with: OpenID Connect (``issuer``, discovered) or plain OAuth 2.0 (explicit endpoints and
    a userinfo endpoint). The client secret is sealed at rest like channel tokens."""

    __tablename__ = "login_providers"
    __tenant_indexes__ = (Index("ix_login_providers_agency_brand", "agency_id", "brand_id"),)

    brand_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))  # oidc | oauth2
    name: Mapped[str] = mapped_column(String(200))
    issuer: Mapped[str | None] = mapped_column(String(2000))
    authorization_endpoint: Mapped[str | None] = mapped_column(String(2000))
    token_endpoint: Mapped[str | None] = mapped_column(String(2000))
    userinfo_endpoint: Mapped[str | None] = mapped_column(String(2000))
    client_id: Mapped[str] = mapped_column(String(500))
    client_secret: Mapped[str | None] = mapped_column(Encrypted)
    scopes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    allowed_domains: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Sign-in needs this claim to hold this value (a group, a department...).
    required_claim: Mapped[str | None] = mapped_column(String(200))
    required_value: Mapped[str | None] = mapped_column(String(500))
    email_claim: Mapped[str] = mapped_column(String(200), default="email")
    name_claim: Mapped[str] = mapped_column(String(200), default="name")
    # Just-in-time members: a claim's value -> reporting line, else the default line.
    reporting_line_claim: Mapped[str | None] = mapped_column(String(200))
    reporting_lines: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    default_reporting_line: Mapped[str | None] = mapped_column(String(30))
    just_in_time: Mapped[bool] = mapped_column(default=False)
    member_permissions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    member_locale: Mapped[str] = mapped_column(String(8), default="fr")
    enabled: Mapped[bool] = mapped_column(default=True)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class LoginAttempt(IdMixin, TenantMixin, TimestampMixin, Base):
    """One sign-in under way at a provider: what the callback must find again.

    ``state`` is a bearer secret naming this row (only its hash is kept); the nonce and the
    PKCE verifier never leave the server but in the requests they belong to. Used once.
    """

    __tablename__ = "login_attempts"

    provider_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("login_providers.id", ondelete="CASCADE")
    )
    secret_hash: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(100))
    code_verifier: Mapped[str] = mapped_column(Encrypted)
    return_to: Mapped[str] = mapped_column(String(2000))
    mode: Mapped[str] = mapped_column(String(10))  # cookie | bearer
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
