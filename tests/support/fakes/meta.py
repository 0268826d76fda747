"""A fake Graph API (Facebook Pages, Instagram with Facebook Login), from Meta's reference pages.

Meta publishes no machine-readable description; this fake holds requests to these pages:

- login and tokens:
  https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow,
  https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived
- Pages and their tokens (``/me/accounts``): https://developers.facebook.com/docs/pages/getting-started
- posts, photos, multi-photo posts: https://developers.facebook.com/docs/pages-api/posts,
  https://developers.facebook.com/docs/graph-api/reference/page/feed,
  https://developers.facebook.com/docs/graph-api/reference/page/photos,
  https://developers.facebook.com/docs/graph-api/photo-uploads
- published posts: https://developers.facebook.com/docs/graph-api/reference/page/published_posts
- comments: https://developers.facebook.com/docs/graph-api/reference/object/comments,
  https://developers.facebook.com/docs/graph-api/reference/comment
- insights: https://developers.facebook.com/docs/graph-api/reference/insights (and the
  metrics deprecated in 2025:
  https://developers.facebook.com/docs/platforminsights/page/deprecated-metrics)
- Page videos and the Resumable Upload API: :mod:`tests.support.fakes.meta_video`
- Instagram content publishing: :mod:`tests.support.fakes.meta_instagram`
- Instagram comments, replies, hiding, insights:
  https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-comment,
  https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-comment/replies,
  https://developers.facebook.com/docs/instagram-platform/reference/instagram-media/insights

The Graph version in the path is the one the fake is built with; another version is refused.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from tests.support.fakes.meta_base import (
    EDGE_PAGING,
    Call,
    GraphError,
    Routes,
    bad_client_secret,
    graph_time,
    invalid_param,
    nested_spec,
)
from tests.support.fakes.meta_instagram import web_url
from tests.support.fakes.meta_video import PageVideos


def names(text: str) -> frozenset[str]:
    return frozenset(text.split())


FIELDS = {
    "user": frozenset({"name", "email"}),
    "page": names(
        "name username access_token picture tasks category followers_count fan_count "
        "instagram_business_account link"
    ),
    "post": names("message created_time permalink_url shares reactions comments from"),
    "photo": frozenset({"name", "created_time", "link"}),
    "video": names("title description created_time permalink_url from"),
    "comment": names("message from created_time is_hidden parent can_hide like_count"),
    "ig_user": names(
        "username name profile_picture_url followers_count follows_count media_count biography"
    ),
    "ig_container": frozenset({"status_code", "status", "copyright_check_status"}),
    "ig_media": names(
        "caption timestamp permalink media_type media_product_type like_count comments_count "
        "username"
    ),
    "ig_comment": names("text timestamp username from hidden like_count parent_id replies"),
}
POST_METRICS = frozenset({"post_media_view", "post_total_media_view_unique", "post_clicks"})
IG_METRICS = names("reach likes comments shares saved views total_interactions follows")
COMMENT_KINDS = ("comment", "ig_comment")


class GraphFake(PageVideos):
    """One user (``user_token``) managing Pages, some with an Instagram business account."""

    node_fields = FIELDS

    def __init__(self, version: str = "v21.0", user_token: str = "EAA-user-token") -> None:
        super().__init__(version, "app-id", "app-secret")
        self.dialog_path = f"/{version}/dialog/oauth"
        self.user_id = self.add("user", name="Ada Lovelace")["id"]
        self.oauth.subject = self.user_id
        self.user_token = self.issue("user", self.user_id, value=user_token, long=True)
        routes: Routes = {
            ("user", "GET", None): self.get_node,
            ("user", "GET", "accounts"): self.accounts,
            ("page", "GET", None): self.get_node,
            ("page", "POST", "feed"): self.create_post,
            ("page", "POST", "photos"): self.create_photo,
            ("page", "GET", "published_posts"): self.published_posts,
            ("post", "GET", None): self.get_node,
            ("post", "DELETE", None): self.delete_node,
            ("post", "GET", "insights"): self.insights,
            ("post", "GET", "comments"): self.list_comments,
            ("post", "POST", "comments"): self.create_comment,
            ("photo", "GET", None): self.get_node,
            ("video", "GET", None): self.get_node,
            ("video", "DELETE", None): self.delete_node,
            ("video", "POST", "comments"): self.create_comment,
            ("comment", "GET", None): self.get_node,
            ("comment", "POST", None): self.update_comment,
            ("comment", "DELETE", None): self.delete_node,
            ("comment", "POST", "comments"): self.create_comment,
            ("ig_user", "GET", None): self.get_node,
            ("ig_media", "GET", None): self.get_node,
            ("ig_media", "GET", "insights"): self.insights,
            ("ig_media", "GET", "comments"): self.list_comments,
            ("ig_media", "POST", "comments"): self.create_comment,
            ("ig_comment", "GET", None): self.get_node,
            ("ig_comment", "POST", None): self.update_comment,
            ("ig_comment", "DELETE", None): self.delete_node,
            ("ig_comment", "GET", "replies"): self.list_comments,
            ("ig_comment", "POST", "replies"): self.create_comment,
        }
        self.routes.update(routes)

    # -- seeding and inspection ------------------------------------------------------------------

    def add_page(
        self,
        name: str,
        *,
        instagram: bool = True,
        tasks: tuple[str, ...] = ("CREATE_CONTENT",),
        token: str | None = None,
    ) -> dict[str, Any]:
        handle = name.lower().replace(" ", "")
        page = self.add("page", name=name, username=handle, tasks=list(tasks), category="Brand")
        page |= {"_page": page["id"], "followers_count": 1200, "fan_count": 1100}
        page["picture"] = {"data": {"url": f"https://scontent.test/{page['id']}.jpg"}}
        page["access_token"] = self.issue("page", page["id"], value=token)
        if instagram:
            ig = self.add("ig_user", _page=page["id"], username=handle, name=name)
            ig |= {"followers_count": 5400, "follows_count": 80, "media_count": 0, "_sent": []}
            page["_ig"] = ig["id"]
        return page

    def add_comment(self, on: str, text: str, author: str = "Grace") -> str:
        """A visitor's comment on a post or Instagram media, or a reply to a comment."""
        parent = self.objects[on]
        instagram = parent["_node"].startswith("ig_")
        is_reply = parent["_node"] in COMMENT_KINDS
        fields: dict[str, Any] = {
            "_post": parent["_post"] if is_reply else on,
            "_parent": on if is_reply else None,
            "_page": parent["_page"],
        }
        if instagram:
            fields |= {"text": text, "username": author, "hidden": False}
            fields["from"] = {"id": self.new_id(), "username": author}
        else:
            fields |= {"message": text, "is_hidden": False}
            fields["from"] = {"id": self.new_id(), "name": author}
        return str(self.add("ig_comment" if instagram else "comment", **fields)["id"])

    def comments_on(self, post_id: str, *, top_only: bool) -> list[dict[str, Any]]:
        found = [
            o
            for kind in COMMENT_KINDS
            for o in self.of_kind(kind, _post=post_id)
            if not top_only or o["_parent"] is None
        ]
        return sorted(found, key=lambda o: (o["_at"], o["id"]))

    # -- plumbing ---------------------------------------------------------------------------------

    def field_value(self, node: dict[str, Any], name: str, raw: str) -> Any:
        if name in ("created_time", "timestamp"):
            return graph_time(node["_at"])
        if name == "instagram_business_account":
            ig = node.get("_ig")
            return self.render(self.objects[ig], nested_spec(raw)) if ig else None
        if node["_node"] == "post" and name in ("reactions", "comments"):
            count = (
                node.get("_reactions", 0)
                if name == "reactions"
                else len(self.comments_on(node["id"], top_only=False))
            )
            return {"data": [], "summary": {"total_count": count}} if "summary(true)" in raw else {}
        if name == "shares":  # Graph leaves the field out while nobody has shared
            return {"count": node["_shares"]} if node.get("_shares") else None
        if name == "parent":
            return {"id": node["_parent"]} if node.get("_parent") else None
        if name == "parent_id":
            return node.get("_parent")
        if name == "replies":
            replies = [r for r in self.of_kind("ig_comment", _parent=node["id"])]
            return {"data": [self.render(r, nested_spec(raw)) for r in replies]}
        return super().field_value(node, name, raw)

    # -- login ------------------------------------------------------------------------------------

    def token_endpoint(
        self, method: str, segments: list[str], params: dict[str, str], token: str | None
    ) -> dict[str, Any] | None:
        if segments != [self.version, "oauth", "access_token"]:
            return None
        if params.get("grant_type") == "fb_exchange_token":
            self.accept(params, ("grant_type", "client_id", "client_secret", "fb_exchange_token"))
            self.check_app(params)
            user = self.authenticate(params["fb_exchange_token"])
            if user.kind != "user":
                raise invalid_param("fb_exchange_token must be a user access token")
            value = self.issue("user", user.subject, long=True)
            return {"access_token": value, "token_type": "bearer", "expires_in": 5_183_944}
        # The code exchange of the manual login flow. ``grant_type=authorization_code`` is not
        # on Meta's page; it is the RFC 6749 parameter generic clients send, accepted here.
        self.accept(params, ("client_id", "client_secret", "redirect_uri", "code"), ("grant_type",))
        if params.get("grant_type", "authorization_code") != "authorization_code":
            raise invalid_param("Unsupported grant_type")
        value = self.issue("user", self.redeem(params).subject)
        return {"access_token": value, "token_type": "bearer", "expires_in": 5400}

    def check_app(self, params: dict[str, str]) -> None:
        if params["client_id"] != self.client_id:
            raise GraphError(400, 101, "Error validating application. Invalid application ID.")
        if params["client_secret"] != self.client_secret:
            raise bad_client_secret()

    # -- nodes --------------------------------------------------------------------------------

    def get_node(self, call: Call) -> dict[str, Any]:
        self.accept(call.params, optional=("fields",))
        if call.node["_node"] not in ("user", "page", "ig_user"):
            self.for_page(call)
        return self.render(call.node, call.params.get("fields"))

    def delete_node(self, call: Call) -> dict[str, Any]:
        self.accept(call.params)
        self.for_page(call)
        for child in self.comments_on(call.node["id"], top_only=False):
            del self.objects[child["id"]]
        del self.objects[call.node["id"]]
        return {"success": True}

    def accounts(self, call: Call) -> dict[str, Any]:
        self.accept(call.params, optional=EDGE_PAGING)
        if call.token.kind != "user":
            raise GraphError(400, 100, "(#100) Tried accessing nonexisting field (accounts)")
        pages = [self.render(p, call.params.get("fields")) for p in self.of_kind("page")]
        return self.listing(pages, call.params)

    # -- Facebook posts -------------------------------------------------------------------------

    def create_post(self, call: Call) -> dict[str, Any]:
        optional = ("message", "link", "published", "scheduled_publish_time", "attached_media")
        self.accept(call.params, optional=optional)
        self.allow(call, page_token=True)
        p, page = call.params, call.node
        photos = [v for k, v in sorted(p.items()) if k.startswith("attached_media[")]
        if not (p.get("message") or p.get("link") or photos):
            raise GraphError(400, 100, "(#100) Missing message or attachment")
        attached = []
        for value in photos:
            photo = self.objects.get(str(json.loads(value).get("media_fbid")))
            if not photo or photo["_node"] != "photo" or photo["_page"] != page["id"]:
                raise invalid_param("attached_media must name unpublished photos of this Page")
            if photo.get("_post"):
                raise invalid_param("A photo can be attached to one post only")
            attached.append(photo)
        post = self.new_post(page, p.get("message"), link=p.get("link"))
        for photo in attached:
            photo["_post"] = post["id"]
        return {"id": post["id"]}

    def new_post(self, page: dict[str, Any], message: str | None, **extra: Any) -> dict[str, Any]:
        post_id = f"{page['id']}_{self.new_id()}"
        url = f"https://www.facebook.com/{page['id']}/posts/{post_id.split('_')[1]}"
        post = {"_node": "post", "id": post_id, "_page": page["id"], "_at": datetime.now(UTC)}
        post |= {"message": message, "permalink_url": url, "_reactions": 0, "_shares": 0, **extra}
        self.objects[post_id] = post
        return post

    def create_photo(self, call: Call) -> dict[str, Any]:
        optional = ("url", "caption", "published", "alt_text_custom", "no_story", "temporary")
        self.accept(call.params, optional=optional)
        self.allow(call, page_token=True)
        if set(call.files) - {"source"}:
            raise invalid_param("Only a file named source is accepted")
        url = call.params.get("url")
        if not call.files.get("source") and not (url and web_url(url)):
            raise GraphError(400, 324, "(#324) Requires upload file")
        photo = self.add("photo", _page=call.node["id"], _post=None)
        if call.params.get("published", "true") == "false":
            return {"id": photo["id"]}
        post = self.new_post(call.node, call.params.get("caption"))
        photo["_post"] = post["id"]
        return {"id": photo["id"], "post_id": post["id"]}

    def published_posts(self, call: Call) -> dict[str, Any]:
        self.accept(call.params, optional=(*EDGE_PAGING, "since", "until"))
        self.allow(call, page_token=True)
        posts = self.since_filter(self.of_kind("post", _page=call.node["id"]), call.params, "_at")
        items = [self.render(post, call.params.get("fields")) for post in reversed(posts)]
        return self.listing(items, call.params)

    def insights(self, call: Call) -> dict[str, Any]:
        instagram = call.node["_node"] == "ig_media"
        self.accept(call.params, ("metric",), ("period", "breakdown", "metric_type", "date_preset"))
        self.for_page(call)
        known = IG_METRICS if instagram else POST_METRICS
        metrics = call.params["metric"].split(",")
        for index, metric in enumerate(metrics):
            if metric not in known:
                allowed = ", ".join(sorted(known))
                raise invalid_param(
                    f"metric[{index}] must be one of the following values: {allowed}"
                )
        values = call.node.setdefault("_insights", {})
        return {
            "data": [
                {
                    "name": metric,
                    "period": "lifetime",
                    "values": [{"value": values.get(metric, 0)}],
                    "title": metric,
                    "id": f"{call.node['id']}/insights/{metric}/lifetime",
                }
                for metric in metrics
            ]
        }

    # -- comments -------------------------------------------------------------------------------

    def list_comments(self, call: Call) -> dict[str, Any]:
        node = call.node
        if node["_node"] == "post":
            self.accept(call.params, optional=(*EDGE_PAGING, "filter", "order", "summary"))
            top_only = call.params.get("filter", "toplevel") == "toplevel"
            found = self.comments_on(node["id"], top_only=top_only)
        elif node["_node"] == "ig_media":
            self.accept(call.params, optional=EDGE_PAGING)
            found = self.comments_on(node["id"], top_only=True)
        else:  # replies to an Instagram comment
            self.accept(call.params, optional=EDGE_PAGING)
            found = self.of_kind("ig_comment", _parent=node["id"])
        self.for_page(call)
        items = [self.render(c, call.params.get("fields")) for c in found]
        return self.listing(items, call.params)

    def create_comment(self, call: Call) -> dict[str, Any]:
        self.accept(call.params, ("message",))
        self.for_page(call)
        node = call.node
        if node["_node"] == "ig_comment" and node.get("hidden"):
            raise GraphError(400, 100, "(#100) Hidden comments cannot be replied to")
        # Instagram puts a reply to a reply under the top-level comment.
        target = (
            node["_parent"] if node["_node"] == "ig_comment" and node["_parent"] else node["id"]
        )
        page = self.objects[node["_page"]]
        if node["_node"].startswith("ig_"):
            account = self.objects[page["_ig"]]
            author = account["username"]
        else:
            author = page["name"]
        comment_id = self.add_comment(target, call.params["message"], author)
        return {"id": comment_id}

    def update_comment(self, call: Call) -> dict[str, Any]:
        node = call.node
        if node["_node"] == "ig_comment":
            self.accept(call.params, ("hide",))
            key, value = "hidden", call.params["hide"]
        else:
            self.accept(call.params, ("is_hidden",), ("message",))
            key, value = "is_hidden", call.params["is_hidden"]
        self.for_page(call)
        if value not in ("true", "false"):
            raise invalid_param(f"{key} must be a boolean")
        node[key] = value == "true"
        return {"success": True}
