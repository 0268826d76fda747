"""Bluesky rich text: grapheme counting and facets (links, mentions, hashtags).

A post's text is plain; links, mentions and tags are *facets* that point at UTF-8 byte
ranges of it (start inclusive, end exclusive), never at character indexes. The patterns
follow the ones Bluesky documents and its own client uses:
https://docs.bsky.app/docs/advanced-guides/post-richtext
https://github.com/bluesky-social/atproto/blob/main/packages/api/src/rich-text/util.ts
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import regex

GRAPHEME = regex.compile(r"\X")

# A URL starts after a non-word character (or the start); a trailing dot, comma or
# bracket that ends a sentence is not part of it.
LINK = regex.compile(
    r"(?:^|(?<=\W))(https?://[-a-zA-Z0-9@:%._+~#=]{1,256}\.[a-zA-Z0-9()]{1,6}\b"
    r"(?:[-a-zA-Z0-9()@:%_+.~#?&/=]*[-a-zA-Z0-9@%_+~#/=])?)"
)
# A handle is a domain name: labels of letters, digits and hyphens, at least one dot.
MENTION = regex.compile(
    r"(?:^|(?<=\W))@((?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+"
    r"[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)"
)
# A tag follows whitespace (or the start), is not only digits, and stops at whitespace
# and at the invisible characters Bluesky's client excludes.
_INVISIBLE = r"\u00AD\u2060\u200A\u200B\u200C\u200D\u20E2"
TAG = regex.compile(
    rf"(?:^|(?<=\s))[#\uFF03]((?!\uFE0F)[^\s{_INVISIBLE}]*[^\d\s\p{{P}}{_INVISIBLE}]+"
    rf"[^\s{_INVISIBLE}]*)"
)
TRAILING_PUNCTUATION = regex.compile(r"\p{P}+$")
MAX_TAG_GRAPHEMES = 64
MAX_TAG_BYTES = 640

FacetKind = Literal["link", "mention", "tag"]


def graphemes(text: str) -> int:
    """User-perceived characters (extended grapheme clusters), as Bluesky counts them."""
    return len(GRAPHEME.findall(text))


def utf8_length(text: str) -> int:
    return len(text.encode("utf-8"))


@dataclass(frozen=True)
class Span:
    """One facet candidate: what it points at and where, in UTF-8 bytes."""

    kind: FacetKind
    value: str  # the URL, the handle (without @), or the tag (without #)
    byte_start: int
    byte_end: int

    def facet(self, feature: dict[str, Any]) -> dict[str, Any]:
        return {
            "index": {"byteStart": self.byte_start, "byteEnd": self.byte_end},
            "features": [feature],
        }


def _span(text: str, kind: FacetKind, value: str, start: int, end: int) -> Span:
    byte_start = utf8_length(text[:start])
    return Span(kind, value, byte_start, byte_start + utf8_length(text[start:end]))


def _links(text: str) -> Iterator[Span]:
    for match in LINK.finditer(text):
        url = match.group(1)
        # "(see https://example.com/a)": a closing bracket with no opening one is prose.
        if url.endswith(")") and url.count("(") < url.count(")"):
            url = url[:-1]
        yield _span(text, "link", url, match.start(1), match.start(1) + len(url))


def _mentions(text: str) -> Iterator[Span]:
    for match in MENTION.finditer(text):
        # The facet covers the "@" too, as Bluesky's client does.
        yield _span(text, "mention", match.group(1).lower(), match.start(1) - 1, match.end(1))


def _tags(text: str) -> Iterator[Span]:
    for match in TAG.finditer(text):
        tag = TRAILING_PUNCTUATION.sub("", match.group(1))
        if not tag or graphemes(tag) > MAX_TAG_GRAPHEMES or utf8_length(tag) > MAX_TAG_BYTES:
            continue
        yield _span(text, "tag", tag, match.start(1) - 1, match.start(1) + len(tag))


def spans(text: str) -> list[Span]:
    """Every link, mention and tag of ``text``, sorted and never overlapping.

    Links win: "@" and "#" inside a URL (an e-mail-like path, a fragment) are part of the
    link, and Bluesky refuses overlapping facets.
    """
    found = list(_links(text))
    for candidate in [*_mentions(text), *_tags(text)]:
        if not any(
            candidate.byte_start < other.byte_end and other.byte_start < candidate.byte_end
            for other in found
        ):
            found.append(candidate)
    return sorted(found, key=lambda span: span.byte_start)


def link_feature(url: str) -> dict[str, Any]:
    return {"$type": "app.bsky.richtext.facet#link", "uri": url}


def mention_feature(did: str) -> dict[str, Any]:
    return {"$type": "app.bsky.richtext.facet#mention", "did": did}


def tag_feature(tag: str) -> dict[str, Any]:
    return {"$type": "app.bsky.richtext.facet#tag", "tag": tag}
