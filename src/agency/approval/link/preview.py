"""Each variant as its network will show it: the account, the text as written, the link,
the media (with their alternative text) and the first comment, against the network's limit."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from agency.approval.link.page import MediaPreview, VariantPreview
from agency.channel.repository import ChannelRepository
from agency.kernel.tenancy import Subject
from agency.media.links import MediaLinks
from agency.media.service import describe_for_validation
from agency.publication.models import Publication
from agency.publication.repository import VariantRepository

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime

MEDIA_URL_SECONDS = 3600


async def previews(
    session: AsyncSession, subject: Subject, runtime: Runtime, publication: Publication
) -> list[VariantPreview]:
    variants = await VariantRepository(session, subject).of_publication(publication.id)
    channels = await ChannelRepository(session, subject).many({v.channel_id for v in variants})
    links = MediaLinks.from_settings(runtime.settings)
    shown = []
    for variant in variants:
        cls = runtime.connectors.get(variant.network)
        channel = channels.get(variant.channel_id)
        account = (channel.handle or channel.name) if channel else variant.network
        media_ids = [uuid.UUID(m) for m in variant.media_ids]
        described = await describe_for_validation(session, subject, media_ids)
        shown.append(
            VariantPreview(
                network=cls.display_name if cls else variant.network,
                account=account,
                text=variant.text,
                link=variant.link,
                title=variant.title,
                first_comment=variant.first_comment,
                media=[
                    MediaPreview(
                        kind=m.kind,
                        url=links.url(subject.agency_id, media_id, MEDIA_URL_SECONDS),
                        alt=m.alt_text,
                    )
                    for media_id, m in zip(media_ids, described, strict=True)
                ],
                length=len(variant.text),
                limit=cls.limits.max_text_length if cls else None,
            )
        )
    return shown
