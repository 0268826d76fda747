"""What the AppView's views (app.bsky.*) say, read into comments and metrics.

The shapes are those of the lexicons: app.bsky.feed.getPostThread answers a tree of
``app.bsky.feed.defs#threadViewPost`` (each a ``postView`` and its ``replies``) and, beside
it, the ``threadgateView`` of the thread's root; app.bsky.feed.getPosts answers ``postView``s
with their counters; app.bsky.actor.getProfile a ``profileViewDetailed``;
app.bsky.notification.listNotifications ``notification``s, each a post (``uri``, ``cid``,
``record``) with its ``author`` and ``reason``
(https://github.com/bluesky-social/atproto/tree/main/lexicons/app/bsky).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agency.connector.base import AccountMetrics, Comment, PostMetrics
from agency_connectors.answers import count, parse_time

THREAD_VIEW = "app.bsky.feed.defs#threadViewPost"
POST_COUNTERS = ("likeCount", "repostCount", "replyCount", "quoteCount", "bookmarkCount")
PROFILE_COUNTERS = ("followersCount", "followsCount", "postsCount")


def hidden_replies(answer: Mapping[str, Any]) -> frozenset[str]:
    """The replies the thread's author hid: ``hiddenReplies`` of the root's thread gate."""
    thread = answer.get("thread") or {}
    gate = answer.get("threadgate") or (thread.get("post") or {}).get("threadgate") or {}
    uris = (gate.get("record") or {}).get("hiddenReplies") or ()
    return frozenset(uri for uri in uris if isinstance(uri, str))


def replies(answer: Mapping[str, Any], post_id: str) -> list[Comment]:
    """Every reply under the post, flattened: ``parent_id`` is the post or reply answered.

    Replies the AppView could not show (``notFoundPost``, ``blockedPost``) are left out:
    they carry neither text nor author.
    """
    hidden = hidden_replies(answer)
    found: list[Comment] = []

    def walk(node: Mapping[str, Any], parent: str) -> None:
        for child in node.get("replies") or ():
            post = child.get("post") if child.get("$type") == THREAD_VIEW else None
            if not isinstance(post, dict) or not isinstance(post.get("uri"), str):
                continue
            found.append(_comment(post, post_id, parent, hidden))
            walk(child, post["uri"])

    walk(answer.get("thread") or {}, post_id)
    return found


def _comment(
    post: Mapping[str, Any], post_id: str, parent: str | None, hidden: frozenset[str]
) -> Comment:
    record = post.get("record") or {}
    author = post.get("author") or {}
    return Comment(
        comment_id=post["uri"],
        post_id=post_id,
        text=str(record.get("text") or ""),
        author_id=author.get("did"),
        author_name=author.get("displayName") or author.get("handle"),
        created_at=parse_time(record.get("createdAt")) or parse_time(post.get("indexedAt")),
        parent_id=parent,
        hidden=post["uri"] in hidden,
    )


def mentions(answer: Mapping[str, Any]) -> list[Comment]:
    """The ``mention`` notifications of app.bsky.notification.listNotifications, each the
    root of its own conversation (a reply to the account's post is read in that post's
    thread, by :func:`replies`)."""
    return [
        _comment(n, n["uri"], None, frozenset())
        for n in answer.get("notifications") or []
        if isinstance(n, dict) and n.get("reason") == "mention" and n.get("uri")
    ]


def post_metrics(view: Mapping[str, Any]) -> PostMetrics:
    """Bluesky counts likes, reposts, replies and quotes; it shows no impressions or reach."""
    counters = _counters(view, POST_COUNTERS)
    return PostMetrics(
        likes=counters.get("likeCount"),
        comments=counters.get("replyCount"),
        shares=counters.get("repostCount"),
        raw=counters,
    )


def account_metrics(profile: Mapping[str, Any]) -> AccountMetrics:
    counters = _counters(profile, PROFILE_COUNTERS)
    return AccountMetrics(
        followers=counters.get("followersCount"),
        following=counters.get("followsCount"),
        posts=counters.get("postsCount"),
        raw=counters,
    )


def _counters(view: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, int]:
    return {name: value for name in names if (value := count(view, name)) is not None}
