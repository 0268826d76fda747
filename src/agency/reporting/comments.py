"""What the inbox says about a period: the tone of the comments and how fast they were answered.

Read from the inbox's own rows (``inbox_messages``), never written here. The inbox triages
each comment into a *kind*; reporting reads a tone from it (docs/reporting.md, "Comment tone
and response time"):

- ``praise`` is positive; ``complaint`` and ``abuse`` are negative; ``question`` and ``other``
  are neutral: a question is a need, not a judgement;
- ``spam`` is no one's opinion of the brand: left out of the tone and of response times,
  as ``abuse`` is of response times (the inbox expects no answer to either).

Response times are the inbox's first-response times (``response_seconds``) of the comments
received in the period that expect an answer: the median, the 90th percentile (nearest
rank), and the share of those with a deadline (the brand's SLA) answered by it; a comment
still unanswered has missed it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agency.reporting.schemas import ResponseOut, ToneOut

TONE_OF_KIND = {
    "praise": "positive",
    "complaint": "negative",
    "abuse": "negative",
    "question": "neutral",
    "other": "neutral",
}
NO_ANSWER_EXPECTED = frozenset({"spam", "abuse"})


@dataclass
class Answering:
    """The comments of one scope that expect an answer."""

    messages: int = 0
    seconds: list[int] = field(default_factory=list)
    with_deadline: int = 0
    within_deadline: int = 0

    def add(
        self, seconds: int | None, due_at: datetime | None, answered_at: datetime | None
    ) -> None:
        self.messages += 1
        if seconds is not None:
            self.seconds.append(seconds)
        if due_at is not None:
            self.with_deadline += 1
            if answered_at is not None and answered_at <= due_at:
                self.within_deadline += 1

    def out(self, network: str | None) -> ResponseOut:
        ordered = sorted(self.seconds)
        return ResponseOut(
            network=network,
            messages=self.messages,
            answered=len(ordered),
            median_seconds=float(statistics.median(ordered)) if ordered else None,
            p90_seconds=float(nearest_rank(ordered, 0.9)) if ordered else None,
            within_sla=self.within_deadline / self.with_deadline if self.with_deadline else None,
        )


def nearest_rank(ordered: Sequence[int], q: float) -> int:
    """The smallest value with at least ``q`` of the values at or below it."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def comment_figures(rows: Sequence[Any]) -> tuple[ToneOut, ResponseOut, list[ResponseOut]]:
    """From ``(network, kind, response_seconds, due_at, answered_at)`` rows: the tone counts,
    the brand's response times and each network's."""
    tone = {"positive": 0, "neutral": 0, "negative": 0}
    overall = Answering()
    networks: dict[str, Answering] = {}
    for network, kind, seconds, due_at, answered_at in rows:
        if kind in TONE_OF_KIND:
            tone[TONE_OF_KIND[kind]] += 1
        if kind in NO_ANSWER_EXPECTED:
            continue
        overall.add(seconds, due_at, answered_at)
        networks.setdefault(network, Answering()).add(seconds, due_at, answered_at)
    return (
        ToneOut(**tone),
        overall.out(None),
        [networks[name].out(name) for name in sorted(networks)],
    )
