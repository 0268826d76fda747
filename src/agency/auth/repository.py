from __future__ import annotations

from sqlalchemy import Select

from agency.auth.models import Credential
from agency.kernel.errors import NotFound
from agency.kernel.repository import TenantRepository


class CredentialRepository(TenantRepository[Credential]):
    model = Credential
    noun = "API token"

    def api_tokens(self) -> Select[Credential]:
        return self.select().where(Credential.kind == "api_token")

    async def get_api_token(self, token_id: object) -> Credential:
        found = (
            await self.session.execute(self.api_tokens().where(Credential.id == token_id))
        ).scalar_one_or_none()
        if found is None:
            raise NotFound(f"No API token with id {token_id} in this agency.")
        return found
