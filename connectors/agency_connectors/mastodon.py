"""Mastodon (4.x REST API): statuses, media, replies and counts on any instance.

Every instance is its own authorization server: the agency registers an app on it
(``POST /api/v1/apps``) and runs the authorization-code flow there, with PKCE (S256,
supported since Mastodon 4.3). Access tokens do not expire and come without a refresh token.

Text is counted as Mastodon's ``StatusLengthValidator`` counts it: grapheme clusters, every
link (with its scheme) as 23, and a remote mention ``@user@domain`` as ``@user`` only; the
content warning (``options["spoiler_text"]``) counts towards the same limit.

Statuses are sent with the post's ``Idempotency-Key``: Mastodon keeps the key for an hour and
answers a repeated request with the status it already made, so a retry after a timeout does
not post twice.

Media can go up ahead of their status (``stage_media``: ``POST /api/v2/media``, then the
status names the attachment's id). Mastodon deletes an attachment that no status took after
a day (``Scheduler::MediaCleanupScheduler``); we count on 23 hours. One no post will name (the
post canceled or edited) is deleted at once where the server can (``DELETE
/api/v1/media/:id``, Mastodon 4.4 and later, for attachments no status holds).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import regex
from twitter_text import extract_urls_with_indices  # type: ignore[import-untyped]

from agency.connector import (
    Account,
    AccountMetrics,
    AuthKind,
    Capability,
    Comment,
    Connector,
    InvalidContent,
    Limits,
    Media,
    MediaRule,
    OAuthMetadata,
    Post,
    PostMetrics,
    Problem,
    Published,
    Refused,
    StagedMedia,
)
from agency.connector.base import files_missing
from agency.connector.http import call, json_body
from agency_connectors.answers import bearer_call, count, network_words, parse_time
from agency_connectors.matching import html_to_text, same_text

MB = 1 << 20
URL_WEIGHT = 23
VISIBILITIES = frozenset({"public", "unlisted", "private", "direct"})
MAX_MEDIA_CHECKS = 60
MEDIA_CHECK_SECONDS = 1.0
# Account::MENTION_RE: a username, optionally followed by the domain of a remote account.
MENTION = regex.compile(
    r"(?<![=/\w])@([a-z0-9_]+(?:[.-]+[a-z0-9_]+)*)(?:@\w+(?:[.-]+\w+)*)?", regex.IGNORECASE
)
GRAPHEME = regex.compile(r"\X")
# An attachment no status took is deleted after a day; an hour kept in hand.
UNATTACHED_LIFETIME = timedelta(hours=23)
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/heic", "image/avif"})

_words = network_words("Mastodon", "error")


def countable_text(text: str) -> str:
    """``text`` as Mastodon measures it: links as 23 characters, mentions without domain."""
    pieces: list[str] = []
    last = 0
    for url in extract_urls_with_indices(text, extract_urls_without_protocol=False):
        start, end = url["indices"]
        pieces += [text[last:start], "x" * URL_WEIGHT]
        last = end
    pieces.append(text[last:])
    return MENTION.sub(r"@\1", "".join(pieces))


# mastodon.social's endpoints; every other server gets its own (see ``oauth_metadata``).
OAUTH = OAuthMetadata(
    authorize_url="https://mastodon.social/oauth/authorize",
    token_url="https://mastodon.social/oauth/token",
    scopes=("read", "write"),
    pkce=True,
    token_auth_method="client_secret_post",
    refreshable=False,
    # POST /oauth/revoke with client_id, client_secret and token (docs.joinmastodon.org
    # /methods/oauth/#revoke). "Query strings, form data, and JSON submitted via POST body
    # are equally understood by the API" (docs.joinmastodon.org/client/intro/#parameters);
    # the published description declares a JSON body for this endpoint only, so it gets
    # JSON. The token endpoint takes RFC 6749's form, as the server and description do.
    revocation_url="https://mastodon.social/oauth/revoke",
    revocation_request_body="json",
)


class MastodonConnector(Connector):
    network = "mastodon"
    display_name = "Mastodon"
    auth_kind = AuthKind.OAUTH2_PER_INSTANCE
    default_base_url = "https://mastodon.social"
    oauth = OAUTH
    staged_media_lifetime = UNATTACHED_LIFETIME
    limits = Limits(
        max_text_length=500,
        text_counting="graphemes",
        max_media=4,
        media={
            "image": MediaRule(IMAGE_TYPES, max_bytes=16 * MB),
            "gif": MediaRule(frozenset({"image/gif"}), max_bytes=16 * MB),
            "video": MediaRule(
                frozenset({"video/mp4", "video/webm", "video/quicktime"}), max_bytes=99 * MB
            ),
        },
        mixed_media=False,
        notes=(
            "500 characters on a default instance; links count as 23.",
            "A mention of @user@domain counts as @user.",
            "Up to four images, or one video.",
        ),
    )
    capabilities = frozenset(
        {
            Capability.PUBLISH,
            Capability.FIND_PUBLISHED,
            Capability.DELETE,
            Capability.POST_METRICS,
            Capability.ACCOUNT_METRICS,
            Capability.MENTIONS,
            Capability.PRIVATE_MESSAGES,
            Capability.COMMENTS,
            Capability.REPLY,
            Capability.DELETE_COMMENT,
            Capability.IDEMPOTENCY_KEY,
            Capability.REVOKE,
            Capability.STAGE_MEDIA,
        }
    )
    reference_docs = (
        "https://docs.joinmastodon.org/methods/apps/#create",
        "https://docs.joinmastodon.org/client/intro/#parameters",
        "https://docs.joinmastodon.org/methods/oauth/",
        "https://docs.joinmastodon.org/spec/oauth/",
        "https://docs.joinmastodon.org/methods/accounts/#verify_credentials",
        "https://docs.joinmastodon.org/methods/accounts/#statuses",
        "https://docs.joinmastodon.org/methods/statuses/#create",
        "https://docs.joinmastodon.org/methods/statuses/#delete",
        "https://docs.joinmastodon.org/methods/statuses/#context",
        "https://docs.joinmastodon.org/methods/media/#v2",
        "https://docs.joinmastodon.org/user/posting/#text",
        "https://github.com/mastodon/mastodon/blob/main/app/validators/status_length_validator.rb",
        "https://github.com/abraham/mastodon-openapi",
    )

    @classmethod
    def oauth_metadata(cls, base_url: str) -> OAuthMetadata:
        base = base_url.rstrip("/")
        return dataclasses.replace(
            OAUTH,
            authorize_url=f"{base}/oauth/authorize",
            token_url=f"{base}/oauth/token",
            revocation_url=f"{base}/oauth/revoke",
        )

    # -- content rules -------------------------------------------------------------------------

    @classmethod
    def count_text(cls, text: str) -> int:
        return len(GRAPHEME.findall(countable_text(text)))

    @classmethod
    def network_problems(cls, post: Post) -> list[Problem]:
        problems: list[Problem] = []
        spoiler = str(post.options.get("spoiler_text") or "")
        length = cls.count_text(spoiler + post.text)
        if spoiler and length > cls.limits.max_text_length:
            problems.append(
                Problem(
                    "options.spoiler_text",
                    f"With the content warning the text is {length} characters; "
                    f"the limit is {cls.limits.max_text_length}.",
                    "text_too_long",
                )
            )
        if not post.text.strip() and not post.media:
            problems.append(Problem("text", "Mastodon needs some text or a media file.", "empty"))
        visibility = post.options.get("visibility")
        if visibility is not None and visibility not in VISIBILITIES:
            problems.append(
                Problem(
                    "options.visibility",
                    "Visibility must be public, unlisted, private or direct.",
                    "visibility",
                )
            )
        return problems

    @classmethod
    def delivery_problems(cls, post: Post) -> list[Problem]:
        return files_missing(post, "Mastodon needs the file itself.")

    # -- requests ----------------------------------------------------------------------------

    async def _send(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        body = await bearer_call(self, method, path, describe=_words, **kwargs)
        if not isinstance(body, dict):
            raise Refused("Mastodon answered without the expected data.")
        return body

    async def _me(self) -> dict[str, Any]:
        return await self._send("GET", "/api/v1/accounts/verify_credentials")

    async def _account_id(self) -> str:
        return self.credentials.extra.get("account_id") or str((await self._me())["id"])

    # -- connecting ------------------------------------------------------------------------------

    async def register_app(
        self, client_name: str, redirect_uri: str, website: str | None
    ) -> tuple[str, str]:
        """The agency's app on this instance: (client id, client secret)."""
        body: dict[str, Any] = {
            "client_name": client_name,
            "redirect_uris": [redirect_uri],
            "scopes": " ".join(self.oauth_metadata(self.base_url).scopes),
        }
        if website:
            body["website"] = website
        url = f"{self.base_url}/api/v1/apps"
        response = await call(lambda: self.http.post(url, json=body), describe=_words)
        app = json_body(response)
        if not (isinstance(app, dict) and app.get("client_id") and app.get("client_secret")):
            raise Refused("The Mastodon server did not register the app.")
        return str(app["client_id"]), str(app["client_secret"])

    async def identify(self) -> list[Account]:
        me = await self._me()
        return [
            Account(
                account_id=str(me["id"]),
                name=str(me.get("display_name") or me.get("username") or me["id"]),
                handle=me.get("acct") or me.get("username"),
                avatar_url=me.get("avatar"),
            )
        ]

    # -- publishing ----------------------------------------------------------------------------

    async def publish(self, post: Post) -> Published:
        self.check_publishable(post)
        media_ids = [media.staged or await self._upload(media) for media in post.media]
        body = self.status_body(post, media_ids)
        headers = {"Idempotency-Key": post.idempotency_key} if post.idempotency_key else {}
        status = await self._create_status(body, headers)
        return self._published(status)

    @staticmethod
    def status_body(post: Post, media_ids: list[str]) -> dict[str, Any]:
        text = post.text
        if post.link and post.link not in text:
            text = f"{text}\n{post.link}".strip()
        body: dict[str, Any] = {"status": text}
        if media_ids:
            body["media_ids"] = media_ids
        for option in ("visibility", "spoiler_text", "language", "sensitive"):
            if post.options.get(option) not in (None, ""):
                body[option] = post.options[option]
        return body

    async def _create_status(self, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        try:
            return await self._send(
                "POST", "/api/v1/statuses", json=body, headers=headers, publishing=True
            )
        except Refused as refused:
            if refused.status == 422:  # Mastodon's validation: the content itself
                raise InvalidContent(
                    [Problem("text", refused.message, "refused")], status=422
                ) from refused
            raise

    @staticmethod
    def _published(status: dict[str, Any]) -> Published:
        return Published(
            str(status["id"]),
            url=status.get("url") or status.get("uri"),
            published_at=parse_time(status.get("created_at")),
        )

    async def _upload(self, media: Media) -> str:
        """``POST /api/v2/media``; a 202 means the server is still processing the file."""
        assert media.source is not None  # validate() said so
        data = {"description": media.alt_text} if media.alt_text else {}
        name = f"upload.{media.mime_type.split('/')[-1]}"
        upload = {"file": (name, await media.source.read(), media.mime_type)}
        attachment = await self._send("POST", "/api/v2/media", files=upload, data=data)
        media_id = str(attachment["id"])
        for _ in range(MAX_MEDIA_CHECKS):
            if attachment.get("url"):
                return media_id
            await asyncio.sleep(MEDIA_CHECK_SECONDS)
            attachment = await self._send("GET", f"/api/v1/media/{media_id}")
        raise Refused("Mastodon is still processing the file; try again later.")

    async def stage_media(self, media: Media) -> StagedMedia:
        """The attachment, uploaded (and processed) before its status: its id."""
        uploaded_at = datetime.now(UTC)
        return StagedMedia(await self._upload(media), uploaded_at + UNATTACHED_LIFETIME)

    async def discard_staged(self, references: Sequence[str]) -> bool:
        """Attachments no status will take, deleted; one already gone (404), held by a status
        (422) or on a server before 4.4 (404 too) is left as it is."""
        deleted = True
        for media_id in references:
            try:
                path = f"/api/v1/media/{media_id}"
                await bearer_call(self, "DELETE", path, describe=_words)
            except Refused as refused:
                if refused.status not in (404, 410, 422):
                    raise
                deleted = deleted and refused.status in (404, 410)
        return deleted

    async def find_published(self, post: Post, since: datetime) -> Published | None:
        account_id = await self._account_id()
        params = {"limit": 40, "exclude_reblogs": "true"}
        statuses = await bearer_call(
            self, "GET", f"/api/v1/accounts/{account_id}/statuses", describe=_words, params=params
        )
        wanted = self.status_body(post, [])["status"]
        for status in statuses if isinstance(statuses, list) else []:
            if not isinstance(status, dict):
                continue
            created = parse_time(status.get("created_at"))
            if created is not None and created < since:
                continue
            if same_text(wanted, html_to_text(str(status.get("content") or ""))):
                return self._published(status)
        return None

    async def delete(self, post_id: str) -> None:
        await self._send("DELETE", f"/api/v1/statuses/{post_id}")

    # -- metrics -------------------------------------------------------------------------------

    async def post_metrics(self, post_id: str) -> PostMetrics:
        status = await self._send("GET", f"/api/v1/statuses/{post_id}")
        counts = {k: v for k, v in status.items() if k.endswith("_count")}
        return PostMetrics(
            likes=count(status, "favourites_count"),
            comments=count(status, "replies_count"),
            shares=count(status, "reblogs_count"),
            raw=counts,
        )

    async def account_metrics(self) -> AccountMetrics:
        me = await self._me()
        return AccountMetrics(
            followers=count(me, "followers_count"),
            following=count(me, "following_count"),
            posts=count(me, "statuses_count"),
            raw={k: v for k, v in me.items() if k.endswith("_count")},
        )

    # -- conversation ----------------------------------------------------------------------------

    async def comments(self, post_id: str, since: datetime | None = None) -> list[Comment]:
        """The replies below the status (its context's descendants)."""
        context = await self._send("GET", f"/api/v1/statuses/{post_id}/context")
        found = [
            self._comment(status, post_id)
            for status in context.get("descendants") or []
            if isinstance(status, dict)
        ]
        return [c for c in found if since is None or c.created_at is None or c.created_at >= since]

    async def mentions(self, since: datetime | None = None) -> list[Comment]:
        """Statuses naming the account: its notifications of type ``mention``, newest 80
        (``types[]`` as the server reads it). A reply below the brand's own status is a
        mention too: the inbox keeps it in that status's thread, read by :meth:`comments`."""
        params = {"types[]": "mention", "limit": 80}
        found = await bearer_call(
            self, "GET", "/api/v1/notifications", describe=_words, params=params
        )
        mentions = []
        for notification in found if isinstance(found, list) else []:
            if not isinstance(notification, dict) or notification.get("type") != "mention":
                continue
            status = notification.get("status")
            if not isinstance(status, dict) or not status.get("id"):
                continue
            if status.get("visibility") == "direct":
                continue  # a private message: read by :meth:`private_messages`, never public
            mention = dataclasses.replace(self._comment(status, str(status["id"])), parent_id=None)
            if since is None or mention.created_at is None or mention.created_at >= since:
                mentions.append(mention)
        return mentions

    async def private_messages(self, since: datetime | None = None) -> list[Comment]:
        """The account's direct conversations (newest 40), each message's ``post_id`` the
        conversation's id. A conversation lists only its last status: for one written since
        ``since``, the direct statuses it answers (its context's ancestors) are read too, so
        two messages between pulls are both read (a conversation whose last status is the
        brand's own answer has nothing new)."""
        found = await bearer_call(
            self, "GET", "/api/v1/conversations", describe=_words, params={"limit": 40}
        )
        messages = []
        for conversation in found if isinstance(found, list) else []:
            if not isinstance(conversation, dict) or not conversation.get("id"):
                continue
            status = conversation.get("last_status")
            if not isinstance(status, dict) or not status.get("id"):
                continue
            message = self._comment(status, str(conversation["id"]))
            if not self._since(message, since):
                continue
            messages.append(message)
            if message.parent_id:
                context = await self._send("GET", f"/api/v1/statuses/{status['id']}/context")
                messages.extend(
                    earlier
                    for ancestor in context.get("ancestors") or []
                    if isinstance(ancestor, dict)
                    and ancestor.get("id")
                    and ancestor.get("visibility") == "direct"
                    and self._since(earlier := self._comment(ancestor, message.post_id), since)
                )
        return messages

    @staticmethod
    def _since(message: Comment, since: datetime | None) -> bool:
        return since is None or message.created_at is None or message.created_at >= since

    async def reply_privately(self, comment: Comment, text: str, idempotency_key: str) -> Comment:
        """A ``direct`` status in reply to the message, naming only its author (Mastodon
        shows a direct status to those it mentions)."""
        return await self._reply(
            comment, text, {"Idempotency-Key": idempotency_key}, visibility="direct"
        )

    @staticmethod
    def _comment(status: dict[str, Any], post_id: str) -> Comment:
        account = status.get("account") or {}
        return Comment(
            comment_id=str(status["id"]),
            post_id=post_id,
            text=html_to_text(str(status.get("content") or "")),
            author_id=str(account["id"]) if account.get("id") else None,
            author_name=account.get("acct") or account.get("username"),
            created_at=parse_time(status.get("created_at")),
            parent_id=status.get("in_reply_to_id"),
        )

    async def reply(self, comment: Comment, text: str) -> Comment:
        return await self._reply(comment, text, {})

    async def reply_once(self, comment: Comment, text: str, idempotency_key: str) -> Comment:
        """The reply with its ``Idempotency-Key``, as statuses are published."""
        return await self._reply(comment, text, {"Idempotency-Key": idempotency_key})

    async def _reply(
        self,
        comment: Comment,
        text: str,
        headers: dict[str, str],
        visibility: str | None = None,
    ) -> Comment:
        # Mastodon notifies only those mentioned: address the reply to the comment's author.
        mention = f"@{comment.author_name}" if comment.author_name else ""
        if mention and mention.lower() not in text.lower():
            text = f"{mention} {text}"
        problems = [p for p in self.validate(Post(text=text)) if p.field == "text"]
        if problems:
            raise InvalidContent(problems)
        body = {"status": text, "in_reply_to_id": comment.comment_id}
        if visibility is not None:
            body["visibility"] = visibility
        status = await self._create_status(body, headers)
        return self._comment(status, comment.post_id)

    async def delete_comment(self, comment: Comment) -> None:
        """Only our own replies: Mastodon lets an account delete nothing else."""
        if comment.author_id != await self._account_id():
            raise Refused("Mastodon lets you delete only your own replies.")
        await self._send("DELETE", f"/api/v1/statuses/{comment.comment_id}")
