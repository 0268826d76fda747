"""Bluesky: posts are ``app.bsky.feed.post`` records written to the account's PDS.

The channel signs in with its handle and an *app password* (com.atproto.server.createSession);
the session's access JWT is short-lived and renewed with the refresh JWT
(com.atproto.server.refreshSession). Everything here is served by the PDS alone: the
AppView (app.bsky.* views: profiles, threads, likes, replies) is a separate service, so
comments and metrics are not offered, and the profile is read as the ``app.bsky.actor.profile``
record of the repository rather than through app.bsky.actor.getProfile.

Replying needs no AppView: a reply is a post record whose ``reply`` holds strong references
(URI + CID) to the thread's root and to the parent, and the parent's CID and root come from
the parent record itself (com.atproto.repo.getRecord). That gives publications their first
comment (a reply under the post, i.e. a thread) and lets us delete our own replies.

Disconnecting ends the session (com.atproto.server.deleteSession with the refresh JWT): the
refresh JWT stops working, so the agency cannot come back; the app password itself stays
until the account owner deletes it in Bluesky's settings.
"""

from __future__ import annotations

import contextlib
import unicodedata
from datetime import UTC, datetime
from functools import partial
from typing import Any, ClassVar

import httpx

from agency.connector.base import (
    Account,
    AuthKind,
    Capability,
    Comment,
    Connector,
    Credentials,
    Limits,
    Media,
    MediaRule,
    Post,
    Problem,
    Published,
)
from agency.connector.errors import AuthExpired, ConnectorError, InvalidContent, Refused
from agency.connector.http import json_body
from agency_connectors.answers import parse_time
from agency_connectors.bluesky import richtext
from agency_connectors.bluesky.xrpc import Missing, jwt_expiry, jwt_scope, send

POST = "app.bsky.feed.post"
PROFILE = "app.bsky.actor.profile"
MAX_TEXT_BYTES = 3000  # the lexicon's maxLength, beside maxGraphemes 300
MAX_LANGS = 3
# The scopes of a session opened with an app password; the account password gives
# "com.atproto.access", which can change the e-mail or delete the account.
APP_PASSWORD_SCOPES = frozenset({"com.atproto.appPass", "com.atproto.appPassPrivileged"})
LIST_PAGE = 100
LIST_PAGES = 5  # find_published looks at the last 500 posts at most


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


class BlueskyConnector(Connector):
    network = "bluesky"
    display_name = "Bluesky"
    auth_kind = AuthKind.APP_PASSWORD
    default_base_url = "https://bsky.social"
    # Where a post is shown to people; a link, not an API we call.
    web_url: ClassVar[str] = "https://bsky.app"
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
            Capability.REVOKE,
        }
    )
    reference_docs = (
        "https://atproto.com/specs/xrpc",
        "https://docs.bsky.app/docs/advanced-guides/posts",
        "https://docs.bsky.app/docs/advanced-guides/post-richtext",
        "https://docs.bsky.app/docs/tutorials/creating-a-post#replies",
        "https://docs.bsky.app/docs/api/com-atproto-repo-get-record",
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
        "https://github.com/bluesky-social/atproto/blob/main/lexicons/app/bsky/feed/post.json",
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
        for index, media in enumerate(post.media):
            if media.source is None:
                problems.append(
                    Problem(f"media.{index}", "The image file is missing.", "media_missing")
                )
        return problems

    # -- connecting ------------------------------------------------------------------------------

    def _url(self, nsid: str) -> str:
        return f"{self.base_url}/xrpc/{nsid}"

    def _auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.credentials.access_token}"}

    @property
    def _did(self) -> str:
        did = self.credentials.extra.get("did")
        if not did:
            raise AuthExpired("The Bluesky channel lacks its account id (DID); reconnect it.")
        return did

    async def login(self, identifier: str, password: str) -> Credentials:
        """A session from a handle (or e-mail) and an app password."""
        try:
            response = await send(
                lambda: self.http.post(
                    self._url("com.atproto.server.createSession"),
                    json={"identifier": identifier.strip().lstrip("@"), "password": password},
                )
            )
        except (AuthExpired, Refused) as exc:
            if isinstance(exc, Refused) and exc.status != 401:
                raise
            raise Refused(
                "Bluesky did not accept this handle and app password: check both, or create "
                "a new app password in Bluesky (Settings, Privacy and security, App passwords).",
                status=exc.status,
            ) from exc
        session = json_body(response)
        credentials = self._credentials(session)
        if credentials.scopes and credentials.scopes[0] not in APP_PASSWORD_SCOPES:
            await self._end_session(credentials)
            raise Refused(
                "This is the account's own password. Create an app password in Bluesky "
                "(Settings, Privacy and security, App passwords) and use that instead: it can "
                "post but cannot change the account, and it can be revoked on its own."
            )
        if session.get("active") is False:
            await self._end_session(credentials)
            raise Refused(f"The Bluesky account is not active ({session.get('status')}).")
        return credentials

    def _credentials(self, session: dict[str, Any]) -> Credentials:
        access, refresh = session["accessJwt"], session["refreshJwt"]
        scope = jwt_scope(access)
        return Credentials(
            access_token=access,
            refresh_token=refresh,
            expires_at=jwt_expiry(access),
            scopes=(scope,) if scope else (),
            extra={
                "did": session["did"],
                "handle": session["handle"],
                "pds_url": _pds_endpoint(session.get("didDoc")) or self.base_url,
            },
        )

    async def _end_session(self, credentials: Credentials, best_effort: bool = True) -> None:
        # A session we refuse to keep should not stay open on the server (best effort); a
        # disconnect wants to know whether it ended.
        with contextlib.suppress(*((ConnectorError,) if best_effort else ())):
            await send(
                lambda: self.http.post(
                    self._url("com.atproto.server.deleteSession"),
                    headers=self._auth(credentials.refresh_token),
                )
            )

    async def revoke(self, client_id: str | None, client_secret: str | None) -> None:
        """End the session at the PDS: its refresh JWT is then refused."""
        # A session the PDS already ended (expired, revoked) is as good as revoked (as RFC
        # 7009 treats an unknown token).
        with contextlib.suppress(AuthExpired):
            await self._end_session(self.credentials, best_effort=False)

    async def refresh(self, client_id: str | None, client_secret: str | None) -> Credentials:
        """A new session from the refresh JWT; the old refresh JWT stops working."""
        token = self.credentials.refresh_token
        if not token:
            raise AuthExpired("The Bluesky session cannot be renewed; reconnect the channel.")
        try:
            response = await send(
                lambda: self.http.post(
                    self._url("com.atproto.server.refreshSession"), headers=self._auth(token)
                )
            )
        except (AuthExpired, Refused) as exc:
            raise AuthExpired(
                f"The Bluesky session could not be renewed: reconnect the channel. {exc.message}",
                status=exc.status,
            ) from exc
        return self._credentials(json_body(response))

    async def identify(self) -> list[Account]:
        response = await send(
            lambda: self.http.get(self._url("com.atproto.server.getSession"), headers=self._auth())
        )
        session = json_body(response)
        did, handle = session["did"], session["handle"]
        profile = await self._profile(did)
        avatar = profile.get("avatar")
        avatar_cid = avatar.get("ref", {}).get("$link") if isinstance(avatar, dict) else None
        return [
            Account(
                account_id=did,
                name=profile.get("displayName") or handle,
                handle=handle,
                avatar_url=(
                    str(
                        httpx.URL(
                            self._url("com.atproto.sync.getBlob"),
                            params={"did": did, "cid": avatar_cid},
                        )
                    )
                    if isinstance(avatar_cid, str)
                    else None
                ),
            )
        ]

    async def _profile(self, did: str) -> dict[str, Any]:
        """The account's profile record, or {} when it never set one."""
        try:
            response = await send(
                lambda: self.http.get(
                    self._url("com.atproto.repo.getRecord"),
                    params={"repo": did, "collection": PROFILE, "rkey": "self"},
                ),
                missing=frozenset({"RecordNotFound"}),
            )
        except Missing:
            return {}
        value = json_body(response).get("value")
        return value if isinstance(value, dict) else {}

    # -- publishing ------------------------------------------------------------------------------

    async def publish(self, post: Post) -> Published:
        problems = self.validate(post)
        if problems:
            raise InvalidContent(problems)
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

    async def _image(self, media: Media) -> dict[str, Any]:
        assert media.source is not None  # validate() refused it otherwise
        data = await media.source.read()
        response = await send(
            lambda: self.http.post(
                self._url("com.atproto.repo.uploadBlob"),
                headers={**self._auth(), "Content-Type": media.mime_type},
                content=data,
            )
        )
        image: dict[str, Any] = {"alt": media.alt_text or "", "image": json_body(response)["blob"]}
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
        try:
            response = await send(
                lambda: self.http.get(
                    self._url("com.atproto.repo.getRecord"),
                    params={"repo": repo, "collection": collection, "rkey": rkey},
                ),
                missing=frozenset({"RecordNotFound"}),
            )
        except Missing:
            raise Refused("The post to reply to no longer exists on Bluesky.") from None
        found = json_body(response)
        ref: dict[str, Any] = {"uri": found["uri"], "cid": found["cid"]}
        value = found.get("value")
        root = value.get("reply", {}).get("root") if isinstance(value, dict) else None
        if isinstance(root, dict) and root.get("uri") and root.get("cid"):
            ref["root"] = {"uri": root["uri"], "cid": root["cid"]}
        return ref

    async def delete_comment(self, comment: Comment) -> None:
        """Only our own replies: a record can be deleted by the repository that holds it."""
        await self.delete(comment.comment_id)


def _pds_endpoint(did_doc: object) -> str | None:
    """The account's PDS from its DID document (bsky.social accounts live on other hosts)."""
    if not isinstance(did_doc, dict):
        return None
    for service in did_doc.get("service", []):
        if isinstance(service, dict) and str(service.get("id", "")).endswith("#atproto_pds"):
            endpoint = service.get("serviceEndpoint")
            return endpoint if isinstance(endpoint, str) else None
    return None
