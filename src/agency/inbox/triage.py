"""Triage of a message: who wrote it (origin), what it is (type), and by when it is answered.

Plain rules a community manager can read and correct, each label stored with its why:

- **origin**: the brand's lists of known handles first (``@jdupont`` is a journalist), then
  the brand's words per origin found in the message ("rédaction" -> journalist), else
  ``unknown``. A person may override it; the override is kept and says who set it.
- **type**: the brand's own words per type first, then the built-in words below, tried in
  the order abuse, spam, complaint, question, praise; else ``other``.
- **deadline** (SLA): the shortest of the brand's deadline for the message's network, for
  its origin, and its default; none for spam and abuse (no answer is expected).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import regex

ORIGINS = ("customer", "prospect", "blogger", "influencer", "journalist", "troll", "unknown")
KINDS = ("question", "complaint", "praise", "spam", "abuse", "other")
STATUSES = ("new", "assigned", "waiting", "answered", "closed")
# The statuses of a message still waiting for the brand: the deadline runs.
OPEN = ("new", "assigned", "waiting")
NO_ANSWER_EXPECTED = ("spam", "abuse")

# The defaults an agency changes per brand (docs/inbox.md).
DEFAULT_SLA_MINUTES = 240
DEFAULT_NETWORK_SLA = {"x": 60}
DEFAULT_ORIGIN_SLA = {"journalist": 30}

# Built-in words per type, French and English, in the order they are tried. Short on
# purpose: a brand adds its own (``type_keywords``), which are tried first.
BUILT_IN_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "abuse",
        (
            "connard",
            "connasse",
            "salope",
            "abruti",
            "idiot",
            "crétin",
            "idiots",
            "moron",
            "stupid",
            "bitch",
            "asshole",
            "shut up",
            "ta gueule",
        ),
    ),
    (
        "spam",
        (
            "crypto",
            "bitcoin",
            "forex",
            "follow back",
            "followback",
            "dm me",
            "check my profile",
            "gagnez de l'argent",
            "earn money",
            "promo code",
            "free followers",
            "abonnez-vous à mon",
        ),
    ),
    (
        "complaint",
        (
            "déçu",
            "déçue",
            "décevant",
            "remboursement",
            "rembourser",
            "arnaque",
            "scandale",
            "inadmissible",
            "jamais reçu",
            "toujours pas reçu",
            "cassé",
            "cassée",
            "en panne",
            "problème",
            "réclamation",
            "nul",
            "honte",
            "disappointed",
            "refund",
            "scam",
            "broken",
            "never received",
            "not received",
            "problem",
            "complaint",
            "worst",
            "terrible",
        ),
    ),
    (
        "question",
        (
            "comment",
            "pourquoi",
            "quand",
            "combien",
            "est-ce que",
            "how",
            "why",
            "when",
            "where",
            "what",
            "which",
            "can i",
            "could you",
            "is there",
        ),
    ),
    (
        "praise",
        (
            "merci",
            "bravo",
            "génial",
            "géniale",
            "super",
            "top",
            "j'adore",
            "adore",
            "magnifique",
            "parfait",
            "love",
            "thanks",
            "thank you",
            "great",
            "awesome",
            "amazing",
            "perfect",
        ),
    ),
)
URL = regex.compile(r"https?://\S+")


@dataclass(frozen=True)
class Label:
    value: str
    why: str


def _has_word(text: str, word: str) -> bool:
    """``word`` in ``text`` as a whole word, its plural or feminine too ("abrutis")."""
    folded = word.casefold().strip()
    if not folded:
        return False
    pattern = r"(?<!\w)" + regex.escape(folded) + r"(?:e|s|es)?(?!\w)"
    return regex.search(pattern, text) is not None


def _handle(value: str | None) -> str:
    return (value or "").strip().lstrip("@").casefold()


def origin_of(
    rules: Mapping[str, Any], author_id: str | None, author_name: str | None, text: str
) -> Label:
    """The origin by the brand's handle lists, then its words; else unknown."""
    author = {_handle(author_id), _handle(author_name)} - {""}
    for origin in ORIGINS:
        for handle in (rules.get("handles") or {}).get(origin) or []:
            if _handle(handle) in author:
                return Label(origin, f"@{_handle(handle)} is on the brand's {origin} list.")
    folded = text.casefold()
    for origin in ORIGINS:
        for word in (rules.get("origin_keywords") or {}).get(origin) or []:
            if _has_word(folded, word):
                return Label(origin, f"The message says '{word}' (the brand's {origin} words).")
    return Label("unknown", "No handle list or word of the brand matches.")


def kind_of(rules: Mapping[str, Any], text: str) -> Label:
    """The type by the brand's words, then the built-in words; a question mark is a
    question; links with nothing else are spam."""
    folded = text.casefold()
    for kind in KINDS:
        for word in (rules.get("type_keywords") or {}).get(kind) or []:
            if _has_word(folded, word):
                return Label(kind, f"The message says '{word}' (the brand's {kind} words).")
    for kind, words in BUILT_IN_KINDS:
        for word in words:
            if _has_word(folded, word):
                return Label(kind, f"The message says '{word}' (built-in {kind} words).")
        if kind == "spam" and URL.search(text) and not URL.sub("", text).strip():
            return Label("spam", "The message is only a link.")
        if kind == "question" and "?" in text:
            return Label("question", "The message asks something (a question mark).")
    return Label("other", "No rule matches.")


def sla_minutes(rules: Mapping[str, Any], network: str, origin: str) -> int:
    """The shortest deadline that applies: the network's, the origin's, the default."""
    sla = rules.get("sla") or {}
    networks = {**DEFAULT_NETWORK_SLA, **(sla.get("networks") or {})}
    origins = {**DEFAULT_ORIGIN_SLA, **(sla.get("origins") or {})}
    candidates = [int(sla.get("default_minutes") or DEFAULT_SLA_MINUTES)]
    if network in networks:
        candidates.append(int(networks[network]))
    if origin in origins:
        candidates.append(int(origins[origin]))
    return min(candidates)


def due_at(
    rules: Mapping[str, Any], network: str, origin: str, kind: str, received_at: datetime
) -> datetime | None:
    if kind in NO_ANSWER_EXPECTED:
        return None
    return received_at + timedelta(minutes=sla_minutes(rules, network, origin))


def effective_sla(rules: Mapping[str, Any]) -> dict[str, Any]:
    """The brand's deadlines with the defaults filled in, as the API shows them."""
    sla = rules.get("sla") or {}
    return {
        "default_minutes": int(sla.get("default_minutes") or DEFAULT_SLA_MINUTES),
        "networks": {**DEFAULT_NETWORK_SLA, **(sla.get("networks") or {})},
        "origins": {**DEFAULT_ORIGIN_SLA, **(sla.get("origins") or {})},
    }


# -- saved replies ---------------------------------------------------------------------------

PLACEHOLDER = regex.compile(r"\{(\w+)\}")
# Anything in braces, to refuse what is not a known placeholder ("{author.__class__}").
BRACED = regex.compile(r"\{([^{}]*)\}")
PLACEHOLDERS = ("author", "first_name", "brand")


def unknown_placeholders(text: str) -> list[str]:
    return sorted({name for name in BRACED.findall(text) if name not in PLACEHOLDERS})


def first_name(author_name: str | None) -> str:
    """The first word of the author's display name (a handle stays as it is)."""
    name = (author_name or "").strip().lstrip("@")
    return name.split()[0] if name else ""


def render(text: str, values: Mapping[str, str]) -> str:
    """The saved reply with its placeholders filled in; only the known names are replaced
    (no attribute access, no format specification: a template is not code)."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def placeholder_values(
    author_name: str | None, brand_name: str, given: Mapping[str, str]
) -> dict[str, str]:
    values = {
        "author": f"@{(author_name or '').lstrip('@')}" if author_name else "",
        "first_name": first_name(author_name),
        "brand": brand_name,
    }
    values.update({k: v for k, v in given.items() if k in PLACEHOLDERS})
    return values


def words(values: Sequence[str]) -> list[str]:
    return [v.strip() for v in values if v.strip()]
