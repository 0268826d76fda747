"""Which policy a publication goes through, and which of its steps apply: pure functions of
what the publication is (its :class:`Facts`), so that a table of cases can pin them.

Routed policies (those with conditions) are tried by priority, lowest first, then by name;
the first whose every condition holds wins. Otherwise the brand's default policy applies;
with no default, nothing is asked (``none``). A step whose ``applies_when`` does not hold is
skipped.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agency.approval.models import ApprovalPolicy
from agency.approval.people import AGENCY_MANAGERS, MANAGEMENT
from agency.publication.content import URL
from agency.publication.drafting import CONTENT_FIELDS
from agency.publication.models import Publication, Variant

NO_POLICY = "none"


@dataclass(frozen=True)
class Facts:
    """What routing looks at."""

    reporting_line: str | None = None
    networks: frozenset[str] = frozenset()
    campaign: str | None = None
    tags: frozenset[str] = frozenset()
    has_video: bool = False
    has_link: bool = False
    is_reply: bool = False  # replies are drafted by the inbox, once it exists


def facts_of(
    publication: Publication, variants: Sequence[Variant], media_kinds: Mapping[str, str]
) -> Facts:
    """``media_kinds``: media id -> kind (image, video...) of the variants' media."""
    return Facts(
        reporting_line=publication.reporting_line,
        networks=frozenset(v.network for v in variants),
        campaign=publication.campaign,
        tags=frozenset(publication.tags or ()),
        has_video=any(media_kinds.get(m) == "video" for v in variants for m in v.media_ids),
        has_link=any(v.link or URL.search(v.text or "") for v in variants),
    )


def _any_of(wanted: Iterable[str] | None, present: Iterable[str | None]) -> bool:
    wanted = set(wanted or ())
    return not wanted or bool(wanted & {p for p in present if p is not None})


def matches(conditions: Mapping[str, Any] | None, facts: Facts) -> bool:
    """Every condition given holds (an empty set of conditions always does)."""
    if not conditions:
        return True
    flags = (("has_video", facts.has_video), ("has_link", facts.has_link))
    return (
        _any_of(conditions.get("reporting_lines"), [facts.reporting_line])
        and _any_of(conditions.get("networks"), facts.networks)
        and _any_of(conditions.get("campaigns"), [facts.campaign])
        and _any_of(conditions.get("tags"), facts.tags)
        and all(conditions.get(name) in (None, value) for name, value in flags)
        and conditions.get("is_reply") in (None, facts.is_reply)
    )


def describe(conditions: Mapping[str, Any]) -> str:
    """The conditions in a line, for the history: ``reporting_lines=press_relations; ...``."""
    parts = []
    for name, value in conditions.items():
        if value is None or value == []:
            continue
        shown = ",".join(str(v) for v in value) if isinstance(value, list) else str(value).lower()
        parts.append(f"{name}={shown}")
    return "; ".join(parts)[:500]


# Why a round went to the crisis policy (its ``routed_by``): its approval clears the version
# to leave during that crisis.
CRISIS_ROUTE = "crisis mode"


def crisis_policy(brand_id: uuid.UUID) -> ApprovalPolicy:
    """While the brand is in crisis, whatever its policies say: one step, any one of the
    brand's decision makers (the agency's managers, the client's general management)."""
    return ApprovalPolicy(
        brand_id=brand_id,
        name="Crisis",
        conditions={},
        steps=[
            {
                "name": "Crisis decision makers",
                "approvers": {"roles": list(AGENCY_MANAGERS), "reporting_lines": [MANAGEMENT]},
                "rule": "any",
            }
        ],
    )


def route(policies: Sequence[ApprovalPolicy], facts: Facts) -> tuple[ApprovalPolicy | None, str]:
    """The policy that applies and why; ``(None, ...)`` when nothing is asked."""
    routed = sorted((p for p in policies if not p.is_default), key=lambda p: (p.priority, p.name))
    for policy in routed:
        if matches(policy.conditions, facts):
            return policy, describe(policy.conditions)
    default = next((p for p in policies if p.is_default), None)
    if default is not None:
        return default, "default"
    return None, "no policy matches and the brand has no default"


def applies(step: Mapping[str, Any], facts: Facts) -> bool:
    return matches(step.get("applies_when"), facts)


def content_hash(variants: Sequence[Variant]) -> str:
    """The exact version: every variant's channel and content (text, link, title, first
    comment, options, media), independent of the order variants are read in."""
    body = sorted(
        [str(v.channel_id), *[_plain(getattr(v, name)) for name in CONTENT_FIELDS]]
        for v in variants
    )
    encoded = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [str(v) for v in value]
    return value
