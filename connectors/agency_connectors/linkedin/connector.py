"""The LinkedIn connector: posts of a member or of an organisation page they administer.

Which one a channel speaks for is the ``author`` URN kept in its credentials (``identify``
returns one account per author, each with its credentials). Every ``/rest`` call carries the
``LinkedIn-Version`` (YYYYMM) and ``X-Restli-Protocol-Version: 2.0.0`` headers; URNs in paths
and query strings are percent-encoded, as Rest.li 2.0 requires.

Images and videos can go up ahead of their post (``stage_media``: ``initializeUpload``, the
upload, and for a video ``finalizeUpload`` until it is ``AVAILABLE``); the post then names
the image or video URN. The Images and Videos API pages give the upload URL's expiry but no
time after which an unused image or video is dropped, nor a call that deletes one: staged
media are counted to last a day (``UPLOADED_MEDIA_LIFETIME``), staged at most the configured
lead ahead, and left to LinkedIn when no post names them.

No ``REVOKE``: LinkedIn's authentication pages (learn.microsoft.com/linkedin/shared/
authentication) document token introspection but no revocation endpoint, and a grant may
reach several organisations at once; the member removes the app in LinkedIn's settings
(Data privacy, Permitted services).
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from agency.connector import (
    Account,
    AccountMetrics,
    Capability,
    Comment,
    Connector,
    InvalidContent,
    Limits,
    Media,
    MediaRule,
    NotSupported,
    OAuthMetadata,
    Post,
    PostMetrics,
    Problem,
    Published,
    RateLimited,
    Refused,
    StagedMedia,
    Transient,
)
from agency.connector.base import AccountKind
from agency.connector.http import call, json_body
from agency_connectors.linkedin.little import escape, plain
from agency_connectors.linkedin.video import upload_video
from agency_connectors.matching import same_text

# Not documented (see above): an upload is named within a day or uploaded again.
UPLOADED_MEDIA_LIFETIME = timedelta(hours=24)
VERSION = re.compile(r"20\d{2}(0[1-9]|1[0-2])")
COMMENT_URN = re.compile(r"urn:li:comment:\((?P<object>.+),(?P<id>[^,()]+)\)")
DOCS = "https://learn.microsoft.com/en-us/linkedin/"
MANAGEMENT = f"{DOCS}marketing/community-management/"
MAX_PIXELS = 36_152_320  # the Images API's documented ceiling (width x height)
# The Videos API page: MP4, 500 MB at most, 3 seconds to 30 minutes.
VIDEO = MediaRule(
    frozenset({"video/mp4"}),
    max_bytes=500 * 1024**2,
    max_duration_seconds=30 * 60,
    min_duration_seconds=3,
)


def urn(value: str) -> str:
    """A URN as a path segment or query value (Rest.li 2.0: fully percent-encoded)."""
    return quote(value, safe="")


def from_millis(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value / 1000, UTC) if isinstance(value, int | float) else None


def seconds_until_utc_midnight(now: datetime | None = None) -> float:
    """LinkedIn's daily limits reset at midnight UTC."""
    here = now or datetime.now(UTC)
    midnight = (here + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - here).total_seconds()


def linkedin_words(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    message = body.get("message") if isinstance(body, dict) else None
    return f"LinkedIn: {message}" if message else None


class LinkedInConnector(Connector):
    network = "linkedin"
    display_name = "LinkedIn"
    default_base_url = "https://api.linkedin.com"
    oauth = OAuthMetadata(
        authorize_url="https://www.linkedin.com/oauth/v2/authorization",
        token_url="https://www.linkedin.com/oauth/v2/accessToken",
        scopes=(
            "openid",
            "profile",
            "w_member_social",
            "r_organization_social",
            "w_organization_social",
            "rw_organization_admin",
        ),
        # LinkedIn's web flow is a plain authorization-code grant: PKCE is documented only
        # for native apps of approved partners.
        pkce=False,
        # Refresh tokens go to approved Marketing partners only; other apps get none and the
        # channel is reconnected when the 60-day access token ends.
        refreshable=True,
    )
    limits = Limits(
        max_text_length=3000,
        max_media=20,
        media={
            "image": MediaRule(
                frozenset({"image/jpeg", "image/png", "image/gif"}), max_bytes=10 * 1024**2
            ),
            "video": VIDEO,
        },
        link_field=True,
        notes=(
            "Up to 20 images (one image, or 2 to 20 as a multi-image post), or one video alone.",
            "A video is an MP4 of 3 seconds to 30 minutes; the variant's title becomes its title.",
            "An image may hold at most 36,152,320 pixels; a GIF at most 250 frames.",
            "A link without images becomes an article card.",
            "Refresh tokens exist only for approved LinkedIn partners: other apps reconnect "
            "the channel every 60 days.",
            "Finding a member's own posts needs r_member_social, which LinkedIn grants to few "
            "apps: reconciliation works for organisation pages.",
        ),
    )
    # LinkedIn cannot hide a comment, keeps no idempotency key and has no first comment.
    capabilities = frozenset(Capability) - {
        Capability.REVOKE,  # no revocation endpoint documented (see above)
        Capability.HIDE_COMMENT,
        Capability.FIRST_COMMENT,
        Capability.IDEMPOTENCY_KEY,
        Capability.MENTIONS,  # not read yet (see docs/inbox.md)
        Capability.PRIVATE_MESSAGES,  # none in its public API (see docs/inbox.md)
    }
    staged_media_lifetime = UPLOADED_MEDIA_LIFETIME
    reference_docs = (
        f"{DOCS}shared/authentication/authorization-code-flow",
        f"{DOCS}consumer/integrations/self-serve/sign-in-with-linkedin-v2",
        f"{MANAGEMENT}shares/posts-api",
        f"{MANAGEMENT}shares/little-text-format",
        f"{MANAGEMENT}shares/images-api",
        f"{MANAGEMENT}shares/videos-api",
        f"{MANAGEMENT}shares/comments-api",
        f"{MANAGEMENT}shares/social-metadata-api",
        f"{MANAGEMENT}organizations/organization-access-control-by-role",
        f"{MANAGEMENT}organizations/organization-lookup-api",
        f"{DOCS}shared/api-guide/concepts/rate-limits",
        f"{DOCS}marketing/versioning",
    )

    # LinkedIn retires a version about a year after its release: AGENCY_LINKEDIN_VERSION
    # moves every deployment to a newer one without a code change.
    api_version: ClassVar[str] = "202610"
    # How long a post waits for LinkedIn to process its video.
    video_poll_seconds: ClassVar[float] = 5.0
    video_poll_attempts: ClassVar[int] = 60

    @classmethod
    def version(cls) -> str:
        chosen = os.environ.get("AGENCY_LINKEDIN_VERSION", cls.api_version)
        if not VERSION.fullmatch(chosen):
            raise ValueError(f"LinkedIn-Version must be YYYYMM, not {chosen!r}")
        return chosen

    @classmethod
    def network_problems(cls, post: Post) -> list[Problem]:
        problems = []
        videos = sum(1 for media in post.media if media.kind == "video")
        if videos > 1:
            words = f"LinkedIn takes one video per post, not {videos}."
            problems.append(Problem("media", words, "one_video_only"))
        for index, media in enumerate(post.media):
            pixels = (media.width or 0) * (media.height or 0)
            if media.kind != "video" and pixels > MAX_PIXELS:
                problems.append(
                    Problem(
                        f"media.{index}",
                        "LinkedIn takes images of at most 36 million pixels.",
                        "media_too_many_pixels",
                    )
                )
        return problems

    # -- HTTP ----------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.credentials.access_token}",
            "LinkedIn-Version": self.version(),
            "X-Restli-Protocol-Version": "2.0.0",
        }

    async def _send(
        self, method: str, path: str, *, publishing: bool = False, **kwargs: Any
    ) -> httpx.Response:
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        headers = {**self._headers(), **kwargs.pop("headers", {})}
        try:
            return await call(
                lambda: self.http.request(method, url, headers=headers, **kwargs),
                publishing=publishing,
                describe=linkedin_words,
            )
        except RateLimited as exc:
            if exc.retry_after is None:  # LinkedIn sends no Retry-After; days end at 00:00 UTC
                exc.retry_after = seconds_until_utc_midnight()
            raise
        except Refused as exc:
            if exc.status == 426:
                raise Refused(
                    f"LinkedIn no longer accepts API version {self.version()}; "
                    "set AGENCY_LINKEDIN_VERSION to a current one.",
                    status=426,
                ) from exc
            if exc.status == 422:
                raise InvalidContent([Problem("text", exc.message, "refused")], status=422) from exc
            raise

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._send(method, path, **kwargs)
        return json_body(response) if response.content else None

    # -- connecting ----------------------------------------------------------------------------

    async def _member(self) -> dict[str, Any]:
        # OpenID Connect userinfo: unversioned, under /v2.
        response = await call(
            lambda: self.http.get(
                f"{self.base_url}/v2/userinfo",
                headers={"Authorization": f"Bearer {self.credentials.access_token}"},
            ),
            describe=linkedin_words,
        )
        member: dict[str, Any] = json_body(response)
        return member

    async def _author(self) -> str:
        author = self.credentials.extra.get("author")
        if author:
            return author
        return f"urn:li:person:{(await self._member())['sub']}"

    async def identify(self) -> list[Account]:
        member = await self._member()
        person = f"urn:li:person:{member['sub']}"
        accounts = [self._account(person, member.get("name"), "user", avatar=member.get("picture"))]
        params = {"q": "roleAssignee", "role": "ADMINISTRATOR", "state": "APPROVED"}
        try:
            acls = await self._json("GET", "/rest/organizationAcls", params=params)
        except Refused:  # the member did not grant the organisation scopes
            return accounts
        for acl in acls.get("elements", []):
            organization = acl.get("organization", "")
            if not organization.startswith("urn:li:organization:"):
                continue
            found = await self._json("GET", f"/rest/organizations/{organization.rsplit(':', 1)[1]}")
            name, handle = found.get("localizedName"), found.get("vanityName")
            accounts.append(self._account(organization, name, "organization", handle=handle))
        return accounts

    def _account(
        self,
        author: str,
        name: str | None,
        kind: AccountKind,
        *,
        handle: str | None = None,
        avatar: str | None = None,
    ) -> Account:
        """One author the grant reaches, with the credentials that make a channel post as it."""
        current = self.credentials
        credentials = replace(current, extra={**current.extra, "author": author})
        return Account(author, name or author, handle, avatar, kind, credentials)

    # -- publishing ----------------------------------------------------------------------------

    async def _upload_image(self, author: str, image: Media) -> str:
        if image.source is None:
            raise InvalidContent([Problem("media", "An image file is missing.", "media_missing")])
        started = await self._json(
            "POST",
            "/rest/images",
            params={"action": "initializeUpload"},
            json={"initializeUploadRequest": {"owner": author}},
        )
        value = started["value"]
        await self._send("PUT", value["uploadUrl"], content=await image.source.read())
        return str(value["image"])

    async def _upload(self, author: str, media: Media) -> str:
        """The image or video URN of ``media``: named if it went up ahead, else uploaded."""
        if media.staged:
            return media.staged
        if media.kind == "video":
            return await upload_video(self, author, media)
        return await self._upload_image(author, media)

    async def stage_media(self, media: Media) -> StagedMedia:
        """The image or video, uploaded (and processed) for the channel's author ahead."""
        uploaded_at = datetime.now(UTC)
        uploaded = await self._upload(await self._author(), replace(media, staged=None))
        return StagedMedia(uploaded, uploaded_at + UPLOADED_MEDIA_LIFETIME)

    async def _content(self, author: str, post: Post) -> dict[str, Any] | None:
        if post.media and post.media[0].kind == "video":
            video = {"id": await self._upload(author, post.media[0])}
            return {"media": {**video, "title": post.title} if post.title else video}
        images = [
            {
                "id": await self._upload(author, m),
                **({"altText": m.alt_text} if m.alt_text else {}),
            }
            for m in post.media
        ]
        if len(images) == 1:
            return {"media": images[0]}
        if images:
            return {"multiImage": {"images": images}}
        if post.link:
            title = post.options.get("link_title") or post.title or post.link
            return {"article": {"source": post.link, "title": title}}
        return None

    async def publish(self, post: Post) -> Published:
        problems = self.validate(post)
        if problems:
            raise InvalidContent(problems)
        author = await self._author()
        body: dict[str, Any] = {
            "author": author,
            "commentary": escape(post.text),
            "visibility": "PUBLIC",
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        content = await self._content(author, post)
        if content:
            body["content"] = content
        response = await self._send("POST", "/rest/posts", json=body, publishing=True)
        post_urn = response.headers.get("x-restli-id")
        if not post_urn:
            raise Transient("LinkedIn accepted the post without naming it; it will be looked up.")
        return Published(post_urn, f"https://www.linkedin.com/feed/update/{post_urn}/")

    async def find_published(self, post: Post, since: datetime) -> Published | None:
        author = await self._author()
        # Built by hand: the author URN must reach LinkedIn percent-encoded.
        query = f"author={urn(author)}&q=author&count=50&sortBy=LAST_MODIFIED"
        data = await self._json("GET", f"/rest/posts?{query}")
        for element in data.get("elements", []):
            created = from_millis(element.get("publishedAt") or element.get("createdAt"))
            if created is not None and created < since:
                continue
            if same_text(post.text, plain(element.get("commentary", ""))):
                post_urn = str(element["id"])
                return Published(
                    post_urn, f"https://www.linkedin.com/feed/update/{post_urn}/", created
                )
        return None

    async def delete(self, post_id: str) -> None:
        await self._send(
            "DELETE", f"/rest/posts/{urn(post_id)}", headers={"X-RestLi-Method": "DELETE"}
        )

    # -- metrics -------------------------------------------------------------------------------

    async def post_metrics(self, post_id: str) -> PostMetrics:
        data = await self._json("GET", f"/rest/socialMetadata/{urn(post_id)}")
        reactions = data.get("reactionSummaries") or {}
        summary = data.get("commentSummary") or {}
        return PostMetrics(
            likes=sum(int(r.get("count", 0)) for r in reactions.values()),
            comments=summary.get("count"),
            raw=data,
        )

    async def account_metrics(self) -> AccountMetrics:
        author = await self._author()
        if not author.startswith("urn:li:organization:"):
            raise NotSupported("LinkedIn gives follower counts of organisation pages only.")
        data = await self._json(
            "GET",
            f"/rest/networkSizes/{urn(author)}",
            params={"edgeType": "COMPANY_FOLLOWED_BY_MEMBER"},
        )
        return AccountMetrics(followers=data.get("firstDegreeSize"), raw=data)

    # -- comments ------------------------------------------------------------------------------

    def _comment(self, element: dict[str, Any], post_id: str) -> Comment:
        comment_urn = element.get("commentUrn") or element.get("$URN") or str(element.get("id"))
        created = from_millis((element.get("created") or {}).get("time"))
        return Comment(
            comment_id=comment_urn,
            post_id=post_id,
            text=(element.get("message") or {}).get("text", ""),
            author_id=element.get("actor"),
            created_at=created,
            parent_id=element.get("parentComment"),
        )

    async def comments(self, post_id: str, since: datetime | None = None) -> list[Comment]:
        data = await self._json(
            "GET", f"/rest/socialActions/{urn(post_id)}/comments", params={"count": "100"}
        )
        found = [self._comment(e, post_id) for e in data.get("elements", [])]
        return [c for c in found if since is None or c.created_at is None or c.created_at >= since]

    async def reply(self, comment: Comment, text: str) -> Comment:
        """A reply under ``comment``, or a comment on the post when ``comment`` is the post
        itself (the pipeline's first comment): a post URN is no comment URN."""
        parsed = COMMENT_URN.fullmatch(comment.comment_id)
        on_post = parsed is None and comment.comment_id == comment.post_id
        if parsed is None and not on_post:
            raise Refused("This LinkedIn comment cannot be answered (unknown comment id).")
        body: dict[str, Any] = {
            "actor": await self._author(),
            "object": comment.post_id if parsed is None else parsed["object"],
            "message": {"text": text},
        }
        if parsed is not None:
            body["parentComment"] = comment.comment_id
        response = await self._send(
            "POST", f"/rest/socialActions/{urn(comment.comment_id)}/comments", json=body
        )
        created = json_body(response) if response.content else {}
        if not created.get("commentUrn"):
            created["commentUrn"] = response.headers.get("x-restli-id", "")
        return self._comment({**body, **created}, comment.post_id)

    async def delete_comment(self, comment: Comment) -> None:
        parsed = COMMENT_URN.fullmatch(comment.comment_id)
        if parsed is None:
            raise Refused("This LinkedIn comment cannot be deleted (unknown comment id).")
        target = comment.parent_id or comment.post_id
        actor = await self._author()
        await self._send(
            "DELETE",
            f"/rest/socialActions/{urn(target)}/comments/{parsed['id']}?actor={urn(actor)}",
        )
