"""A fake Bluesky AppView, the service a PDS forwards app.bsky.* queries to.

The real PDS of the tests (tests/support/pds.py) is configured with this fake as its AppView
(``PDS_BSKY_APP_VIEW_URL`` / ``PDS_BSKY_APP_VIEW_DID``). The PDS then forwards each app.bsky.*
query it is sent with ``atproto-proxy: <that DID>#bsky_appview`` here, with a service-auth JWT
of the account that asked (https://atproto.com/specs/xrpc: ``iss`` the account, ``aud`` the
AppView, ``lxm`` the method, signed with the account's signing key). The fake:

* refuses a request without such a token, verified against the key the PLC directory lists
  for the account (``#atproto`` verification method, a multibase public key);
* answers from the PDS's own repositories, read at each request through the PDS's public
  methods (com.atproto.sync.listRepos, com.atproto.repo.describeRepo and listRecords), so that
  the posts, replies, likes, reposts, follows and thread gates a test writes to the real PDS
  are what it shows, counted as the AppView counts them;
* holds each answer to the output schema of its query in the lexicons the PDS itself was built
  with (the PDS launcher's checker): an answer that does not match is not sent, the request
  fails with 500, and the mismatch stays in ``problems`` for the test to report.

Served: app.bsky.feed.getPostThread (``threadViewPost`` tree, ``threadgate`` of the root),
app.bsky.feed.getPosts, app.bsky.actor.getProfile, app.bsky.notification.listNotifications
(the asking account's ``mention`` and ``reply`` notifications: others' posts whose facets
mention its DID, others' replies to its posts; newest first, ``reasons`` honoured)
(https://docs.bsky.app/docs/api/app-bsky-feed-get-post-thread,
https://docs.bsky.app/docs/api/app-bsky-feed-get-posts,
https://docs.bsky.app/docs/api/app-bsky-actor-get-profile,
https://docs.bsky.app/docs/api/app-bsky-notification-list-notifications).
"""

from __future__ import annotations

import base64
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.support.fakes.asgi import FakeServer, Request, Response, json_response

POST = "app.bsky.feed.post"
LIKE = "app.bsky.feed.like"
REPOST = "app.bsky.feed.repost"
FOLLOW = "app.bsky.graph.follow"
PROFILE = "app.bsky.actor.profile"
THREADGATE = "app.bsky.feed.threadgate"
COLLECTIONS = frozenset({POST, LIKE, REPOST, FOLLOW, PROFILE, THREADGATE})
THREAD_VIEW = "app.bsky.feed.defs#threadViewPost"
NOT_FOUND_POST = "app.bsky.feed.defs#notFoundPost"
MENTION_FACET = "app.bsky.richtext.facet#mention"
QUOTE_EMBEDS = frozenset({"app.bsky.embed.record", "app.bsky.embed.recordWithMedia"})
MAX_URIS = 25  # getPosts' uris maxLength
BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
# Public keys in DID documents (https://atproto.com/specs/cryptography): a "Multikey" starts
# with its curve's multicodec prefix; the older types name the curve and hold the bare key.
# Each with the JWT alg its signatures use.
MULTIKEY_CURVES: dict[bytes, tuple[ec.EllipticCurve, str]] = {
    b"\xe7\x01": (ec.SECP256K1(), "ES256K"),
    b"\x80\x24": (ec.SECP256R1(), "ES256"),
}
LEGACY_KEY_TYPES: dict[str, tuple[ec.EllipticCurve, str]] = {
    "EcdsaSecp256k1VerificationKey2019": (ec.SECP256K1(), "ES256K"),
    "EcdsaSecp256r1VerificationKey2019": (ec.SECP256R1(), "ES256"),
}


class Refusal(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


@dataclass(frozen=True)
class Record:
    uri: str
    cid: str
    value: dict[str, Any]

    @property
    def repo(self) -> str:
        return self.uri.removeprefix("at://").split("/")[0]


@dataclass(frozen=True)
class Seen:
    """A query the PDS forwarded, with the claims of its verified service-auth JWT."""

    nsid: str
    params: dict[str, list[str]]
    claims: dict[str, Any]
    token: str


class Repositories:
    """Every record the fake shows, as the PDS holds them at the time of the request."""

    def __init__(self, pds_url: str) -> None:
        self.handles: dict[str, str] = {}
        self.records: dict[str, list[Record]] = defaultdict(list)
        with httpx.Client(base_url=pds_url, timeout=30) as http:
            for repo in _pages(http, "com.atproto.sync.listRepos", {}, "repos"):
                described = _get(http, "com.atproto.repo.describeRepo", {"repo": repo["did"]})
                self.handles[repo["did"]] = described["handle"]
                for collection in COLLECTIONS & set(described.get("collections", ())):
                    params = {"repo": repo["did"], "collection": collection}
                    for item in _pages(http, "com.atproto.repo.listRecords", params, "records"):
                        self.records[collection].append(
                            Record(item["uri"], item["cid"], item["value"])
                        )
        self.by_uri = {r.uri: r for records in self.records.values() for r in records}

    def post(self, uri: str) -> Record | None:
        found = self.by_uri.get(uri)
        return found if found is not None and uri.split("/")[-2] == POST else None

    def replies_to(self, uri: str) -> list[Record]:
        replies = [r for r in self.records[POST] if _ref(r.value.get("reply"), "parent") == uri]
        return sorted(replies, key=lambda r: str(r.value.get("createdAt")))

    def subjects(self, collection: str, uri: str) -> int:
        return sum(1 for r in self.records[collection] if _ref(r.value, "subject") == uri)

    def quotes(self, uri: str) -> int:
        def quoted(embed: Any) -> str | None:
            if not isinstance(embed, dict) or embed.get("$type") not in QUOTE_EMBEDS:
                return None
            inner = embed.get("record", {})
            # recordWithMedia nests the record embed one level deeper.
            return _ref(inner, "record") if "record" in inner else inner.get("uri")

        return sum(1 for r in self.records[POST] if quoted(r.value.get("embed")) == uri)

    # -- views (app.bsky.actor.defs, app.bsky.feed.defs) ----------------------------------------

    def profile_basic(self, did: str) -> dict[str, Any]:
        view: dict[str, Any] = {"did": did, "handle": self.handles.get(did, "handle.invalid")}
        profile = self.by_uri.get(f"at://{did}/{PROFILE}/self")
        if profile is not None and profile.value.get("displayName"):
            view["displayName"] = profile.value["displayName"]
        return view

    def post_view(self, post: Record) -> dict[str, Any]:
        return {
            "uri": post.uri,
            "cid": post.cid,
            "author": self.profile_basic(post.repo),
            "record": post.value,
            "replyCount": len(self.replies_to(post.uri)),
            "repostCount": self.subjects(REPOST, post.uri),
            "likeCount": self.subjects(LIKE, post.uri),
            "quoteCount": self.quotes(post.uri),
            "indexedAt": post.value["createdAt"],
        }

    def thread(self, post: Record, depth: int) -> dict[str, Any]:
        view: dict[str, Any] = {"$type": THREAD_VIEW, "post": self.post_view(post)}
        if depth > 0:
            view["replies"] = [self.thread(r, depth - 1) for r in self.replies_to(post.uri)]
        return view

    def parents(self, post: Record, height: int) -> dict[str, Any] | None:
        uri = _ref(post.value.get("reply"), "parent")
        if uri is None or height <= 0:
            return None
        parent = self.post(uri)
        if parent is None:
            return {"$type": NOT_FOUND_POST, "uri": uri, "notFound": True}
        view = {"$type": THREAD_VIEW, "post": self.post_view(parent)}
        above = self.parents(parent, height - 1)
        return {**view, "parent": above} if above else view

    def threadgate(self, post: Record) -> dict[str, Any] | None:
        """The gate of the thread's root: same repository, same record key as the root."""
        root = _ref(post.value.get("reply"), "root") or post.uri
        repo, _, rkey = root.removeprefix("at://").split("/")
        gate = self.by_uri.get(f"at://{repo}/{THREADGATE}/{rkey}")
        if gate is None:
            return None
        return {"uri": gate.uri, "cid": gate.cid, "record": gate.value, "lists": []}


class FakeAppView(FakeServer):
    def __init__(self, did: str) -> None:
        super().__init__()
        self.did = did
        self.url = ""  # where it is served, set by whoever serves it
        # Known once the PDS runs (it is started with this fake's URL, so after it).
        self.pds_url: str | None = None
        self.plc_url: str | None = None
        self.lexicons_url: str | None = None
        self.seen: list[Seen] = []
        self.problems: list[str] = []
        self.queries: dict[str, Callable[[Repositories, Request, str], dict[str, Any]]] = {
            "app.bsky.feed.getPostThread": self._get_post_thread,
            "app.bsky.feed.getPosts": self._get_posts,
            "app.bsky.actor.getProfile": self._get_profile,
            "app.bsky.notification.listNotifications": self._list_notifications,
        }

    def serve(self, pds_url: str, plc_url: str, lexicons_url: str) -> None:
        self.pds_url, self.plc_url, self.lexicons_url = pds_url, plc_url, lexicons_url

    def handle(self, request: Request) -> Response:
        nsid = request.path.removeprefix("/xrpc/")
        query = self.queries.get(nsid)
        if query is None or self.pds_url is None:
            return _error(Refusal(501, "MethodNotImplemented", f"{nsid} is not served here"))
        try:
            claims = self._service_auth(request, nsid)
            self.seen.append(Seen(nsid, _params(request), claims, request.bearer or ""))
            body = query(Repositories(self.pds_url), request, str(claims.get("iss")))
        except Refusal as refusal:
            return _error(refusal)
        mismatch = self._mismatch(nsid, body)
        if mismatch:
            self.problems.append(f"{nsid}: {mismatch}")
            return _error(Refusal(500, "InternalServerError", f"lexicon mismatch: {mismatch}"))
        return json_response(200, body)

    # -- service auth -----------------------------------------------------------------------------

    def _service_auth(self, request: Request, nsid: str) -> dict[str, Any]:
        token = request.bearer
        if not token or token.count(".") != 2:
            raise Refusal(401, "AuthMissing", "a service-auth JWT is required")
        head, payload, signature = token.split(".")
        header, claims = _b64json(head), _b64json(payload)
        wanted = {"aud": self.did, "lxm": nsid}
        if {k: claims.get(k) for k in wanted} != wanted:
            raise Refusal(401, "BadJwtAudience", f"claims {claims} are not for {wanted}")
        if not isinstance(claims.get("exp"), int) or claims["exp"] < time.time():
            raise Refusal(401, "JwtExpired", "the service-auth JWT has expired")
        key, alg = self._signing_key(str(claims.get("iss")))
        if header.get("alg") != alg:
            raise Refusal(401, "BadJwtSignature", f"alg {header.get('alg')}, key wants {alg}")
        raw = _b64(signature)
        der = encode_dss_signature(int.from_bytes(raw[:32]), int.from_bytes(raw[32:]))
        try:
            key.verify(der, f"{head}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise Refusal(401, "BadJwtSignature", "not signed by the account's key") from None
        return claims

    def _signing_key(self, did: str) -> tuple[ec.EllipticCurvePublicKey, str]:
        document = httpx.get(f"{self.plc_url}/{did}", timeout=10)
        if document.status_code != 200:
            raise Refusal(401, "BadJwtIssuer", f"{did} is not in the PLC directory")
        for method in document.json().get("verificationMethod", []):
            if method.get("id", "").endswith("#atproto"):
                key = _base58(method["publicKeyMultibase"].removeprefix("z"))
                if method.get("type") == "Multikey":
                    (curve, alg), key = MULTIKEY_CURVES[key[:2]], key[2:]
                else:
                    curve, alg = LEGACY_KEY_TYPES[method.get("type")]
                return ec.EllipticCurvePublicKey.from_encoded_point(curve, key), alg
        raise Refusal(401, "BadJwtIssuer", f"{did} lists no #atproto key")

    # -- lexicons ---------------------------------------------------------------------------------

    def _mismatch(self, nsid: str, body: dict[str, Any]) -> str | None:
        assert self.lexicons_url is not None
        checked = httpx.post(f"{self.lexicons_url}/{nsid}", content=json.dumps(body), timeout=10)
        if checked.status_code == 200:
            return None
        return str(checked.json().get("message") or checked.text)

    # -- queries ----------------------------------------------------------------------------------

    def _get_post_thread(self, repos: Repositories, request: Request, _: str) -> dict[str, Any]:
        uri = request.param("uri") or ""
        post = repos.post(uri)
        if post is None:  # as Bluesky's AppView answers an unknown post
            raise Refusal(400, "NotFound", f"Post not found: {uri}")
        thread = repos.thread(post, _integer(request, "depth", 6))
        parent = repos.parents(post, _integer(request, "parentHeight", 80))
        if parent is not None:
            thread["parent"] = parent
        answer: dict[str, Any] = {"thread": thread}
        gate = repos.threadgate(post)
        if gate is not None:
            answer["threadgate"] = gate
        return answer

    def _get_posts(self, repos: Repositories, request: Request, _: str) -> dict[str, Any]:
        uris = request.params("uris")
        if not 1 <= len(uris) <= MAX_URIS:
            raise Refusal(400, "InvalidRequest", f"uris: 1 to {MAX_URIS} at:// URIs")
        # Unknown posts are left out, not errors.
        return {"posts": [repos.post_view(p) for uri in uris if (p := repos.post(uri))]}

    def _get_profile(self, repos: Repositories, request: Request, _: str) -> dict[str, Any]:
        actor = request.param("actor") or ""
        did = next((d for d, h in repos.handles.items() if actor in (d, h)), None)
        if did is None:
            raise Refusal(400, "InvalidRequest", "Profile not found")
        follows = repos.records[FOLLOW]
        return {
            **repos.profile_basic(did),
            "followersCount": sum(1 for f in follows if f.value.get("subject") == did),
            "followsCount": sum(1 for f in follows if f.repo == did),
            "postsCount": sum(1 for p in repos.records[POST] if p.repo == did),
        }

    def _list_notifications(
        self, repos: Repositories, request: Request, caller: str
    ) -> dict[str, Any]:
        wanted = set(request.params("reasons")) or {"mention", "reply"}
        found = []
        for post in repos.records[POST]:
            if post.repo == caller:
                continue
            parent = _ref(post.value.get("reply"), "parent")
            mentioned = any(
                feature.get("$type") == MENTION_FACET and feature.get("did") == caller
                for facet in post.value.get("facets") or []
                for feature in facet.get("features") or []
            )
            if parent is not None and parent.removeprefix("at://").startswith(f"{caller}/"):
                reason = "reply"
            elif mentioned:
                reason = "mention"
            else:
                continue
            if reason in wanted:
                found.append(
                    {
                        "uri": post.uri,
                        "cid": post.cid,
                        "author": repos.profile_basic(post.repo),
                        "reason": reason,
                        "record": post.value,
                        "isRead": False,
                        "indexedAt": post.value["createdAt"],
                    }
                )
        found.sort(key=lambda n: str(n["indexedAt"]), reverse=True)
        return {"notifications": found[: _integer(request, "limit", 50)]}


# -- helpers ------------------------------------------------------------------------------------


def _get(http: httpx.Client, nsid: str, params: dict[str, str]) -> dict[str, Any]:
    answer = http.get(f"/xrpc/{nsid}", params=params)
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    return body


def _pages(
    http: httpx.Client, nsid: str, params: dict[str, str], key: str
) -> Iterator[dict[str, Any]]:
    cursor: str | None = None
    while True:
        page = _get(
            http, nsid, {**params, "limit": "100", **({"cursor": cursor} if cursor else {})}
        )
        yield from page.get(key, [])
        cursor = page.get("cursor")
        if not cursor or not page.get(key):
            return


def _ref(holder: Any, name: str) -> str | None:
    """The ``uri`` of the strong reference ``holder[name]``, if there is one."""
    ref = holder.get(name) if isinstance(holder, dict) else None
    uri = ref.get("uri") if isinstance(ref, dict) else None
    return uri if isinstance(uri, str) else None


def _integer(request: Request, name: str, default: int) -> int:
    value = request.param(name)
    try:
        return default if value is None else int(value)
    except ValueError:
        raise Refusal(400, "InvalidRequest", f"{name} must be an integer") from None


def _params(request: Request) -> dict[str, list[str]]:
    params: dict[str, list[str]] = defaultdict(list)
    for key, value in request.query:
        params[key].append(value)
    return dict(params)


def _error(refusal: Refusal) -> Response:
    return json_response(refusal.status, {"error": refusal.error, "message": refusal.message})


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _b64json(part: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64(part))
    except ValueError:
        raise Refusal(401, "BadJwt", "the JWT is not base64url JSON") from None
    return value if isinstance(value, dict) else {}


def _base58(text: str) -> bytes:
    """base58btc, the alphabet of multibase ``z`` keys."""
    number = 0
    for char in text:
        number = number * 58 + BASE58.index(char)
    leading = len(text) - len(text.lstrip("1"))
    return b"\0" * leading + number.to_bytes((number.bit_length() + 7) // 8, "big")
