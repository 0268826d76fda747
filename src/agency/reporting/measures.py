"""The common measures: a network's answer mapped to them, checked, and added up.

Every network names its counters its own way; the connectors already map them to
:class:`~agency.connector.types.PostMetrics` (``likes`` is what this product calls
reactions, ``clicks`` link clicks). A counter the network does not give stays ``None``:
reports say "not available" rather than show a zero nobody measured.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agency.connector.types import AccountMetrics, PostMetrics
from agency.reporting.models import INTERACTION_MEASURES, POST_MEASURES

# Beyond this, a count is not a count (no post was ever seen a trillion times).
IMPLAUSIBLE = 10**12


@dataclass(frozen=True)
class Measured:
    """One pull's figures, mapped to the common measures (``None``: not given)."""

    values: Mapping[str, int | None]
    raw: Mapping[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> int | None:
        return self.values.get(name)


def from_post(metrics: PostMetrics) -> Measured:
    return Measured(
        {
            "impressions": metrics.impressions,
            "reach": metrics.reach,
            "reactions": metrics.likes,
            "comments": metrics.comments,
            "shares": metrics.shares,
            "saves": metrics.saves,
            "link_clicks": metrics.clicks,
            "video_views": metrics.video_views,
        },
        dict(metrics.raw),
    )


def from_account(metrics: AccountMetrics) -> Measured:
    return Measured({"followers": metrics.followers}, dict(metrics.raw))


def nonsense(measured: Measured) -> str | None:
    """Why an answer cannot be believed (kept out of the rollups), or None."""
    for name, value in measured.values.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{name} is not a whole number ({value!r})"
        if value < 0:
            return f"{name} is negative ({value})"
        if value >= IMPLAUSIBLE:
            return f"{name} is implausibly large ({value})"
    return None


def interactions(values: Mapping[str, int | None]) -> int | None:
    """Reactions + comments + shares + saves, of those given; None when none is."""
    given = [values.get(name) for name in INTERACTION_MEASURES]
    present = [v for v in given if v is not None]
    return sum(present) if present else None


def latest(old: Mapping[str, int | None], new: Mapping[str, int | None]) -> dict[str, int | None]:
    """A post's figures after a pull: the new values, the old ones where none came (a
    network that stops giving a counter does not make it fall to nothing)."""
    return {
        name: new.get(name) if new.get(name) is not None else old.get(name)
        for name in POST_MEASURES
    }


def contribution(values: Mapping[str, int | None]) -> dict[str, int | None]:
    """What one post adds to its day's rollup: its measures, its interactions, and its
    interactions again when it gives reach (the engagement rate by reach counts only those)."""
    total = interactions(values)
    return {
        **{name: values.get(name) for name in POST_MEASURES},
        "interactions": total,
        "reach_interactions": total if values.get("reach") is not None else None,
    }


def delta(old: Mapping[str, int | None], new: Mapping[str, int | None]) -> dict[str, int | None]:
    """What a rollup adds when a post's contribution goes from ``old`` to ``new``; ``None``
    where the post gives nothing (the rollup's NULL, "not available", stays as it is)."""
    return {
        name: None
        if new.get(name) is None and old.get(name) is None
        else (new.get(name) or 0) - (old.get(name) or 0)
        for name in new
    }
