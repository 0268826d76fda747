"""Routing and steps as a table of cases: which policy a publication goes through, and which
of its steps apply, from what the publication is (pure functions, no database)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from agency.approval.models import ApprovalPolicy
from agency.approval.routing import Facts, applies, content_hash, matches, route
from agency.publication.models import Variant


def policy(name: str, priority: int = 100, default: bool = False, **conditions: Any) -> Any:
    return ApprovalPolicy(
        id=uuid.uuid4(),
        name=name,
        priority=priority,
        is_default=default,
        conditions=conditions,
        steps=[],
    )


# A brand of the practice: press releases to the PR lead then general management; marketing
# offers with a link to marketing; videos and the launch campaign to management; Instagram
# stories of the community manager need no one. Everything else: the default.
POLICIES = [
    policy("Press", 10, reporting_lines=["press_relations"]),
    policy("Marketing offers", 20, reporting_lines=["marketing"], has_link=True),
    policy("Video", 30, has_video=True),
    policy("Launch", 40, campaigns=["launch-2027"], tags=["product"]),
    policy("Autonomous Instagram", 50, networks=["instagram"], has_link=False),
    policy("Default", default=True),
]

ROUTES = [
    # (what the publication is, the policy it goes through, why)
    (Facts(reporting_line="press_relations"), "Press", "reporting_lines=press_relations"),
    (
        Facts(reporting_line="press_relations", has_video=True),
        "Press",
        "reporting_lines=press_relations",
    ),
    (
        Facts(reporting_line="marketing", has_link=True),
        "Marketing offers",
        "reporting_lines=marketing; has_link=true",
    ),
    (Facts(reporting_line="marketing"), "Default", "default"),
    (Facts(reporting_line="communication", has_video=True), "Video", "has_video=true"),
    (
        Facts(campaign="launch-2027", tags=frozenset({"product", "b2b"})),
        "Launch",
        "campaigns=launch-2027; tags=product",
    ),
    (Facts(campaign="launch-2027"), "Default", "default"),  # every condition must hold
    (Facts(tags=frozenset({"product"})), "Default", "default"),
    (
        Facts(networks=frozenset({"instagram"})),
        "Autonomous Instagram",
        "networks=instagram; has_link=false",
    ),
    (Facts(networks=frozenset({"instagram"}), has_link=True), "Default", "default"),
    (
        Facts(networks=frozenset({"instagram", "x"})),
        "Autonomous Instagram",
        "networks=instagram; has_link=false",
    ),
    (Facts(reporting_line="management"), "Default", "default"),
]


@pytest.mark.parametrize(("facts", "expected", "why"), ROUTES)
def test_routing_chooses_the_first_matching_policy_by_priority(
    facts: Facts, expected: str, why: str
) -> None:
    chosen, reason = route(POLICIES, facts)
    assert chosen is not None
    assert (chosen.name, reason) == (expected, why)


def test_without_a_default_an_unmatched_publication_asks_no_one() -> None:
    chosen, reason = route(POLICIES[:-1], Facts(reporting_line="management"))
    assert chosen is None
    assert "no default" in reason


def test_priority_wins_over_order_and_name_breaks_ties() -> None:
    early = policy("B later name", 5, tags=["x"])
    tie = policy("A first name", 5, tags=["x"])
    late = policy("Zero", 50, tags=["x"])
    assert route([late, early, tie], Facts(tags=frozenset({"x"})))[0] is tie


STEP_CASES = [
    # (applies_when, what the publication is, whether the step applies)
    (None, Facts(), True),
    ({}, Facts(reporting_line="marketing"), True),
    ({"has_video": True}, Facts(has_video=True), True),
    ({"has_video": True}, Facts(), False),
    ({"has_link": False}, Facts(has_link=True), False),
    ({"networks": ["linkedin", "x"]}, Facts(networks=frozenset({"x"})), True),
    ({"networks": ["linkedin"]}, Facts(networks=frozenset({"x"})), False),
    ({"reporting_lines": ["press_relations"], "has_video": True}, Facts(has_video=True), False),
    ({"is_reply": True}, Facts(), False),  # no replies before the inbox
    ({"is_reply": False}, Facts(), True),
]


@pytest.mark.parametrize(("when", "facts", "expected"), STEP_CASES)
def test_a_step_applies_only_when_its_condition_holds(
    when: dict[str, Any] | None, facts: Facts, expected: bool
) -> None:
    assert applies({"name": "s", "applies_when": when}, facts) is expected
    assert matches(when, facts) is expected


def _variant(channel: uuid.UUID, **content: Any) -> Variant:
    fields = {
        "text": "Bonjour",
        "link": None,
        "title": None,
        "first_comment": None,
        "options": {},
        "media_ids": [],
        **content,
    }
    return Variant(channel_id=channel, **fields)


@pytest.mark.parametrize(
    "change",
    [
        {"text": "Bonjour !"},
        {"link": "https://example.com"},
        {"title": "Titre"},
        {"first_comment": "Lien en bio"},
        {"options": {"visibility": "unlisted"}},
        {"media_ids": ["01900000-0000-7000-8000-000000000001"]},
    ],
)
def test_the_version_covers_every_part_of_every_variant(change: dict[str, Any]) -> None:
    one, two = uuid.uuid4(), uuid.uuid4()
    before = content_hash([_variant(one), _variant(two)])
    assert content_hash([_variant(two), _variant(one)]) == before  # order does not matter
    assert content_hash([_variant(one), _variant(two, **change)]) != before
    assert content_hash([_variant(one)]) != before  # a channel removed
