"""A fake Threads API (graph.threads.net), from Meta's reference pages.

- tokens: https://developers.facebook.com/docs/threads/get-started/get-access-tokens-and-permissions
  (the authorization window at ``/oauth/authorize``; the code exchange, ``POST
  /oauth/access_token``, answers ``access_token`` and ``user_id``) and
  https://developers.facebook.com/docs/threads/get-started/long-lived-tokens (``GET
  /access_token?grant_type=th_exchange_token``, ``GET /refresh_access_token?grant_type=
  th_refresh_token``: only a long-lived token is refreshed); both live above ``/v1.0``
- publishing: https://developers.facebook.com/docs/threads/posts,
  https://developers.facebook.com/docs/threads/reference/publishing (``POST /{user}/threads``
  with ``media_type`` TEXT/IMAGE/VIDEO/CAROUSEL, container ``status`` IN_PROGRESS ->
  FINISHED, ``POST /{user}/threads_publish``; 500 characters of text)
- deleting: https://developers.facebook.com/docs/threads/posts/delete-posts
- a user's threads and publishing limit: https://developers.facebook.com/docs/threads/reference/user
- replies (``/replies``, ``/conversation``, ``POST /{reply}/manage_reply`` for top-level replies
  of one's own threads): https://developers.facebook.com/docs/threads/reference/reply-management
- insights: https://developers.facebook.com/docs/threads/insights

Errors follow the Graph conventions of :mod:`tests.support.fakes.meta_base`; the Threads
pages document no usage headers, so none are sent. Publishing a container that is not ready
answers with the code Instagram's container flow documents (9007, subcode 2207027).
"""

from __future__ import annotations

from typing import Any

from tests.support.fakes.meta_base import (
    Call,
    GraphError,
    MetaFake,
    Routes,
    Token,
    bad_client_secret,
    invalid_param,
    not_ready,
)

FIELDS = {
    "threads_user": frozenset(
        {"username", "name", "threads_profile_picture_url", "threads_biography", "is_verified"}
    ),
    "threads_container": frozenset({"status", "error_message"}),
    "threads_media": frozenset(
        {
            "text", "timestamp", "permalink", "media_type", "media_product_type", "username",
            "shortcode", "is_quote_post", "hide_status", "replied_to", "root_post", "is_reply",
            "has_replies", "is_reply_owned_by_me",
        }
    ),
}  # fmt: skip
CONTAINER_PARAMS = (
    "media_type", "text", "image_url", "video_url", "is_carousel_item", "children",
    "reply_to_id", "reply_control", "link_attachment", "alt_text", "allowlisted_country_codes",
    "quote_post_id", "topic_tag", "location_id",
)  # fmt: skip
MEDIA_METRICS = frozenset({"views", "likes", "replies", "reposts", "quotes", "shares"})
USER_METRICS = frozenset(
    {"views", "likes", "replies", "reposts", "quotes", "clicks", "followers_count"}
)
MEDIA_TYPE = {"TEXT": "TEXT_POST", "CAROUSEL": "CAROUSEL_ALBUM"}
LONG_LIVED_SECONDS = 5_183_944


class ThreadsFake(MetaFake):
    """One Threads profile; ``user_token`` is long-lived."""

    node_fields = FIELDS
    dialog_path = "/oauth/authorize"
    send_usage_headers = False

    def __init__(self, version: str = "v1.0", user_token: str = "THAA-user-token") -> None:
        super().__init__(version, "threads-app-id", "threads-app-secret")
        self.followers = 321
        self.user = self.add("threads_user", username="acme", name="Acme Bakery")
        self.oauth.subject = self.user["id"]
        self.user_token = self.issue("user", self.user["id"], value=user_token, long=True)
        routes: Routes = {
            ("threads_user", "GET", None): self.get_node,
            ("threads_user", "POST", "threads"): self.create_container,
            ("threads_user", "POST", "threads_publish"): self.publish,
            ("threads_user", "GET", "threads"): self.threads,
            ("threads_user", "GET", "threads_insights"): self.user_insights,
            ("threads_container", "GET", None): self.container_status,
            ("threads_media", "GET", None): self.get_node,
            ("threads_media", "DELETE", None): self.delete,
            ("threads_media", "GET", "insights"): self.media_insights,
            ("threads_media", "GET", "replies"): self.replies,
            ("threads_media", "GET", "conversation"): self.replies,
            ("threads_media", "POST", "manage_reply"): self.manage_reply,
        }
        self.routes.update(routes)

    def add_reply(self, to: str, text: str, author: str = "grace") -> str:
        """Someone's reply to a thread or to a reply."""
        return str(self.new_media(text, author, reply_to=to)["id"])

    def new_media(self, text: str | None, author: str, **extra: Any) -> dict[str, Any]:
        parent = self.objects.get(extra.pop("reply_to", None) or "")
        media = self.add("threads_media", text=text, username=author, **extra)
        media |= {"shortcode": f"C{media['id']}", "is_reply": parent is not None}
        media["permalink"] = f"https://www.threads.net/@{author}/post/{media['shortcode']}"
        media["_parent"] = parent["id"] if parent else None
        media["_root"] = parent["_root"] if parent else media["id"]
        media["hide_status"] = "NOT_HUSHED"
        return media

    def field_value(self, node: dict[str, Any], name: str, raw: str) -> Any:
        if name == "timestamp":
            return node["_at"].strftime("%Y-%m-%dT%H:%M:%S+0000")
        if name == "replied_to":
            return {"id": node["_parent"]} if node.get("_parent") else None
        if name == "root_post":
            return {"id": node["_root"]}
        return super().field_value(node, name, raw)

    # -- tokens (above the versioned path) ----------------------------------------------------

    def token_endpoint(
        self, method: str, segments: list[str], params: dict[str, str], token: str | None
    ) -> dict[str, Any] | None:
        if segments == ["oauth", "access_token"] and method == "POST":
            required = ("client_id", "client_secret", "code", "grant_type", "redirect_uri")
            self.accept(params, required)
            if params["grant_type"] != "authorization_code":
                raise invalid_param("grant_type must be authorization_code")
            user = self.redeem(params).subject
            return {"access_token": self.issue("user", user), "user_id": user}
        if segments == ["access_token"] and method == "GET":
            self.accept(params, ("grant_type", "client_secret"))
            if params["grant_type"] != "th_exchange_token":
                raise invalid_param("grant_type must be th_exchange_token")
            if params["client_secret"] != self.client_secret:
                raise bad_client_secret()
            return self.long_lived(self.authenticate(token))
        if segments == ["refresh_access_token"] and method == "GET":
            self.accept(params, ("grant_type",))
            if params["grant_type"] != "th_refresh_token":
                raise invalid_param("grant_type must be th_refresh_token")
            current = self.authenticate(token)
            if not current.long_lived:
                raise GraphError(400, 190, "Only long-lived tokens can be refreshed.")
            return self.long_lived(current)
        return None

    def long_lived(self, token: Token) -> dict[str, Any]:
        value = self.issue("user", token.subject, long=True)
        return {"access_token": value, "token_type": "bearer", "expires_in": LONG_LIVED_SECONDS}

    # -- the profile and its threads ------------------------------------------------------------

    def own(self, call: Call) -> None:
        user = self.objects[call.token.subject]
        node = call.node
        if node["_node"] == "threads_user" and node["id"] == user["id"]:
            return
        if node.get("_user") == user["id"] or node.get("username") == user["username"]:
            return
        raise GraphError(400, 10, "(#10) Application does not have permission for this action")

    def get_node(self, call: Call) -> dict[str, Any]:
        self.accept(call.params, optional=("fields",))
        return self.render(call.node, call.params.get("fields"))

    def create_container(self, call: Call) -> dict[str, Any]:
        self.accept(call.params, ("media_type",), CONTAINER_PARAMS)
        self.own(call)
        p = call.params
        kind, text = p["media_type"], p.get("text")
        needs = {"TEXT": "text", "IMAGE": "image_url", "VIDEO": "video_url", "CAROUSEL": "children"}
        if kind not in needs:
            raise invalid_param("media_type must be TEXT, IMAGE, VIDEO or CAROUSEL")
        if not p.get(needs[kind]):
            raise invalid_param(f"The parameter {needs[kind]} is required")
        if text is not None and len(text) > 500:
            raise invalid_param("The text is longer than 500 characters")
        if "link_attachment" in p and kind != "TEXT":
            raise invalid_param("link_attachment is only for text posts")
        if kind == "CAROUSEL":
            children = p["children"].split(",")
            if not 2 <= len(children) <= 20 or any(
                not self.objects.get(c, {}).get("_item") for c in children
            ):
                raise invalid_param("children must list 2 to 20 carousel item containers")
        reply_to = p.get("reply_to_id")
        if reply_to and self.objects.get(reply_to, {}).get("_node") != "threads_media":
            raise invalid_param("reply_to_id must be a Threads media id")
        container = self.add(
            "threads_container",
            _user=call.node["id"],
            _item=p.get("is_carousel_item") == "true",
            _params=dict(p),
            _polls=self.processing_polls,
            status="IN_PROGRESS",
        )
        return {"id": container["id"]}

    def container_status(self, call: Call) -> dict[str, Any]:
        self.accept(call.params, optional=("fields",))
        self.own(call)
        container = call.node
        if container["status"] == "IN_PROGRESS":
            if container["_polls"] > 0:
                container["_polls"] -= 1
            else:
                container["status"] = "FINISHED"
        return self.render(container, call.params.get("fields"), default="status")

    def expire_container(self, container_id: str) -> None:
        """A container not published within 24 hours: ``status`` EXPIRED, and
        ``threads_publish`` refuses it (Threads media container reference)."""
        self.objects[container_id]["status"] = "EXPIRED"

    def publish(self, call: Call) -> dict[str, Any]:
        self.accept(call.params, ("creation_id",))
        self.own(call)
        container = self.objects.get(call.params["creation_id"], {})
        if container.get("_user") != call.node["id"]:
            raise invalid_param("creation_id must be a container of this profile")
        if container["status"] != "FINISHED" or container["_item"]:
            raise not_ready()
        p = container["_params"]
        media = self.new_media(
            p.get("text"),
            call.node["username"],
            reply_to=p.get("reply_to_id"),
            media_type=MEDIA_TYPE.get(p["media_type"], p["media_type"]),
            media_product_type="THREADS",
            _user=call.node["id"],
        )
        container["status"] = "PUBLISHED"
        return {"id": media["id"]}

    def threads(self, call: Call) -> dict[str, Any]:
        self.accept(call.params, optional=("fields", "limit", "since", "until", "before", "after"))
        self.own(call)
        mine = [
            m
            for m in self.objects.values()
            if m["_node"] == "threads_media" and m.get("_user") == call.node["id"]
        ]
        posts = [m for m in mine if not m["is_reply"]]
        posts = self.since_filter(sorted(posts, key=lambda m: m["_at"]), call.params, "_at")
        items = [self.render(m, call.params.get("fields")) for m in reversed(posts)]
        return self.listing(items, call.params)

    def delete(self, call: Call) -> dict[str, Any]:
        self.accept(call.params)
        self.own(call)
        del self.objects[call.node["id"]]
        return {"success": True, "deleted_id": call.node["id"]}

    # -- insights ---------------------------------------------------------------------------------

    def insights(self, call: Call, known: frozenset[str], values: dict[str, int]) -> dict[str, Any]:
        metrics = call.params["metric"].split(",")
        if set(metrics) - known:
            raise invalid_param(f"metric must be among {', '.join(sorted(known))}")
        return {
            "data": [
                {
                    "name": metric,
                    "period": "lifetime",
                    "title": metric,
                    "total_value": {"value": values.get(metric, 0)},
                    "id": f"{call.node['id']}/insights/{metric}/lifetime",
                }
                for metric in metrics
            ]
        }

    def media_insights(self, call: Call) -> dict[str, Any]:
        self.accept(call.params, ("metric",))
        self.own(call)
        replies = len(self.descendants(call.node["id"]))
        return self.insights(call, MEDIA_METRICS, {"replies": replies, "views": 42})

    def user_insights(self, call: Call) -> dict[str, Any]:
        self.accept(call.params, ("metric",), ("since", "until", "period"))
        self.own(call)
        return self.insights(call, USER_METRICS, {"followers_count": self.followers})

    # -- replies ------------------------------------------------------------------------------

    def descendants(self, media_id: str) -> list[dict[str, Any]]:
        found = [
            m
            for m in self.objects.values()
            if m["_node"] == "threads_media" and m["_root"] != m["id"]
        ]
        chain = [m for m in found if m["_root"] == media_id or m["_parent"] == media_id]
        return sorted(chain, key=lambda m: (m["_at"], m["id"]))

    def replies(self, call: Call) -> dict[str, Any]:
        self.accept(call.params, optional=("fields", "reverse", "before", "after"))
        found = self.descendants(call.node["id"])
        if call.edge == "replies":
            found = [m for m in found if m["_parent"] == call.node["id"]]
        if call.params.get("reverse", "true") == "true":
            found.reverse()
        items = [self.render(m, call.params.get("fields")) for m in found]
        return self.listing(items, call.params)

    def manage_reply(self, call: Call) -> dict[str, Any]:
        self.accept(call.params, ("hide",))
        reply = call.node
        root = self.objects.get(reply["_root"], {})
        if not reply["is_reply"] or reply["_parent"] != root.get("id"):
            raise invalid_param("Only top-level replies can be hidden or unhidden")
        if root.get("_user") != call.token.subject:
            raise GraphError(400, 10, "(#10) Only replies to your own threads can be hidden")
        if call.params["hide"] not in ("true", "false"):
            raise invalid_param("hide must be a boolean")
        reply["hide_status"] = "HIDDEN" if call.params["hide"] == "true" else "UNHUSHED"
        return {"success": True}
