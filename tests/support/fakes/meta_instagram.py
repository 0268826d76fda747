"""The Instagram publishing half of the fake Graph API (``meta.GraphFake``).

Held to these reference pages:

- containers and their ``status_code`` (IN_PROGRESS -> FINISHED, or ERROR; EXPIRED when not
  published within 24 hours):
  https://developers.facebook.com/docs/instagram-platform/content-publishing,
  https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media,
  https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-container
- ``media_publish`` and the 50 posts per rolling 24 hours of ``content_publishing_limit``:
  https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/content_publishing_limit
- error codes (9/2207042 limit reached, 9007/2207027 not ready, 9004/2207052 unreachable URL):
  https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/error-codes

Instagram media cannot be deleted through the API: there is no such route.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.fakes.meta_base import (
    EDGE_PAGING,
    Call,
    GraphError,
    MetaFake,
    invalid_param,
    not_ready,
)

CONTAINER_PARAMS = frozenset(
    [
        "image_url",
        "video_url",
        "media_type",
        "is_carousel_item",
        "caption",
        "children",
        "alt_text",
        "location_id",
        "user_tags",
        "cover_url",
        "share_to_feed",
        "thumb_offset",
        "collaborators",
        "audio_name",
    ]
)
DAY = timedelta(hours=24)


def web_url(url: str) -> bool:
    return url.startswith(("http://", "https://"))


class InstagramPublishing(MetaFake):
    """Containers, ``media_publish``, the publishing quota and an account's media list."""

    def __init__(self, version: str, client_id: str, client_secret: str) -> None:
        super().__init__(version, client_id, client_secret)
        self.processing_outcome = "FINISHED"  # or "ERROR"
        self.quota_total = 50
        self.routes.update(
            {
                ("ig_user", "POST", "media"): self.create_container,
                ("ig_user", "POST", "media_publish"): self.publish_container,
                ("ig_user", "GET", "media"): self.ig_media,
                ("ig_user", "GET", "content_publishing_limit"): self.publishing_limit,
                ("ig_container", "GET", None): self.container_status,
            }
        )

    def allow(self, call: Call, *, page_token: bool) -> None:
        """Page nodes want that Page's token; Instagram nodes also take the user's token."""
        token, page = call.token, call.node.get("_page")
        if token.kind == "page" and token.subject == page:
            return
        if token.kind == "user" and not page_token:
            return
        raise GraphError(403, 200, "(#200) This call requires the Page access token of its Page")

    def for_page(self, call: Call) -> None:
        self.allow(call, page_token=not call.node["_node"].startswith("ig_"))

    def create_container(self, call: Call) -> dict[str, Any]:
        self.accept(call.params, optional=CONTAINER_PARAMS)
        self.allow(call, page_token=False)
        p, user = call.params, call.node
        kind = p.get("media_type", "IMAGE")
        item = p.get("is_carousel_item") == "true"
        children: list[str] = []
        if kind == "CAROUSEL":
            children = p.get("children", "").split(",") if p.get("children") else []
            if not 2 <= len(children) <= 10 or any(
                self.objects.get(c, {}).get("_item") is not True for c in children
            ):
                raise invalid_param("children must list 2 to 10 carousel item containers")
        elif kind in ("REELS", "VIDEO"):
            if kind == "VIDEO" and not item:
                raise invalid_param("The VIDEO media type is only for carousel items; use REELS")
            self.require_url(p.get("video_url"), "video_url")
        elif kind == "IMAGE" and "media_type" not in p:
            self.require_url(p.get("image_url"), "image_url")
        else:
            raise invalid_param(f"media_type {kind} is not supported")
        container = self.add(
            "ig_container", _page=user["_page"], _user=user["id"], _item=item, _params=dict(p)
        )
        container |= {
            "_polls": self.processing_polls,
            "_status": "IN_PROGRESS",
            "_children": children,
        }
        return {"id": container["id"]}

    @staticmethod
    def require_url(url: str | None, name: str) -> None:
        if not url:
            raise invalid_param(f"The parameter {name} is required")
        if not web_url(url):
            raise GraphError(
                400,
                9004,
                "Only photo or video can be accepted as media type.",
                subcode=2207052,
                user_msg="The media could not be fetched from this URI.",
            )

    def container_status(self, call: Call) -> dict[str, Any]:
        self.accept(call.params, optional=("fields",))
        self.allow(call, page_token=False)
        container = call.node
        if container["_status"] == "IN_PROGRESS":
            if container["_polls"] > 0:
                container["_polls"] -= 1
            else:
                container["_status"] = self.processing_outcome
        container["status_code"] = container["_status"]
        container["status"] = "Error: 2207026" if container["_status"] == "ERROR" else "Finished"
        return self.render(container, call.params.get("fields"), default="status_code")

    def expire_container(self, container_id: str) -> None:
        """A container not published within 24 hours: ``status_code`` EXPIRED, and
        ``media_publish`` refuses it (ig-container reference)."""
        self.objects[container_id]["_status"] = "EXPIRED"

    def published_last_day(self, user: dict[str, Any]) -> int:
        floor = datetime.now(UTC) - DAY
        return len([when for when in user["_sent"] if when > floor])

    def publish_container(self, call: Call) -> dict[str, Any]:
        self.accept(call.params, ("creation_id",))
        self.allow(call, page_token=False)
        user = call.node
        container = self.objects.get(call.params["creation_id"])
        if (
            not container
            or container["_node"] != "ig_container"
            or container["_user"] != user["id"]
        ):
            raise invalid_param("creation_id must be a container of this Instagram account")
        if container["_status"] != "FINISHED" or container["_item"]:
            raise not_ready()
        if self.published_last_day(user) >= self.quota_total:
            raise GraphError(
                400,
                9,
                "Application request limit reached",
                subcode=2207042,
                user_msg="You reached maximum number of posts that is allowed to be published "
                "by Content Publishing API.",
            )
        params = container["_params"]
        kind = params.get("media_type", "IMAGE")
        media = self.add(
            "ig_media",
            _page=user["_page"],
            _user=user["id"],
            caption=params.get("caption"),
            username=user["username"],
            media_type={"CAROUSEL": "CAROUSEL_ALBUM", "REELS": "VIDEO"}.get(kind, kind),
            media_product_type="REELS" if kind == "REELS" else "FEED",
        )
        media["permalink"] = f"https://www.instagram.com/p/{media['id']}/"
        container["_status"] = "PUBLISHED"
        user["_sent"].append(datetime.now(UTC))
        user["media_count"] += 1
        return {"id": media["id"]}

    def publishing_limit(self, call: Call) -> dict[str, Any]:
        self.accept(call.params, optional=("fields", "since"))
        self.allow(call, page_token=False)
        fields = (call.params.get("fields") or "quota_usage").split(",")
        if set(fields) - {"quota_usage", "config"}:
            raise invalid_param("fields may be quota_usage and config")
        answer = {
            "quota_usage": self.published_last_day(call.node),
            "config": {"quota_total": self.quota_total, "quota_duration": 86400},
        }
        return {"data": [{k: v for k, v in answer.items() if k in fields}]}

    def ig_media(self, call: Call) -> dict[str, Any]:
        self.accept(call.params, optional=(*EDGE_PAGING, "since", "until"))
        self.allow(call, page_token=False)
        media = self.since_filter(
            self.of_kind("ig_media", _user=call.node["id"]), call.params, "_at"
        )
        items = [self.render(m, call.params.get("fields")) for m in reversed(media)]
        return self.listing(items, call.params)
