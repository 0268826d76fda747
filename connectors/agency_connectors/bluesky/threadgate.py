"""Hiding replies: the thread gate record of the thread's root post.

An ``app.bsky.feed.threadgate`` record lives in the repository of the thread's root post,
under the same record key, and names the root in ``post``. Its ``hiddenReplies`` (at most
300 at:// URIs) are the replies the author hid; ``allow`` says who may reply, and must be
kept as it is: absent means everyone, an empty list means no one
(https://github.com/bluesky-social/atproto/blob/main/lexicons/app/bsky/feed/threadgate.json).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agency.connector.errors import Refused

THREADGATE = "app.bsky.feed.threadgate"
MAX_HIDDEN = 300  # the lexicon's maxLength of hiddenReplies


def with_reply(
    gate: Mapping[str, Any] | None, post_uri: str, reply_uri: str, hidden: bool, now: str
) -> dict[str, Any] | None:
    """The gate with ``reply_uri`` hidden (or shown again); None when it already is."""
    listed = [uri for uri in (gate or {}).get("hiddenReplies") or () if isinstance(uri, str)]
    if (reply_uri in listed) == hidden:
        return None
    if hidden:
        if len(listed) >= MAX_HIDDEN:
            raise Refused(
                f"Bluesky hides at most {MAX_HIDDEN} replies in a thread; show one of the hidden "
                "replies again (or delete it) before hiding another."
            )
        listed.append(reply_uri)
    else:
        listed.remove(reply_uri)
    fresh = {"$type": THREADGATE, "post": post_uri, "createdAt": now}
    return {**(gate or fresh), "hiddenReplies": listed}
