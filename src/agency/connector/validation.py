"""Checks every network shares, driven by its :class:`Limits`: all problems, not the first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agency.connector.types import Limits, Post, Problem, hashtags

if TYPE_CHECKING:
    from agency.connector.base import Connector


def _mb(size: int) -> str:
    return f"{size / 1_048_576:g} MB"


def common_problems(connector: type[Connector], post: Post) -> list[Problem]:
    limits, name = connector.limits, connector.display_name
    problems: list[Problem] = []
    length = connector.count_text(post.text)
    if length > limits.max_text_length:
        problems.append(
            Problem(
                "text",
                f"The text is {length} characters as {name} counts them; "
                f"the limit is {limits.max_text_length}.",
                "text_too_long",
            )
        )
    tags = hashtags(post.text)
    if limits.max_hashtags is not None and len(tags) > limits.max_hashtags:
        problems.append(
            Problem(
                "text",
                f"{len(tags)} hashtags; {name} allows at most {limits.max_hashtags}.",
                "too_many_hashtags",
            )
        )
    if limits.requires_media and not post.media:
        problems.append(Problem("media", f"{name} needs at least one image or video.", "no_media"))
    if len(post.media) > limits.max_media:
        problems.append(
            Problem(
                "media",
                f"{len(post.media)} media files; {name} takes at most {limits.max_media}.",
                "too_many_media",
            )
        )
    kinds = {m.kind for m in post.media}
    if "video" in kinds and len(kinds) > 1 and not limits.mixed_media:
        problems.append(
            Problem("media", f"{name} does not mix a video with images.", "mixed_media")
        )
    for index, media in enumerate(post.media):
        problems += _media_problems(limits, name, index, media)
    # A first comment is posted with the post (FIRST_COMMENT) or as a reply right after it.
    able = {str(c) for c in connector.capabilities} & {"first_comment", "reply"}
    if post.first_comment and not able:
        problems.append(
            Problem("first_comment", f"{name} has no first comment.", "no_first_comment")
        )
    elif post.first_comment:
        limit = limits.max_comment_length or limits.max_text_length
        length = connector.count_text(post.first_comment)
        if length > limit:
            problems.append(
                Problem(
                    "first_comment",
                    f"The first comment is {length} characters as {name} counts them; "
                    f"the limit is {limit}.",
                    "first_comment_too_long",
                )
            )
    return problems


def _media_problems(limits: Limits, name: str, index: int, media: Any) -> list[Problem]:
    where = f"media.{index}"
    rule = limits.media.get(media.kind)
    if rule is None:
        return [Problem(where, f"{name} does not take {media.kind} files.", "media_kind")]
    problems = []
    if media.mime_type not in rule.mime_types:
        accepted = ", ".join(sorted(rule.mime_types))
        problems.append(
            Problem(where, f"{media.mime_type} is not accepted ({accepted}).", "media_type")
        )
    if media.size > rule.max_bytes:
        problems.append(
            Problem(
                where,
                f"The file is {_mb(media.size)}; {name} takes at most {_mb(rule.max_bytes)}.",
                "media_too_large",
            )
        )
    if rule.max_width and media.width and media.width > rule.max_width:
        problems.append(Problem(where, f"Wider than {rule.max_width} px.", "media_too_wide"))
    if rule.max_height and media.height and media.height > rule.max_height:
        problems.append(Problem(where, f"Taller than {rule.max_height} px.", "media_too_tall"))
    duration = media.duration_seconds
    if rule.max_duration_seconds and duration and duration > rule.max_duration_seconds:
        problems.append(
            Problem(
                where,
                f"The video lasts {duration:g} s; the limit is {rule.max_duration_seconds:g} s.",
                "video_too_long",
            )
        )
    if rule.min_duration_seconds and duration and duration < rule.min_duration_seconds:
        problems.append(
            Problem(
                where,
                f"The video lasts {duration:g} s; at least {rule.min_duration_seconds:g} s.",
                "video_too_short",
            )
        )
    return problems


def describe_limits(limits: Limits) -> dict[str, Any]:
    return {
        "max_text_length": limits.max_text_length,
        "text_counting": limits.text_counting,
        "max_media": limits.max_media,
        "media": {
            kind: {
                "mime_types": sorted(rule.mime_types),
                "max_bytes": rule.max_bytes,
                "max_width": rule.max_width,
                "max_height": rule.max_height,
                "max_duration_seconds": rule.max_duration_seconds,
                "min_duration_seconds": rule.min_duration_seconds,
            }
            for kind, rule in sorted(limits.media.items())
        },
        "mixed_media": limits.mixed_media,
        "requires_media": limits.requires_media,
        "max_hashtags": limits.max_hashtags,
        "link_field": limits.link_field,
        "max_posts_per_day": limits.max_posts_per_day,
        "max_comment_length": limits.max_comment_length or limits.max_text_length,
        "notes": list(limits.notes),
    }
