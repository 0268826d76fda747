"""A fake LinkedIn API written from LinkedIn's reference pages (no machine-readable spec exists).

- Versioning: every /rest call needs ``LinkedIn-Version: YYYYMM`` of an active version and
  ``X-Restli-Protocol-Version: 2.0.0``
  (https://learn.microsoft.com/en-us/linkedin/marketing/versioning); an inactive one is 426.
- Rest.li 2.0: URNs in paths and query strings are percent-encoded
  (https://learn.microsoft.com/en-us/linkedin/shared/api-guide/concepts/protocol-version).
- Posts API
  (https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/posts-api):
  POST /rest/posts answers 201 with the URN in ``x-restli-id``; GET ?q=author; DELETE.
  Commentary is "little" text: an unescaped reserved character cuts the post there, silently,
  as LinkedIn does (little-text-format page); hashtags read back as ``{hashtag|\\#|word}``.
- Images API: POST /rest/images?action=initializeUpload, then PUT the bytes to uploadUrl.
- Videos API: :mod:`tests.support.fakes.linkedin_videos`; a post names a video in
  ``content.media`` (``id``, optional ``title``).
- OpenID userinfo (/v2/userinfo), organizationAcls (q=roleAssignee), organizations/{id},
  socialMetadata, socialActions comments, networkSizes.
- OAuth (https://learn.microsoft.com/en-us/linkedin/shared/authentication/authorization-code-flow):
  the consent page at /oauth/v2/authorization (a refusal comes back as
  ``error=user_cancelled_authorize``); POST /oauth/v2/accessToken with grant_type, code,
  client_id, client_secret and the redirect_uri of the authorization, answering
  ``access_token``, ``expires_in`` (60 days), ``refresh_token``, ``refresh_token_expires_in``
  and ``scope``; a code LinkedIn cannot match is ``invalid_request`` ("Unable to retrieve
  access token: appid/redirect uri/code verifier does not match authorization code. Or
  authorization code expired..."), a client that fails to authenticate ``invalid_client``.
  Refresh (https://learn.microsoft.com/en-us/linkedin/shared/authentication/programmatic-refresh-tokens):
  grant_type=refresh_token with the client's id and secret; the refresh token stays the same.
Errors use LinkedIn's shape: {"status", "serviceErrorCode", "code", "message"}.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from typing import Any, NoReturn

from tests.support.fakes.asgi import FakeServer, Request, Response, json_response
from tests.support.fakes.linkedin_videos import VideosApi
from tests.support.fakes.oauth import AuthorizationServer, GrantRefused, Refusal

ACTIVE_VERSIONS = {f"{year}{month:02d}" for year in (2025, 2026) for month in range(1, 13)}
RESERVED = set("|{}@[]()<>#\\*_~")
POST_FIELDS = {
    "author",
    "commentary",
    "visibility",
    "distribution",
    "content",
    "lifecycleState",
    "isReshareDisabledByAuthor",
    "contentLandingPage",
    "contentCallToActionLabel",
    "adContext",
    "container",
    "reshareContext",
}
REQUIRED_POST_FIELDS = {"author", "commentary", "visibility", "distribution", "lifecycleState"}
VISIBILITY = {"PUBLIC", "CONNECTIONS", "LOGGED_IN", "CONTAINER"}
FEED_DISTRIBUTION = {"MAIN_FEED", "NONE"}
URN_IN_PATH = re.compile(r"urn:li:")
CODE_NOT_MATCHED = (
    "Unable to retrieve access token: appid/redirect uri/code verifier does not match "
    "authorization code. Or authorization code expired. Or external member binding exists"
)


class LinkedInError(Exception):
    def __init__(self, status: int, message: str, code: str = "ILLEGAL_ARGUMENT") -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def millis() -> int:
    return int(time.time() * 1000)


def read_little(commentary: str) -> str:
    """The commentary LinkedIn keeps: cut at the first unescaped reserved character."""
    kept, index = [], 0
    while index < len(commentary):
        char = commentary[index]
        if char == "\\" and index + 1 < len(commentary):
            kept.append(commentary[index : index + 2])
            index += 2
            continue
        if char == "#":  # a hashtag element: '#' then word characters
            tag = re.match(r"#(\w+)", commentary[index:], re.UNICODE)
            if tag:
                kept.append("{hashtag|\\#|" + tag.group(1) + "}")
                index += len(tag.group(0))
                continue
        if char in RESERVED:
            break
        kept.append(char)
        index += 1
    return "".join(kept)


class FakeLinkedIn(VideosApi, FakeServer):
    def __init__(
        self, token: str, client_id: str = "client-1", client_secret: str = "secret"
    ) -> None:
        FakeServer.__init__(self)
        VideosApi.__init__(self)
        self.token = token  # the newest; every token issued stays good (``tokens``)
        self.tokens = {token}
        self.refresh_token = "refresh-" + secrets.token_hex(6)
        self.member = {
            "sub": "782bbtaQ",
            "name": "Ada Lovelace",
            "picture": "https://media.test/a.jpg",
        }
        denial = {
            "error": "user_cancelled_authorize",
            "error_description": "The user cancelled the authorization",
        }
        self.oauth = AuthorizationServer(client_id, client_secret, self.member["sub"], denial)
        self.person = f"urn:li:person:{self.member['sub']}"
        self.organizations = {"2414183": {"localizedName": "Devtestco", "vanityName": "devtestco"}}
        self.posts: dict[str, dict[str, Any]] = {}
        self.images: dict[str, bytes | None] = {}
        self.comments: dict[str, list[dict[str, Any]]] = {}  # object URN -> comments
        self._ids = itertools.count(7_100_000_000_000_000_000)

    # -- plumbing ------------------------------------------------------------------------------

    def refuse(self, status: int, message: str, code: str = "ILLEGAL_ARGUMENT") -> NoReturn:
        raise LinkedInError(status, message, code)

    def failure(self, request: Request, status: int) -> Response:
        return self.error(LinkedInError(status, f"Injected HTTP {status}", "INJECTED"))

    def error(self, error: LinkedInError) -> Response:
        body = {
            "status": error.status,
            "serviceErrorCode": 100,
            "code": error.code,
            "message": error.message,
        }
        return json_response(error.status, body)

    def handle(self, request: Request) -> Response:
        if request.path == "/oauth/v2/authorization":
            return self.oauth.authorize(request)
        if request.path == "/oauth/v2/accessToken":
            return self._token(request)
        try:
            if request.bearer not in self.tokens:
                raise LinkedInError(401, "Invalid access token", "REVOKED_ACCESS_TOKEN")
            if request.path.startswith("/dms-uploads/video/"):
                return self.receive_part(request)
            if request.path.startswith("/dms-uploads/"):
                return self._receive_image(request)
            if request.path == "/v2/userinfo":
                return json_response(200, self.member)
            if not request.path.startswith("/rest/"):
                raise LinkedInError(404, f"No resource {request.path}", "RESOURCE_NOT_FOUND")
            self._check_protocol(request)
            return self._route(request)
        except LinkedInError as error:
            return self.error(error)

    def _check_protocol(self, request: Request) -> None:
        version = request.headers.get("linkedin-version", "")
        if not version:
            raise LinkedInError(
                400,
                "A version must be present. "
                "Please specify a version by adding the LinkedIn-Version header.",
                "VERSION_MISSING",
            )
        if version not in ACTIVE_VERSIONS:
            raise LinkedInError(
                426, f"Requested version {version} is not active", "NONEXISTENT_VERSION"
            )
        if request.headers.get("x-restli-protocol-version") != "2.0.0":
            raise LinkedInError(400, "X-Restli-Protocol-Version 2.0.0 is required")
        raw_query = "&".join(f"{k}={v}" for k, v in request.query)
        if URN_IN_PATH.search(request.raw_path.split("?")[0]) or (
            URN_IN_PATH.search(raw_query) and "urn%3Ali%3A" not in request.raw_query
        ):
            raise LinkedInError(400, "URNs must be URL-encoded (Rest.li 2.0.0)")

    def _route(self, request: Request) -> Response:
        method, path = request.method, request.path
        parts = path.removeprefix("/rest/").split("/")
        video = self.video_route(request, parts)
        if video is not None:
            return video
        if (method, path) == ("POST", "/rest/posts"):
            return self._create_post(request)
        if (method, path) == ("GET", "/rest/posts"):
            return self._find_posts(request)
        if method == "DELETE" and parts[0] == "posts" and len(parts) == 2:
            if self.posts.pop(parts[1], None) is None:
                raise LinkedInError(404, "Post not found", "NOT_FOUND")
            return Response(204)
        if (method, path) == ("POST", "/rest/images") and request.param(
            "action"
        ) == "initializeUpload":
            return self._initialize_upload(request)
        if (method, path) == ("GET", "/rest/organizationAcls"):
            return self._acls(request)
        if method == "GET" and parts[0] == "organizations" and parts[1] in self.organizations:
            return json_response(200, {"id": int(parts[1]), **self.organizations[parts[1]]})
        if method == "GET" and parts[0] == "socialMetadata":
            return self._social_metadata(parts[1])
        if method == "GET" and parts[0] == "networkSizes":
            if request.param("edgeType") != "COMPANY_FOLLOWED_BY_MEMBER":
                raise LinkedInError(400, "edgeType must be COMPANY_FOLLOWED_BY_MEMBER")
            return json_response(200, {"firstDegreeSize": 1200})
        if parts[0] == "socialActions" and len(parts) >= 3 and parts[2] == "comments":
            return self._social_actions(request, parts)
        raise LinkedInError(404, f"No resource {method} {path}", "RESOURCE_NOT_FOUND")

    def _token(self, request: Request) -> Response:
        form = request.form()
        if form.get("grant_type") == "authorization_code":
            try:
                grant = self.oauth.redeem(form, form.get("client_secret"))
            except GrantRefused as refused:
                if refused.refusal is Refusal.BAD_CLIENT:
                    return self._oauth_error(401, "invalid_client", "Client authentication failed")
                return self._oauth_error(400, "invalid_request", CODE_NOT_MATCHED)
            self.refresh_token = self.oauth.new_token("AQX")
            return self._issue(",".join(grant.scope.split()))
        if (form.get("client_id"), form.get("client_secret")) != (
            self.oauth.client_id,
            self.oauth.client_secret,
        ):
            return self._oauth_error(401, "invalid_client", "Client authentication failed")
        if (
            form.get("grant_type") != "refresh_token"
            or form.get("refresh_token") != self.refresh_token
        ):
            return self._oauth_error(
                400, "invalid_request", "The provided refresh token is invalid"
            )
        return self._issue("openid,profile,w_member_social")

    def _issue(self, scope: str) -> Response:
        self.token = self.oauth.new_token("AQV")
        self.tokens.add(self.token)
        body = {
            "access_token": self.token,
            "expires_in": 5184000,
            "refresh_token": self.refresh_token,
            "refresh_token_expires_in": 31536000,
            "scope": scope,
        }
        return json_response(200, body)

    @staticmethod
    def _oauth_error(status: int, error: str, description: str) -> Response:
        return json_response(status, {"error": error, "error_description": description})

    # -- organisations -------------------------------------------------------------------------

    def _acls(self, request: Request) -> Response:
        if request.param("q") != "roleAssignee":
            raise LinkedInError(400, "Unknown finder")
        elements = [
            {
                "roleAssignee": self.person,
                "state": "APPROVED",
                "role": "ADMINISTRATOR",
                "organization": f"urn:li:organization:{org_id}",
            }
            for org_id in self.organizations
            if request.param("role") in (None, "ADMINISTRATOR")
            and request.param("state") in (None, "APPROVED")
        ]
        return json_response(
            200, {"paging": {"count": 10, "start": 0, "links": []}, "elements": elements}
        )

    def _authors(self) -> set[str]:
        return {self.person, *(f"urn:li:organization:{i}" for i in self.organizations)}

    # -- images --------------------------------------------------------------------------------

    def _initialize_upload(self, request: Request) -> Response:
        owner = (request.json() or {}).get("initializeUploadRequest", {}).get("owner")
        if owner not in self._authors():
            raise LinkedInError(
                403, "Not enough permissions to upload for this owner", "ACCESS_DENIED"
            )
        image = f"urn:li:image:C4E{secrets.token_hex(6)}"
        self.images[image] = None
        upload = f"{request.origin}/dms-uploads/{image.rsplit(':', 1)[1]}?ca=vector_feedshare"
        value = {"uploadUrlExpiresAt": millis() + 3_600_000, "uploadUrl": upload, "image": image}
        return json_response(200, {"value": value})

    def _receive_image(self, request: Request) -> Response:
        image = "urn:li:image:" + request.path.rsplit("/", 1)[1]
        if request.method != "PUT" or image not in self.images or not request.body:
            raise LinkedInError(400, "Bad upload")
        self.images[image] = request.body
        return Response(201)

    # -- posts ---------------------------------------------------------------------------------

    def _create_post(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            raise LinkedInError(400, "Request body could not be converted to data map")
        problems = [
            f"ERROR :: /{k} :: unrecognized field found but not allowed"
            for k in body
            if k not in POST_FIELDS
        ]
        problems += [
            f"ERROR :: /{k} :: field is required but not found and has no default value"
            for k in REQUIRED_POST_FIELDS - body.keys()
        ]
        if problems:
            raise LinkedInError(422, "\n".join(problems), "UNPROCESSABLE_ENTITY")
        if body["author"] not in self._authors():
            raise LinkedInError(
                403, "Not enough permissions to post as this author", "ACCESS_DENIED"
            )
        if (
            body["visibility"] not in VISIBILITY
            or body["distribution"].get("feedDistribution") not in FEED_DISTRIBUTION
        ):
            raise LinkedInError(422, "ERROR :: /visibility or /distribution :: invalid value")
        if len(re.sub(r"\\(.)", r"\1", body["commentary"])) > 3000:  # escapes not counted
            raise LinkedInError(422, "ERROR :: /commentary :: length exceeds 3000")
        self._check_content(body.get("content"))
        post_urn = f"urn:li:share:{next(self._ids)}"
        now = millis()
        self.posts[post_urn] = {
            **body,
            "id": post_urn,
            "commentary": read_little(body["commentary"]),
            "createdAt": now,
            "publishedAt": now,
            "lastModifiedAt": now,
        }
        self.comments[post_urn] = [
            self._new_comment(post_urn, "urn:li:person:viewer1", "Congratulations!")
        ]
        return Response(201, headers={"x-restli-id": post_urn})

    def _check_content(self, content: Any) -> None:
        if content is None:
            return
        if not isinstance(content, dict) or len(content) != 1:
            raise LinkedInError(422, "ERROR :: /content :: exactly one content type")
        kind, value = next(iter(content.items()))
        if kind == "media" and str(value.get("id", "")).startswith("urn:li:video:"):
            self.check_video(value)
            return
        if kind == "media":
            images = [value]
        elif kind == "multiImage":
            images = value.get("images", [])
            if not 2 <= len(images) <= 20:
                raise LinkedInError(422, "ERROR :: /content/multiImage :: 2 to 20 images")
        elif kind == "article":
            if not value.get("source") or not value.get("title"):
                raise LinkedInError(
                    422, "ERROR :: /content/article :: source and title are required"
                )
            return
        else:
            raise LinkedInError(422, f"ERROR :: /content/{kind} :: unsupported by this fake")
        for image in images:
            if set(image) - {"id", "altText"} or self.images.get(image.get("id")) is None:
                raise LinkedInError(
                    422, f"ERROR :: /content :: image {image.get('id')} is not uploaded"
                )

    def _find_posts(self, request: Request) -> Response:
        if request.param("q") != "author":
            raise LinkedInError(400, "Unknown finder")
        author = request.param("author")
        count = int(request.param("count") or 10)
        found = [p for p in self.posts.values() if p["author"] == author]
        found.sort(key=lambda p: p["lastModifiedAt"], reverse=True)
        return json_response(
            200, {"paging": {"start": 0, "count": count, "links": []}, "elements": found[:count]}
        )

    # -- social actions ------------------------------------------------------------------------

    def _social_metadata(self, entity: str) -> Response:
        if entity not in self.posts:
            raise LinkedInError(404, "Entity not found", "NOT_FOUND")
        count = len(self.comments.get(entity, []))
        return json_response(
            200,
            {
                "reactionSummaries": {
                    "LIKE": {"reactionType": "LIKE", "count": 4},
                    "PRAISE": {"reactionType": "PRAISE", "count": 1},
                },
                "commentsState": "OPEN",
                "commentSummary": {"count": count, "topLevelCount": count},
                "entity": entity,
            },
        )

    def _new_comment(
        self, target: str, actor: str, text: str, parent: str | None = None
    ) -> dict[str, Any]:
        activity = target if parent is None else parent.split("(", 1)[1].split(",", 1)[0]
        comment_id = str(next(self._ids))
        comment = {
            "actor": actor,
            "agent": actor,
            "created": {"actor": actor, "time": millis()},
            "lastModified": {"actor": actor, "time": millis()},
            "id": comment_id,
            "commentUrn": f"urn:li:comment:({activity},{comment_id})",
            "message": {"text": text, "attributes": []},
            "object": activity,
        }
        if parent:
            comment["parentComment"] = parent
        return comment

    def _social_actions(self, request: Request, parts: list[str]) -> Response:
        target = parts[1]
        if request.method == "GET":
            elements = self.comments.get(target)
            if elements is None:
                raise LinkedInError(404, "Entity not found", "NOT_FOUND")
            return json_response(
                200, {"paging": {"start": 0, "count": 100, "links": []}, "elements": elements}
            )
        if request.method == "POST":
            body = request.json() or {}
            if body.get("actor") not in self._authors() or not body.get("message", {}).get("text"):
                raise LinkedInError(422, "ERROR :: /actor or /message :: invalid")
            parent = body.get("parentComment")
            if parent is not None and parent != target:
                raise LinkedInError(
                    422, "ERROR :: /parentComment :: must be the comment in the path"
                )
            owner = target if parent is None else body.get("object", "")
            if owner not in self.comments:
                raise LinkedInError(404, "Entity not found", "NOT_FOUND")
            comment = self._new_comment(owner, body["actor"], body["message"]["text"], parent)
            self.comments.setdefault(target, []).append(comment)
            return json_response(201, comment, {"x-restli-id": comment["commentUrn"]})
        if request.method == "DELETE" and len(parts) == 4:
            if request.param("actor") not in self._authors():
                raise LinkedInError(403, "actor is required", "ACCESS_DENIED")
            for owner in (target, *self.comments):
                kept = [c for c in self.comments.get(owner, []) if c["id"] != parts[3]]
                if len(kept) != len(self.comments.get(owner, [])):
                    self.comments[owner] = kept
                    return Response(204)
            raise LinkedInError(404, "Comment not found", "NOT_FOUND")
        raise LinkedInError(405, "Method not allowed")
