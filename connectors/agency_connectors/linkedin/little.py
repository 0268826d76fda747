"""LinkedIn's "little" text format, in which post commentary is written and read back.

https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/little-text-format:
``| { } @ [ ] ( ) < > # \\ * _ ~`` are reserved and must be escaped with a backslash to be
plain text. LinkedIn does not refuse an unescaped one: it cuts the post at that character and
answers 201, so a post would go out half-written. A ``#`` opening a word stays unescaped so
that hashtags keep working; LinkedIn reads them back as ``{hashtag|\\#|word}`` templates.
"""

from __future__ import annotations

import re

RESERVED = frozenset("|{}@[]()<>#\\*_~")
HASHTAG_START = re.compile(r"#\w", re.UNICODE)
HASHTAG_TEMPLATE = re.compile(r"\{hashtag\|\\?#\|([^}]*)\}")
MENTION = re.compile(r"@\[([^\]]*)\]\([^)]*\)")
ESCAPED = re.compile(r"\\(.)", re.DOTALL)


def escape(text: str) -> str:
    """``text`` as little plain text; hashtags (``#`` at a word start) are kept as hashtags."""
    out = []
    for index, char in enumerate(text):
        if char in RESERVED:
            before = text[index - 1] if index else " "
            hashtag = char == "#" and before.isspace() and HASHTAG_START.match(text, index)
            if not hashtag:
                out.append("\\")
        out.append(char)
    return "".join(out)


def plain(little: str) -> str:
    """What a reader sees of little text: templates and mentions as text, escapes removed."""
    text = HASHTAG_TEMPLATE.sub(r"#\1", little)
    text = MENTION.sub(r"@\1", text)
    return ESCAPED.sub(r"\1", text)
