from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

import msgspec

from agency.brand.models import Brand
from agency.kernel.http import etag
from agency.kernel.schemas import Input, Locale, Name, Output, Slug

Text = Annotated[str, msgspec.Meta(max_length=2000)]
Word = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
NetworkName = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
TimeZone = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
GraceMinutes = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        le=10080,
        description="After downtime, publish late up to this many minutes past due; "
        "later ones are marked missed.",
    ),
]


class ApprovalPolicyName(StrEnum):
    """Where a brand's submitted publications go: the policies registered in
    ``publication.states.POLICIES`` (the assembly registers the approval engine's)."""

    NONE = "none"  # approved as submitted
    ROUTED = "routed"  # routed through the brand's approval policies (approval package)


class ReportingLine(StrEnum):
    """Where the community manager reports: it decides approvals and what reports show."""

    MARKETING = "marketing"
    COMMUNICATION = "communication"
    PRESS_RELATIONS = "press_relations"
    MANAGEMENT = "management"


class EditorialCharter(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The *charte rédactionnelle*: the brand speaks, never the community manager."""

    tone: Text = ""
    hashtags_allowed: bool = True
    max_hashtags: Annotated[int, msgspec.Meta(ge=0, le=30)] | None = None
    emoji_allowed: bool = True
    humour_allowed: bool = True
    words_to_avoid: Annotated[list[Word], msgspec.Meta(max_length=500)] = []


class CharterClause(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    number: Annotated[int, msgspec.Meta(ge=1, le=999)]
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class CommunityCharter(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The *charte de modération*: a removal cites the clause that justifies it."""

    clauses: Annotated[list[CharterClause], msgspec.Meta(max_length=200)] = []


class NetworkObjective(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    objectives: Annotated[list[Text], msgspec.Meta(max_length=50)] = []
    target_audience: Text = ""
    kpis: Annotated[list[Word], msgspec.Meta(max_length=50)] = []


class BrandCreate(Input):
    name: Name
    slug: Slug
    timezone: TimeZone
    locale: Locale = Locale.FR
    reporting_line: ReportingLine = ReportingLine.COMMUNICATION
    editorial_charter: EditorialCharter = msgspec.field(default_factory=EditorialCharter)
    community_charter: CommunityCharter = msgspec.field(default_factory=CommunityCharter)
    network_objectives: dict[NetworkName, NetworkObjective] = {}
    publish_grace_minutes: GraceMinutes = 60


class BrandUpdate(Input):
    """Only the fields present change."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    slug: Slug | msgspec.UnsetType = msgspec.UNSET
    timezone: TimeZone | msgspec.UnsetType = msgspec.UNSET
    locale: Locale | msgspec.UnsetType = msgspec.UNSET
    reporting_line: ReportingLine | msgspec.UnsetType = msgspec.UNSET
    editorial_charter: EditorialCharter | msgspec.UnsetType = msgspec.UNSET
    community_charter: CommunityCharter | msgspec.UnsetType = msgspec.UNSET
    network_objectives: dict[NetworkName, NetworkObjective] | msgspec.UnsetType = msgspec.UNSET
    publish_grace_minutes: GraceMinutes | msgspec.UnsetType = msgspec.UNSET
    archived: bool | msgspec.UnsetType = msgspec.UNSET


class BrandOut(Output):
    id: uuid.UUID
    name: str
    slug: str
    timezone: str
    locale: Locale
    reporting_line: ReportingLine
    editorial_charter: EditorialCharter
    community_charter: CommunityCharter
    network_objectives: dict[str, NetworkObjective]
    publish_grace_minutes: int
    approval_policy: ApprovalPolicyName
    archived: bool
    archived_at: datetime | None
    # The crisis under way (GET /brands/{id}/crisis); null: the brand speaks normally.
    crisis_id: uuid.UUID | None
    created_at: datetime
    # What an edit sends in If-Match (the ETag its GET answers with), so a list can edit.
    etag: str

    @classmethod
    def of(cls, b: Brand) -> BrandOut:
        return cls(
            etag=etag(b.version),
            id=b.id,
            name=b.name,
            slug=b.slug,
            timezone=b.timezone,
            locale=Locale(b.locale),
            reporting_line=ReportingLine(b.reporting_line),
            editorial_charter=msgspec.convert(b.editorial_charter, EditorialCharter),
            community_charter=msgspec.convert(b.community_charter, CommunityCharter),
            network_objectives=msgspec.convert(b.network_objectives, dict[str, NetworkObjective]),
            publish_grace_minutes=b.publish_grace_minutes,
            approval_policy=ApprovalPolicyName(b.approval_policy),
            archived=b.archived_at is not None,
            archived_at=b.archived_at,
            crisis_id=b.crisis_id,
            created_at=b.created_at,
        )


class BrandPage(Output):
    items: list[BrandOut]
    next_cursor: str | None
