"""A publication's variants as sent: checked, resolved and compared with what is stored.

Each variant names a channel of the publication's brand and media of that brand; ``copy_from``
starts it from another variant's content (then it is its own). Every problem of a variant on
its network (the connector's rules) and against the brand's editorial charter is listed, not
the first one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from agency.brand.models import Brand
from agency.brand.repository import BrandRepository
from agency.channel.models import Channel
from agency.channel.repository import ChannelRepository
from agency.connector.base import Media
from agency.kernel.errors import Conflict, InvalidInput
from agency.kernel.tenancy import Subject
from agency.media.repository import MediaRepository
from agency.media.service import describe_for_validation
from agency.publication.charter import charter_problems
from agency.publication.content import content_hash, problems_of
from agency.publication.drafting import CONTENT_FIELDS, short_value, variant_fields
from agency.publication.models import Publication, Variant
from agency.publication.repository import PublicationRepository, VariantRepository
from agency.publication.schemas import ProblemOut, VariantIn
from agency.publication.states import Delivery

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime

Problems = dict[uuid.UUID, list[ProblemOut]]


class VariantComposer:
    """Variants of one agency's publications, in the caller's session."""

    def __init__(self, session: AsyncSession, subject: Subject, runtime: Runtime) -> None:
        self.session = session
        self.subject = subject
        self.runtime = runtime
        self.repo = PublicationRepository(session, subject)
        self.variants = VariantRepository(session, subject)

    async def problems(
        self,
        publication: Publication,
        variants: Sequence[Variant],
        brand: Brand | None = None,
        media: Mapping[uuid.UUID, Media] | None = None,
    ) -> Problems:
        """Each variant's problems: its network's rules, then the brand's charter (``brand``
        and the variants' ``media`` read here unless given)."""
        found: Problems = {}
        if brand is None:
            brand = await BrandRepository(self.session, self.subject).find(publication.brand_id)
        charter = brand.editorial_charter if brand else {}
        for variant in variants:
            cls = self.runtime.connectors.get(variant.network)
            if cls is None:
                found[variant.id] = [
                    ProblemOut(
                        field="channel_id",
                        message=f"The {variant.network} connector is not installed.",
                        code="network_unavailable",
                    )
                ]
                continue
            described = (
                [media[uuid.UUID(m)] for m in variant.media_ids]
                if media is not None
                else await self._media(variant.media_ids)
            )
            found[variant.id] = [
                ProblemOut(field=p.field, message=p.message, code=p.code)
                for p in [
                    *problems_of(cls, publication, variant, described),
                    *charter_problems(charter, variant.text),
                ]
            ]
        return found

    async def resolve(
        self, brand: Brand, items: Sequence[VariantIn], existing: Sequence[Variant]
    ) -> list[dict[str, Any]]:
        """Check channels and media, resolve ``copy_from``; the fields of each variant."""
        errors: list[dict[str, str]] = []
        channels = ChannelRepository(self.session, self.subject)
        seen: set[uuid.UUID] = set()
        by_channel: dict[uuid.UUID, VariantIn] = {v.channel_id: v for v in items}
        stored = {v.channel_id: v for v in existing}
        resolved: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            where = f"variants[{index}]"
            if item.channel_id in seen:
                errors.append(
                    {"field": f"{where}.channel_id", "message": "this channel appears twice"}
                )
                continue
            seen.add(item.channel_id)
            channel: Channel | None = await channels.find(item.channel_id)
            if channel is None:
                errors.append(
                    {
                        "field": f"{where}.channel_id",
                        "message": f"no channel with id {item.channel_id} in this agency",
                    }
                )
                continue
            if channel.brand_id != brand.id:
                errors.append(
                    {
                        "field": f"{where}.channel_id",
                        "message": f"channel {item.channel_id} belongs to another brand",
                    }
                )
                continue
            fields = variant_fields(item)
            if item.copy_from is not None:
                source = by_channel.get(item.copy_from)
                if source is not None and source is not item:
                    base = variant_fields(source)
                elif item.copy_from in stored:
                    base = {n: getattr(stored[item.copy_from], n) for n in CONTENT_FIELDS}
                else:
                    errors.append(
                        {
                            "field": f"{where}.copy_from",
                            "message": f"no variant for channel {item.copy_from} to copy",
                        }
                    )
                    continue
                for name in CONTENT_FIELDS:
                    if not fields[name]:
                        fields[name] = base[name]
            errors.extend(await self._media_errors(brand, fields["media_ids"], where))
            resolved.append({**fields, "channel_id": channel.id, "network": channel.network})
        if errors:
            raise InvalidInput("Some variants cannot be saved as sent.", errors=errors)
        return resolved

    async def replace(
        self,
        publication: Publication,
        brand: Brand,
        current: list[Variant],
        items: Sequence[VariantIn],
        changes: dict[str, Any],
    ) -> bool:
        resolved = await self.resolve(brand, items, current)
        stored = {v.channel_id: v for v in current}
        changed = False
        wanted = {fields["channel_id"] for fields in resolved}
        for variant in current:
            if variant.channel_id not in wanted:
                if variant.status not in (Delivery.PENDING, Delivery.SCHEDULED):
                    raise Conflict(
                        f"The {variant.network} variant is {variant.status}; it cannot be removed."
                    )
                await self.session.delete(variant)
                changes[f"variants.{variant.channel_id}"] = ["present", None]
                changed = True
        for fields in resolved:
            kept = stored.get(fields["channel_id"])
            if kept is None:
                self.session.add(
                    Variant(
                        agency_id=self.subject.agency_id,
                        publication_id=publication.id,
                        brand_id=brand.id,
                        **fields,
                    )
                )
                changes[f"variants.{fields['channel_id']}"] = [None, "added"]
                changed = True
                continue
            variant = kept
            diff = {
                name: [getattr(variant, name), fields[name]]
                for name in CONTENT_FIELDS
                if getattr(variant, name) != fields[name]
            }
            if diff:
                if variant.status not in (Delivery.PENDING, Delivery.SCHEDULED):
                    raise Conflict(
                        f"The {variant.network} variant is {variant.status}; it cannot change."
                    )
                for name, (_, new) in diff.items():
                    setattr(variant, name, new)
                    changes[f"variants.{variant.channel_id}.{name}"] = [
                        short_value(diff[name][0]),
                        short_value(new),
                    ]
                variant.content_version += 1
                variant.content_hash = content_hash(variant)
                changed = True
        await self.repo.flush()
        for variant in await self.variants.of_publication(publication.id):
            if variant.content_hash is None:
                variant.content_hash = content_hash(variant)
        return changed

    async def _media_errors(
        self, brand: Brand, media_ids: list[str], where: str
    ) -> list[dict[str, str]]:
        if not media_ids:
            return []
        ids = [uuid.UUID(m) for m in media_ids]
        found = await MediaRepository(self.session, self.subject).many(ids)
        errors = []
        for index, media_id in enumerate(ids):
            asset = found.get(media_id)
            if asset is None:
                message = f"no media with id {media_id} in this agency"
            elif asset.brand_id != brand.id:
                message = f"media {media_id} belongs to another brand"
            else:
                continue
            errors.append({"field": f"{where}.media_ids[{index}]", "message": message})
        return errors

    async def _media(self, media_ids: Sequence[str]) -> list[Media]:
        if not media_ids:
            return []
        return await describe_for_validation(
            self.session, self.subject, [uuid.UUID(m) for m in media_ids]
        )
