"""Reading publications: one with its problems (from :class:`PublicationUseCase`), a page
of them, the calls made to the networks, the versions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from agency.kernel.pagination import PageRequest
from agency.publication.models import Attempt, Publication, PublicationVersion
from agency.publication.repository import AttemptRepository, VersionRepository
from agency.publication.service import PublicationUseCase


class PublicationReading(PublicationUseCase):
    async def page(
        self,
        page: PageRequest,
        brand_id: uuid.UUID | None,
        status: str | None,
        campaign: str | None,
    ) -> tuple[Sequence[Publication], str | None]:
        return await self.repo.page(page, self.repo.listing(brand_id, status, campaign))

    async def attempts(self, publication_id: uuid.UUID) -> list[Attempt]:
        await self.repo.get(publication_id)
        return await AttemptRepository(self.session, self.subject).of_publication(publication_id)

    async def history(self, publication_id: uuid.UUID) -> list[PublicationVersion]:
        await self.repo.get(publication_id)
        return await VersionRepository(self.session, self.subject).of_publication(publication_id)
