"""From a variant to what a connector publishes: UTM-tagged links, the content hash, checks."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from agency.connector.base import Connector, Media, Post, Problem
from agency.publication.models import Publication, Variant

URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]}]")


def with_utm(url: str, utm: Mapping[str, str]) -> str:
    """``url`` with ``utm_*`` parameters added (ones already present are kept as written)."""
    if not utm:
        return url
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {key for key, _ in query}
    for name, value in utm.items():
        key = f"utm_{name}"
        if value and key not in present:
            query.append((key, value))
    return urlunsplit(parts._replace(query=urlencode(query)))


def tag_links(text: str, utm: Mapping[str, str]) -> str:
    if not utm:
        return text
    return URL.sub(lambda m: with_utm(m.group(0), utm), text)


def build_post(publication: Publication, variant: Variant, media: Sequence[Media] = ()) -> Post:
    utm = {k: v for k, v in (publication.utm or {}).items() if v}
    return Post(
        text=tag_links(variant.text, utm),
        media=tuple(media),
        link=with_utm(variant.link, utm) if variant.link else None,
        title=variant.title,
        first_comment=variant.first_comment,
        options=dict(variant.options),
        idempotency_key=idempotency_key(variant),
    )


def idempotency_key(variant: Variant) -> str:
    """Stable for one content version: a retry of the same content is the same request."""
    return f"agency-{variant.id}-{variant.content_version}"


def content_hash(variant: Variant) -> str:
    body = json.dumps(
        [variant.text, variant.link, variant.title, list(variant.media_ids)], ensure_ascii=False
    )
    return hashlib.sha256(body.encode()).hexdigest()


def problems_of(
    connector: type[Connector], publication: Publication, variant: Variant, media: Sequence[Media]
) -> list[Problem]:
    """Every problem of the variant on its network (text as published, with UTM links)."""
    return connector.validate(build_post(publication, variant, media))
