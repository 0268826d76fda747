"""Bluesky: posts are ``app.bsky.feed.post`` records written to the account's PDS.

The session (an app password) is opened and renewed in session.py. Writes go to the PDS
(records in the account's repository); the profile is read as the ``app.bsky.actor.profile``
record of the repository.

Comments and metrics are AppView views (app.bsky.*: threads, counters, profiles), which the
AppView builds from every repository of the network. They are still asked of the PDS: it
forwards them to the AppView named by the ``atproto-proxy`` header (``<DID>#<service id>``,
Bluesky's by default) with a service-auth token of the account
(https://docs.bsky.app/docs/advanced-guides/api-directory, https://atproto.com/specs/xrpc).
Replies come from app.bsky.feed.getPostThread, counters from app.bsky.feed.getPosts (Bluesky
has no impressions), followers from app.bsky.actor.getProfile.

Replying needs no AppView: a reply is a post record whose ``reply`` holds strong references
(URI + CID) to the thread's root and to the parent, and the parent's CID and root come from
the parent record itself (com.atproto.repo.getRecord). That gives publications their first
comment (a reply under the post, i.e. a thread) and lets us delete our own replies. Hiding a
reply is a write too: the thread gate record of our root post lists it in ``hiddenReplies``
(see threadgate.py); the AppView then marks it hidden for everyone.
"""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, ClassVar

from agency.connector.base import (
    AccountMetrics,
    AuthKind,
    Capability,
    Comment,
    Limits,
    Media,
    MediaRule,
    Post,
    PostMetrics,
    Problem,
    Published,
    StagedMedia,
    files_missing,
)
from agency.connector.errors import InvalidContent, Refused, Transient
from agency.connector.http import json_body
from agency_connectors.answers import parse_time
from agency_connectors.bluesky import appview, richtext, threadgate
from agency_connectors.bluesky.session import BlueskySession
from agency_connectors.bluesky.xrpc import Missing, send

POST = "app.bsky.feed.post"
MAX_TEXT_BYTES = 3000  # the lexicon's maxLength, beside maxGraphemes 300
MAX_LANGS = 3
LIST_PAGE = 100
LIST_PAGES = 5  # find_published looks at the last 500 posts at most
BLUESKY_APPVIEW = "did:web:api.bsky.app#bsky_appview"
# Levels of replies read under a post; the AppView may cap it lower (its maxThreadDepth).
THREAD_DEPTH = 20
GATE_WRITES = 3  # read-and-write rounds of a thread gate that others change meanwhile
# How long a PDS keeps a blob no record names: "minutes", unspecified; counted short.
UNREFERENCED_BLOB_LIFETIME = timedelta(minutes=5)
NOT_SEEN = "Bluesky does not show this post (deleted, or not seen by its AppView yet)."


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _langs(post: Post) -> list[str]:
    """BCP 47 tags of the post's languages (``options["langs"]``: one tag or a list)."""
    langs = post.options.get("langs") or ()
    return [langs] if isinstance(langs, str) else [str(lang) for lang in langs]


def _same_text(ours: str, theirs: object) -> bool:
    # The PDS stores the record as sent; only the Unicode normal form may differ.
    return isinstance(theirs, str) and unicodedata.normalize(
        "NFC", ours.strip()
    ) == unicodedata.normalize("NFC", theirs.strip())


def _rkey(uri: str) -> tuple[str, str, str]:
    """``at://<repo>/<collection>/<rkey>`` split in three."""
    parts = uri.removeprefix("at://").split("/")
    if not uri.startswith("at://") or len(parts) != 3 or not all(parts):
        raise Refused(f"{uri!r} is not the address of a Bluesky post (at://...).")
    return parts[0], parts[1], parts[2]


class BlueskyConnector(BlueskySession):
    network = "bluesky"
    display_name = "Bluesky"
    auth_kind = AuthKind.APP_PASSWORD
    default_base_url = "https://bsky.social"
    # Where a post is shown to people; a link, not an API we call.
    web_url: ClassVar[str] = "https://bsky.app"
    staged_media_lifetime = UNREFERENCED_BLOB_LIFETIME
    limits = Limits(
        max_text_length=300,
        text_counting="graphemes",
        max_media=4,
        media={
            "image": MediaRule(
                mime_types=frozenset({"image/jpeg", "image/png", "image/webp"}),
                max_bytes=1_000_000,
            )
        },
        link_field=True,
        notes=(
            "300 characters as people see them (an emoji with skin tone counts once), "
            "and 3000 bytes.",
            "A link without images becomes a link card.",
            "Mentions of handles that do not exist stay plain text.",
        ),
    )
    capabilities = frozenset(
        {
            Capability.PUBLISH,
            Capability.FIND_PUBLISHED,
            Capability.DELETE,
            Capability.REPLY,
            Capability.DELETE_COMMENT,
            Capability.COMMENTS,
            Capability.MENTIONS,
            Capability.HIDE_COMMENT,
            Capability.POST_METRICS,
            Capability.ACCOUNT_METRICS,
            Capability.REVOKE,
            Capability.STAGE_MEDIA,
        }
    )
    # Where the PDS forwards app.bsky.* queries: "<AppView DID>#<service id>", the value of the
    # atproto-proxy header. Another AppView is named by setting this (subclass or instance).
    appview: str = BLUESKY_APPVIEW
    reference_docs = (
        "https://atproto.com/specs/xrpc",
        "https://docs.bsky.app/docs/advanced-guides/posts",
        "https://docs.bsky.app/docs/advanced-guides/post-richtext",
        "https://docs.bsky.app/docs/tutorials/creating-a-post#replies",
        "https://docs.bsky.app/docs/api/com-atproto-repo-get-record",
        "https://docs.bsky.app/docs/api/app-bsky-notification-list-notifications",
        "https://docs.bsky.app/docs/advanced-guides/rate-limits",
        "https://docs.bsky.app/docs/api/com-atproto-server-create-session",
        "https://docs.bsky.app/docs/api/com-atproto-server-refresh-session",
        "https://docs.bsky.app/docs/api/com-atproto-server-get-session",
        "https://docs.bsky.app/docs/api/com-atproto-server-delete-session",
        "https://docs.bsky.app/docs/api/com-atproto-identity-resolve-handle",
        "https://docs.bsky.app/docs/api/com-atproto-repo-upload-blob",
        "https://docs.bsky.app/docs/api/com-atproto-repo-create-record",
        "https://docs.bsky.app/docs/api/com-atproto-repo-list-records",
        "https://docs.bsky.app/docs/api/com-atproto-repo-delete-record",
        "https://docs.bsky.app/docs/api/com-atproto-repo-put-record",
        "https://docs.bsky.app/docs/advanced-guides/api-directory",
        "https://docs.bsky.app/docs/api/app-bsky-feed-get-post-thread",
        "https://docs.bsky.app/docs/api/app-bsky-feed-get-posts",
        "https://docs.bsky.app/docs/api/app-bsky-actor-get-profile",
        "https://github.com/bluesky-social/atproto/blob/main/lexicons/app/bsky/feed/post.json",
        "https://github.com/bluesky-social/atproto/blob/main/lexicons/app/bsky/feed/defs.json",
        "https://github.com/bluesky-social/atproto/blob/main/lexicons/app/bsky/feed/threadgate.json",
    )

    # -- content rules -------------------------------------------------------------------------

    @classmethod
    def count_text(cls, text: str) -> int:
        return richtext.graphemes(text)

    @classmethod
    def network_problems(cls, post: Post) -> list[Problem]:
        problems = []
        size = richtext.utf8_length(post.text)
        if size > MAX_TEXT_BYTES:
            problems.append(
                Problem(
                    "text",
                    f"The text takes {size} bytes; Bluesky stores at most {MAX_TEXT_BYTES} "
                    "(emoji and accented letters take several).",
                    "text_too_many_bytes",
                )
            )
        if len(_langs(post)) > MAX_LANGS:
            problems.append(
                Problem("options.langs", f"At most {MAX_LANGS} languages.", "too_many_langs")
            )
        return problems

    @classmethod
    def delivery_problems(cls, post: Post) -> list[Problem]:
        return files_missing(post, "The image file is missing.", "media_missing")

    # -- publishing ------------------------------------------------------------------------------

    async def publish(self, post: Post) -> Published:
        self.check_publishable(post)
        record = await self._record(post)
        if post.media:
            record["embed"] = {
                "$type": "app.bsky.embed.images",
                "images": [await self._image(media) for media in post.media],
            }
        elif post.link:
            record["embed"] = {
                "$type": "app.bsky.embed.external",
                "external": {
                    "uri": post.link,
                    "title": post.title or post.link,
                    "description": str(post.options.get("link_description") or ""),
                },
            }
        uri = await self._create(record)
        return Published(
            post_id=uri, url=self._web_url(uri), published_at=parse_time(record["createdAt"])
        )

    async def _record(self, post: Post) -> dict[str, Any]:
        """A post record with the text, its languages and its facets (no embed, no reply)."""
        record: dict[str, Any] = {"$type": POST, "text": post.text, "createdAt": _now()}
        langs = _langs(post)
        if langs:
            record["langs"] = langs
        facets = await self._facets(post.text)
        if facets:
            record["facets"] = facets
        return record

    async def _create(self, record: dict[str, Any]) -> str:
        """Writes ``record`` to the account's repository; its at:// URI."""
        response = await send(
            lambda: self.http.post(
                self._url("com.atproto.repo.createRecord"),
                headers=self._auth(),
                json={"repo": self._did, "collection": POST, "record": record},
            ),
            publishing=True,
        )
        return str(json_body(response)["uri"])

    def _web_url(self, uri: str) -> str:
        repo, _, rkey = _rkey(uri)
        who = self.credentials.extra.get("handle") or repo
        return f"{self.web_url}/profile/{who}/post/{rkey}"

    async def stage_media(self, media: Media) -> StagedMedia:
        """The blob, uploaded before the post that names it: the blob object, as JSON."""
        uploaded_at = datetime.now(UTC)
        blob = await self._upload_blob(media)
        return StagedMedia(json.dumps(blob), uploaded_at + UNREFERENCED_BLOB_LIFETIME)

    async def _upload_blob(self, media: Media) -> dict[str, Any]:
        assert media.source is not None  # validate() refused it otherwise
        data = await media.source.read()
        response = await send(
            lambda: self.http.post(
                self._url("com.atproto.repo.uploadBlob"),
                headers={**self._auth(), "Content-Type": media.mime_type},
                content=data,
            )
        )
        blob = json_body(response)["blob"]
        if not isinstance(blob, dict):
            raise Refused("The PDS answered the upload without a blob.")
        return blob

    async def _image(self, media: Media) -> dict[str, Any]:
        blob = json.loads(media.staged) if media.staged else await self._upload_blob(media)
        image: dict[str, Any] = {"alt": media.alt_text or "", "image": blob}
        if media.width and media.height:
            image["aspectRatio"] = {"width": media.width, "height": media.height}
        return image

    async def _facets(self, text: str) -> list[dict[str, Any]]:
        facets = []
        for span in richtext.spans(text):
            if span.kind == "link":
                facets.append(span.facet(richtext.link_feature(span.value)))
            elif span.kind == "tag":
                facets.append(span.facet(richtext.tag_feature(span.value)))
            elif did := await self._resolve(span.value):
                facets.append(span.facet(richtext.mention_feature(did)))
        return facets

    async def _resolve(self, handle: str) -> str | None:
        """The DID of ``handle``; None when no account has it (the mention stays text)."""
        try:
            response = await send(
                lambda: self.http.get(
                    self._url("com.atproto.identity.resolveHandle"), params={"handle": handle}
                ),
                # "Unable to resolve handle": the PDS has no more precise name for it.
                missing=frozenset({"InvalidRequest"}),
            )
        except Missing:
            return None
        did = json_body(response).get("did")
        return did if isinstance(did, str) else None

    async def find_published(self, post: Post, since: datetime) -> Published | None:
        cursor: str | None = None
        for _ in range(LIST_PAGES):
            params = {"repo": self._did, "collection": POST, "limit": str(LIST_PAGE)}
            if cursor:
                params["cursor"] = cursor
            url = self._url("com.atproto.repo.listRecords")
            page = json_body(await send(partial(self.http.get, url, params=params)))
            older = False
            for item in page.get("records", []):
                value = item.get("value", {})
                created = parse_time(value.get("createdAt"))
                # createdAt is the client's word; one odd date must not end the search.
                older = created is not None and created < since
                if not older and _same_text(post.text, value.get("text")):
                    return Published(item["uri"], self._web_url(item["uri"]), created)
            cursor = page.get("cursor")
            # Records come newest first (by record key): once a page ends before ``since``,
            # the next pages are older still.
            if not cursor or older:
                return None
        return None

    async def delete(self, post_id: str) -> None:
        repo, collection, rkey = _rkey(post_id)
        if repo != self._did or collection != POST:
            raise Refused("This post belongs to another Bluesky account or is not a post.")
        await send(
            lambda: self.http.post(
                self._url("com.atproto.repo.deleteRecord"),
                headers=self._auth(),
                json={"repo": repo, "collection": collection, "rkey": rkey},
            )
        )

    # -- replies ---------------------------------------------------------------------------------

    async def reply(self, comment: Comment, text: str) -> Comment:
        """A reply under ``comment`` (a post or a reply), in the same thread."""
        post = Post(text=text)
        problems = [p for p in self.validate(post) if p.field == "text"]
        if problems:
            raise InvalidContent(problems)
        parent = await self._strong_ref(comment.comment_id)
        record = await self._record(post)
        root = parent.pop("root", None) or dict(parent)  # a reply to a post starts its thread
        record["reply"] = {"root": root, "parent": parent}
        uri = await self._create(record)
        return Comment(
            comment_id=uri,
            post_id=comment.post_id,
            text=text,
            author_id=self._did,
            author_name=self.credentials.extra.get("handle"),
            created_at=parse_time(record["createdAt"]),
            parent_id=comment.comment_id,
        )

    async def _strong_ref(self, uri: str) -> dict[str, Any]:
        """``{"uri", "cid"}`` of the post at ``uri``, with ``"root"``: its thread's root when
        it is itself a reply."""
        repo, collection, rkey = _rkey(uri)
        if collection != POST:
            raise Refused(f"{uri!r} is not a Bluesky post: only posts can be replied to.")
        found = await self._read(repo, collection, rkey)
        if found is None:
            raise Refused("The post to reply to no longer exists on Bluesky.")
        ref: dict[str, Any] = {"uri": found["uri"], "cid": found["cid"]}
        value = found.get("value")
        root = value.get("reply", {}).get("root") if isinstance(value, dict) else None
        if isinstance(root, dict) and root.get("uri") and root.get("cid"):
            ref["root"] = {"uri": root["uri"], "cid": root["cid"]}
        return ref

    async def delete_comment(self, comment: Comment) -> None:
        """Only our own replies: a record can be deleted by the repository that holds it."""
        await self.delete(comment.comment_id)

    async def hide_comment(self, comment: Comment, hidden: bool = True) -> None:
        """Hides (or shows again) a reply in a thread our account started, through the thread
        gate of its root post; the gate's other rules stay as they are."""
        root = await self._own_thread_root(comment.comment_id)
        rkey = _rkey(root)[2]
        for _ in range(GATE_WRITES):
            gate = await self._read(self._did, threadgate.THREADGATE, rkey)
            value = gate.get("value") if gate else None
            record = threadgate.with_reply(
                value if isinstance(value, dict) else None, root, comment.comment_id, hidden, _now()
            )
            swap = gate["cid"] if gate else None
            if record is None or await self._put_gate(rkey, record, swap):
                return
        raise Transient("The thread's reply settings kept changing on Bluesky; try again.")

    async def _own_thread_root(self, reply_uri: str) -> str:
        """The root post of the reply's thread, refused unless our account wrote it."""
        repo, collection, rkey = _rkey(reply_uri)
        found = await self._read(repo, collection, rkey) if collection == POST else None
        if found is None:
            raise Refused("This reply is no longer on Bluesky.")
        value = found.get("value")
        reply = value.get("reply") if isinstance(value, dict) else None
        root = reply.get("root", {}).get("uri") if isinstance(reply, dict) else None
        if not isinstance(root, str):
            raise Refused("This is a post, not a reply: only replies can be hidden.")
        if _rkey(root)[0] != self._did:
            raise Refused(
                "Only the account that started a Bluesky thread can hide replies in it; this "
                "thread belongs to another account."
            )
        return root

    async def _put_gate(self, rkey: str, record: dict[str, Any], swap: str | None) -> bool:
        """Writes the thread gate if it is still the one read (``swap``, its CID; None: still
        absent), so that a rule or a hidden reply added meanwhile is not written over."""
        body = {
            "repo": self._did,
            "collection": threadgate.THREADGATE,
            "rkey": rkey,
            "record": record,
            "swapRecord": swap,
        }
        url = self._url("com.atproto.repo.putRecord")
        try:
            await send(
                partial(self.http.post, url, json=body, headers=self._auth()),
                missing=frozenset({"InvalidSwap"}),
            )
        except Missing:
            return False
        return True

    # -- the AppView's views ---------------------------------------------------------------------

    async def _view(self, nsid: str, params: dict[str, str]) -> dict[str, Any]:
        """An AppView query, sent to the PDS, which forwards it to ``appview``."""
        headers = {**self._auth(), "atproto-proxy": self.appview}
        url = self._url(nsid)
        try:
            response = await send(
                partial(self.http.get, url, params=params, headers=headers),
                missing=frozenset({"NotFound"}),
            )
        except Missing:
            raise Refused(NOT_SEEN) from None
        answer = json_body(response)
        return answer if isinstance(answer, dict) else {}

    async def comments(self, post_id: str, since: datetime | None = None) -> list[Comment]:
        """The replies under the post, nested ones too, from its thread."""
        _rkey(post_id)
        params = {"uri": post_id, "depth": str(THREAD_DEPTH), "parentHeight": "0"}
        answer = await self._view("app.bsky.feed.getPostThread", params)
        found = appview.replies(answer, post_id)
        return [c for c in found if since is None or (c.created_at and c.created_at >= since)]

    async def mentions(self, since: datetime | None = None) -> list[Comment]:
        """Posts of others naming the account: its newest 100 ``mention`` notifications."""
        params = {"limit": "100", "reasons": "mention"}
        answer = await self._view("app.bsky.notification.listNotifications", params)
        found = appview.mentions(answer)
        return [c for c in found if since is None or (c.created_at and c.created_at >= since)]

    async def post_metrics(self, post_id: str) -> PostMetrics:
        _rkey(post_id)
        answer = await self._view("app.bsky.feed.getPosts", {"uris": post_id})
        posts = answer.get("posts") or []
        if not posts:  # getPosts leaves out what it does not know
            raise Refused(NOT_SEEN)
        return appview.post_metrics(posts[0])

    async def account_metrics(self) -> AccountMetrics:
        answer = await self._view("app.bsky.actor.getProfile", {"actor": self._did})
        return appview.account_metrics(answer)
