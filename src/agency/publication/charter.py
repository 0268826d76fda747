"""The brand's editorial charter, checked on every variant: the brand speaks, not the
community manager. Tone and humour need a human; hashtags, emoji and words to avoid do not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import regex

from agency.connector.base import Problem, hashtags

EMOJI = regex.compile(r"\p{Extended_Pictographic}")


def charter_problems(charter: Mapping[str, Any], text: str) -> list[Problem]:
    problems: list[Problem] = []
    tags = hashtags(text)
    if tags and charter.get("hashtags_allowed") is False:
        problems.append(
            Problem("text", "The brand's charter allows no hashtags.", "charter_hashtags")
        )
    limit = charter.get("max_hashtags")
    if tags and limit is not None and len(tags) > limit and charter.get("hashtags_allowed", True):
        problems.append(
            Problem(
                "text",
                f"{len(tags)} hashtags; the brand's charter allows at most {limit}.",
                "charter_too_many_hashtags",
            )
        )
    if charter.get("emoji_allowed") is False and EMOJI.search(text):
        problems.append(Problem("text", "The brand's charter allows no emoji.", "charter_emoji"))
    folded = text.casefold()
    for word in charter.get("words_to_avoid") or []:
        pattern = r"(?<!\w)" + regex.escape(word.casefold()) + r"(?!\w)"
        if regex.search(pattern, folded):
            problems.append(
                Problem(
                    "text",
                    f"'{word}' is on the brand's list of words to avoid.",
                    "charter_word",
                )
            )
    return problems
