"""Recognising our own post among an account's recent posts, by its content.

After an unknown outcome (a timeout mid-publish) the pipeline asks the network whether the
post went out. Networks give the text back altered: X wraps links in t.co and escapes
``&``; Mastodon returns HTML, shortens links for display and drops the domain of local
mentions. Both sides are reduced to the same plain form before comparing.
"""

from __future__ import annotations

import html
import re
import unicodedata
from html.parser import HTMLParser

URL = re.compile(r"https?://\S+", re.IGNORECASE)
REMOTE_MENTION = re.compile(r"(?<![\w/])@(\w+)@[\w.-]+\w", re.UNICODE)
SPACES = re.compile(r"\s+")


def normalised(text: str) -> str:
    """``text`` reduced to what survives a round trip through any network."""
    text = unicodedata.normalize("NFC", html.unescape(text))
    text = URL.sub("<link>", text)
    text = REMOTE_MENTION.sub(r"@\1", text)
    return SPACES.sub(" ", text).strip().casefold()


def same_text(ours: str, theirs: str) -> bool:
    return bool(normalised(ours)) and normalised(ours) == normalised(theirs)


class _PlainText(HTMLParser):
    BREAKS = frozenset({"br", "p"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BREAKS and self.parts:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(markup: str) -> str:
    """The text of an HTML fragment, paragraphs and line breaks kept as newlines.

    Mastodon splits a link into invisible and visible spans; their text joined is the
    full address again.
    """
    parser = _PlainText()
    parser.feed(markup)
    parser.close()
    return "".join(parser.parts).strip()
