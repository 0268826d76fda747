"""The rows a draft is made of, and the versions that record each change of a publication.

Plain functions over the models, shared by the one-at-a-time path (the use cases of
:mod:`agency.publication.service`) and the bulk one (:mod:`agency.publication.bulk`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
from dateutil.rrule import rrulestr

from agency.brand.models import Brand
from agency.kernel.db import new_id, utcnow
from agency.kernel.errors import InvalidInput
from agency.kernel.tenancy import Subject
from agency.publication.models import Publication, PublicationVersion, Variant
from agency.publication.schemas import PublicationCreate, VariantIn
from agency.publication.states import Status

# What a variant says (as opposed to where and when it goes).
CONTENT_FIELDS = ("text", "link", "title", "first_comment", "options", "media_ids")


def version_row(
    subject: Subject,
    publication: Publication,
    action: str,
    changes: dict[str, Any],
    variants: Sequence[Variant],
) -> PublicationVersion:
    """The version row of ``publication`` as it is now (its number is its current version)."""
    actor_kind, actor_id = subject.actor
    return PublicationVersion(
        id=new_id(),
        agency_id=subject.agency_id,
        publication_id=publication.id,
        number=publication.version,
        action=action,
        actor_kind=actor_kind,
        actor_id=actor_id,
        at=utcnow(),
        changes=changes,
        snapshot=snapshot(publication, variants),
    )


def new_draft(subject: Subject, brand: Brand, data: PublicationCreate) -> Publication:
    """A new draft of ``brand`` made of ``data`` (its variants are added apart)."""
    return Publication(
        id=new_id(),
        agency_id=subject.agency_id,
        brand_id=brand.id,
        title=data.title,
        status=Status.DRAFT,
        campaign=data.campaign,
        reporting_line=data.reporting_line or brand.reporting_line,
        tags=list(data.tags),
        utm=utm_fields(data.utm),
        recurrence=data.recurrence,
        created_by=subject.user_id,
        created_at=utcnow(),
        version=1,
    )


def snapshot(publication: Publication, variants: Sequence[Variant]) -> dict[str, Any]:
    """The publication and its variants' content as a version keeps them."""
    return {
        "title": publication.title,
        "status": publication.status,
        "scheduled_at": iso(publication.scheduled_at),
        "campaign": publication.campaign,
        "tags": list(publication.tags or []),
        "utm": dict(publication.utm or {}),
        "variants": [
            {"channel_id": str(v.channel_id), **{n: getattr(v, n) for n in CONTENT_FIELDS}}
            for v in variants
        ],
    }


def variant_fields(item: VariantIn) -> dict[str, Any]:
    return {
        "text": item.text,
        "link": item.link,
        "title": item.title,
        "first_comment": item.first_comment,
        "options": dict(item.options),
        "media_ids": [str(m) for m in item.media_ids],
    }


def utm_fields(utm: Any) -> dict[str, str]:
    return {k: v for k, v in msgspec.to_builtins(utm).items() if v}


def check_recurrence(rule: str | None) -> None:
    if rule is None:
        return
    try:
        rrulestr(rule if rule.startswith("RRULE:") else f"RRULE:{rule}")
    except (ValueError, TypeError) as exc:
        raise InvalidInput(
            f"The recurrence rule is not valid RFC 5545: {exc}.",
            errors=[{"field": "recurrence", "message": str(exc)}],
        ) from exc


def iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def short_value(value: Any) -> Any:
    """A value as the version log keeps it: long texts cut at 500 characters."""
    if isinstance(value, str) and len(value) > 500:
        return value[:500] + "…"
    return value
