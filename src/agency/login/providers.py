"""Identity providers as agencies configure them: one per brand, or one for the agency."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from agency.access import policy
from agency.access.permissions import Permission
from agency.audit.repository import AuditRepository
from agency.brand.repository import BrandRepository
from agency.kernel.errors import InvalidInput
from agency.kernel.http import check_if_match
from agency.kernel.outbound import OutboundPolicy, OutboundRefused, check_url
from agency.kernel.pagination import PageRequest
from agency.kernel.secrets import SecretBox
from agency.kernel.tenancy import Subject
from agency.login.models import LoginProvider
from agency.login.repository import LoginProviderRepository
from agency.login.schemas import ProviderCreate, ProviderUpdate

_TAKEN = "This brand (or the agency) already has a sign-in provider: change that one."


_URLS = ("issuer", "authorization_endpoint", "token_endpoint", "userinfo_endpoint")


def _problems(p: LoginProvider, outbound: OutboundPolicy) -> list[dict[str, str]]:
    problems = []
    for name in _URLS:  # what can be told before resolving; the rest is checked at sign-in
        url = getattr(p, name)
        if url:
            try:
                check_url(url, outbound)
            except OutboundRefused as exc:
                problems.append({"field": name, "message": exc.reason})
    if p.kind == "oidc" and not p.issuer:
        problems.append({"field": "issuer", "message": "an OpenID Connect provider needs one"})
    if p.kind == "oauth2":
        for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint"):
            if not getattr(p, name):
                problems.append({"field": name, "message": "a plain OAuth 2.0 provider needs one"})
    if (p.required_claim is None) != (p.required_value is None):
        problems.append(
            {"field": "required_value", "message": "give required_claim and required_value"}
        )
    if p.just_in_time and p.brand_id is None:
        problems.append(
            {"field": "just_in_time", "message": "agency staff are never created on sign-in"}
        )
    if p.kind == "oidc" and "openid" not in p.scopes:
        problems.append({"field": "scopes", "message": "an OpenID Connect sign-in asks 'openid'"})
    return problems


class ProviderService:
    def __init__(
        self, session: AsyncSession, subject: Subject, box: SecretBox, outbound: OutboundPolicy
    ) -> None:
        self.subject = subject
        self.box = box
        self.outbound = outbound
        self.repo = LoginProviderRepository(session, subject)
        self.brands = BrandRepository(session, subject)
        self.audit = AuditRepository(session, subject)

    async def create(self, data: ProviderCreate) -> LoginProvider:
        if data.brand_id is None:
            self.subject.require(Permission.AGENCY_MANAGE)
        else:
            await self.brands.get(data.brand_id)
        policy.require_may_control_sign_in(self.subject, data.brand_id, "set up this provider")
        fields = msgspec.to_builtins(data)
        secret = fields.pop("client_secret")
        provider = LoginProvider(
            **fields, client_secret=self.box.encrypt(secret) if secret else None
        )
        problems = _problems(provider, self.outbound)
        if problems:
            raise InvalidInput("The provider cannot be set up as sent.", errors=problems)
        if await self.repo.of_brand(data.brand_id) is not None:
            raise InvalidInput(_TAKEN, errors=[{"field": "brand_id", "message": _TAKEN}])
        await self.repo.add(provider)
        self.audit.record(
            "login_provider.created",
            "login_provider",
            provider.id,
            {"brand_id": str(data.brand_id) if data.brand_id else None, "kind": data.kind},
        )
        return provider

    async def list(self, page: PageRequest) -> tuple[Sequence[LoginProvider], str | None]:
        return await self.repo.page(page)

    async def get(self, provider_id: uuid.UUID) -> LoginProvider:
        return await self.repo.get(provider_id)

    async def update(
        self, provider_id: uuid.UUID, data: ProviderUpdate, if_match: str | None
    ) -> LoginProvider:
        provider = await self._writable(provider_id)
        check_if_match(if_match, provider.version)
        changes: dict[str, Any] = {}
        for name, value in msgspec.structs.asdict(data).items():
            if value is msgspec.UNSET:
                continue
            new = msgspec.to_builtins(value)
            if name == "client_secret":
                provider.client_secret = self.box.encrypt(new) if new else None
                changes[name] = "changed"  # never the secret itself
            elif getattr(provider, name) != new:
                changes[name] = new
                setattr(provider, name, new)
        problems = _problems(provider, self.outbound)
        if problems:
            raise InvalidInput("The provider cannot be changed as sent.", errors=problems)
        if changes:
            await self.repo.flush()
            self.audit.record("login_provider.updated", "login_provider", provider.id, changes)
        return provider

    async def remove(self, provider_id: uuid.UUID) -> None:
        await self._writable(provider_id)
        await self.repo.delete(provider_id)
        self.audit.record("login_provider.removed", "login_provider", provider_id)

    async def _writable(self, provider_id: uuid.UUID) -> LoginProvider:
        provider = await self.repo.get(provider_id)
        if provider.brand_id is None:
            self.subject.require(Permission.AGENCY_MANAGE)
        policy.require_may_control_sign_in(self.subject, provider.brand_id, "change this provider")
        return provider
