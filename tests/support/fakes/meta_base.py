"""What the fake Graph API (Facebook, Instagram) and the fake Threads API share.

Both speak Meta's Graph conventions, held here to the reference pages:

- error body ``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`` and
  codes (190 expired token, 4/17/32/613 throttling, 1/2 temporary):
  https://developers.facebook.com/docs/graph-api/guides/error-handling
- usage headers ``X-App-Usage`` (user tokens) and ``X-Business-Use-Case-Usage`` (Page tokens,
  with ``estimated_time_to_regain_access`` in minutes):
  https://developers.facebook.com/docs/graph-api/overview/rate-limiting
- ``fields`` selection and the answer for an unknown field or object:
  https://developers.facebook.com/docs/graph-api/overview (fields, nodes and edges)
- the login dialog and the code exchange (the code is good once, for the ``redirect_uri`` of
  the dialog; a refusal comes back as ``error_reason=user_denied&error=access_denied&
  error_description=Permissions+error.``):
  https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow

A token is read from ``Authorization: Bearer`` (RFC 6750, which the Graph API accepts) or
from the documented ``access_token`` parameter. Parameters the reference pages do not list
are refused with error 100, as are missing required ones: a connector that sends anything
undocumented fails its tests.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import default as email_policy
from typing import Any

from tests.support.fakes.asgi import FakeServer, Request, Response, json_response
from tests.support.fakes.oauth import AuthorizationServer, Grant, GrantRefused, Refusal

# The Graph code Meta answers for each HTTP status the contract's failure switch asks for.
CODE_FOR_STATUS = {400: 100, 401: 190, 403: 200, 429: 4, 500: 1, 503: 2}
EDGE_PAGING = ("fields", "limit", "after", "before")


class GraphError(Exception):
    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        subcode: int | None = None,
        kind: str = "OAuthException",
        user_msg: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.subcode, self.kind, self.user_msg = subcode, kind, user_msg

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.kind, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.user_msg:
            error["error_user_msg"] = self.user_msg
        error["fbtrace_id"] = "AbCdEfGhIjK"
        return {"error": error}


def invalid_param(message: str) -> GraphError:
    return GraphError(400, 100, f"(#100) {message}")


def no_such_object(method: str, node: str) -> GraphError:
    return GraphError(
        400,
        100,
        f"Unsupported {method.lower()} request. Object with ID '{node}' does not exist, cannot "
        "be loaded due to missing permissions, or does not support this operation.",
        subcode=33,
        kind="GraphMethodException",
    )


def bad_client_secret() -> GraphError:
    """A wrong app secret. Graph answers code 1, which its error table lists as "API Unknown,
    possibly a temporary issue": a client that trusts the table retries forever."""
    return GraphError(400, 1, "Error validating client secret.")


def code_error(refusal: Refusal) -> GraphError:
    """A refused code exchange. Meta documents the rules, not the words: these are Graph's."""
    if refusal is Refusal.BAD_CLIENT:
        return GraphError(400, 101, "Error validating application. Invalid application ID.")
    subcode, message = {
        Refusal.UNKNOWN_CODE: (36007, "Invalid verification code format."),
        Refusal.REUSED_CODE: (36009, "This authorization code has been used."),
        Refusal.REDIRECT_MISMATCH: (
            36008,
            "Error validating verification code. Please make sure your redirect_uri is "
            "identical to the one you used in the OAuth dialog request",
        ),
    }[refusal]
    return GraphError(400, 100, message, subcode=subcode)


def not_ready() -> GraphError:
    """Publishing a container still processing (Instagram error codes: 9007, 2207027)."""
    return GraphError(
        400,
        9007,
        "Media ID is not available",
        subcode=2207027,
        user_msg="The media is not ready for publishing, please wait for a moment",
    )


@dataclass
class Token:
    kind: str  # "user" or "page"
    subject: str  # the user's or the Page's id
    long_lived: bool = False
    expired: bool = False


@dataclass
class Failure:
    status: int
    code: int
    subcode: int | None = None
    message: str = "Simulated failure"
    regain_minutes: int | None = None
    only: str | None = None  # fail only the requests whose path ends with this


@dataclass
class Call:
    """One request as a route sees it."""

    method: str
    node: dict[str, Any]
    params: dict[str, str]
    files: dict[str, bytes]
    token: Token
    edge: str | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


def split_fields(spec: str) -> list[str]:
    """``a,b{c,d},e.summary(true)`` -> ``["a", "b{c,d}", "e.summary(true)"]``."""
    parts, depth, current = [], 0, ""
    for char in spec:
        depth += (char in "({") - (char in ")}")
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return [p for p in [*parts, current.strip()] if p]


def field_name(raw: str) -> str:
    match = re.match(r"[A-Za-z_]+", raw)
    return match.group() if match else raw


def nested_spec(raw: str) -> str | None:
    start = raw.find("{")
    return raw[start + 1 : raw.rfind("}")] if start >= 0 else None


def graph_time(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S+0000")


def parse_body(request: Request) -> tuple[dict[str, str], dict[str, bytes]]:
    """Form, multipart (``source`` uploads) or JSON parameters of a request body."""
    ctype = request.headers.get("content-type", "")
    if not request.body:
        return {}, {}
    if ctype.startswith("application/x-www-form-urlencoded"):
        return request.form(), {}
    if ctype.startswith("application/json"):
        return {k: str(v) for k, v in request.json().items()}, {}
    if not ctype.startswith("multipart/form-data"):
        raise invalid_param(f"Unsupported content type {ctype}")
    head = f"Content-Type: {ctype}\r\n\r\n".encode()
    message = BytesParser(policy=email_policy).parsebytes(head + request.body)
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if part.get_filename():
            files[str(name)] = data
        else:
            fields[str(name)] = data.decode()
    return fields, files


Route = Callable[[Call], dict[str, Any]]
Routes = dict[tuple[str, str, str | None], Route]  # (node type, method, edge or None) -> route


class MetaFake(FakeServer):
    """Routing, tokens, parameter checks, errors and the failure switch of a Meta fake."""

    #: Documented fields of each node type (``_node`` of an object), for ``fields=`` checks.
    node_fields: Mapping[str, frozenset[str]] = {}

    #: Where the login dialog lives (the browser's side of the grant).
    dialog_path = "/dialog/oauth"

    def __init__(self, version: str, client_id: str, client_secret: str) -> None:
        super().__init__()
        self.version = version
        self.client_id, self.client_secret = client_id, client_secret
        denial = {
            "error_reason": "user_denied",
            "error": "access_denied",
            "error_description": "Permissions error.",
        }
        # The user who logs in; subclasses name them once they exist.
        self.oauth = AuthorizationServer(client_id, client_secret, "", denial)
        self.processing_polls = 1  # IN_PROGRESS answers before a container is FINISHED
        self.tokens: dict[str, Token] = {}
        self.objects: dict[str, dict[str, Any]] = {}
        self.failure_spec: Failure | None = None
        self.usage_percent = 3
        self._ids = itertools.count(17_841_400_000_001)
        self.routes: Routes = {}

    # -- test controls ----------------------------------------------------------------------

    def new_id(self) -> str:
        return str(next(self._ids))

    def add(self, node: str, **fields: Any) -> dict[str, Any]:
        """A new object of type ``node``; keys starting with ``_`` are the fake's own."""
        obj = {"_node": node, "id": self.new_id(), "_at": datetime.now(UTC), **fields}
        self.objects[obj["id"]] = obj
        return obj

    def of_kind(self, node: str, **match: Any) -> list[dict[str, Any]]:
        """Objects of type ``node`` whose fields equal ``match``, oldest first."""
        found = [
            o
            for o in self.objects.values()
            if o["_node"] == node and all(o.get(k) == v for k, v in match.items())
        ]
        return sorted(found, key=lambda o: (o["_at"], o["id"]))

    def issue(
        self, kind: str, subject: str, *, value: str | None = None, long: bool = False
    ) -> str:
        token = value or f"EAA{kind}{self.new_id()}"
        self.tokens[token] = Token(kind, subject, long_lived=long)
        return token

    def expire(self, token: str) -> None:
        self.tokens[token].expired = True

    def fail(
        self,
        status: int,
        code: int | None = None,
        *,
        subcode: int | None = None,
        regain_minutes: int | None = None,
        message: str = "Simulated failure",
        only: str | None = None,
    ) -> None:
        """Answer every request (or those to ``only``) with this error until :meth:`recover`."""
        code = code if code is not None else CODE_FOR_STATUS.get(status, 1)
        self.failure_spec = Failure(status, code, subcode, message, regain_minutes, only)
        self.fail_with = None if only else status

    def recover(self) -> None:
        self.failure_spec, self.fail_with = None, None

    def seen(self, method: str, path_end: str) -> list[Request]:
        """Recorded requests with this method whose path ends with ``path_end``."""
        return [r for r in self.requests if r.method == method and r.path.endswith(path_end)]

    # -- the ASGI side ------------------------------------------------------------------------

    def failure(self, request: Request, status: int) -> Response:
        spec = self.failure_spec or Failure(status, CODE_FOR_STATUS.get(status, 1))
        error = GraphError(spec.status, spec.code, spec.message, subcode=spec.subcode)
        token = self.tokens.get(request.bearer or request.param("access_token") or "")
        return json_response(spec.status, error.body(), self.usage_headers(token, spec))

    def handle(self, request: Request) -> Response:
        if request.path == self.dialog_path:
            return self.oauth.authorize(request)
        spec = self.failure_spec
        if spec and spec.only and request.path.endswith(spec.only):
            return self.failure(request, spec.status)
        token_value = request.bearer
        try:
            body_params, files = parse_body(request)
            params = {**dict(request.query), **body_params}
            token_value = token_value or params.pop("access_token", None)
            params.pop("access_token", None)
            segments = [s for s in request.path.split("/") if s]
            body = self.route(request.method, segments, params, files, token_value)
        except GraphError as error:
            token = self.tokens.get(token_value or "")
            return json_response(error.status, error.body(), self.usage_headers(token, None))
        return json_response(
            200, body, self.usage_headers(self.tokens.get(token_value or ""), None)
        )

    def usage_headers(self, token: Token | None, failure: Failure | None) -> dict[str, str]:
        """X-App-Usage for user tokens, X-Business-Use-Case-Usage for Page tokens."""
        if token is None or not self.send_usage_headers:
            return {}
        usage = 100 if failure and failure.regain_minutes else self.usage_percent
        counts = {"call_count": usage, "total_cputime": usage // 2, "total_time": usage // 2}
        if token.kind != "page":
            return {"x-app-usage": json.dumps(counts)}
        entry = {
            "type": "pages",
            **counts,
            "estimated_time_to_regain_access": (failure.regain_minutes or 0) if failure else 0,
        }
        return {"x-business-use-case-usage": json.dumps({token.subject: [entry]})}

    send_usage_headers = True

    def route(
        self,
        method: str,
        segments: list[str],
        params: dict[str, str],
        files: dict[str, bytes],
        token_value: str | None,
    ) -> dict[str, Any]:
        answer = self.token_endpoint(method, segments, params, token_value)
        if answer is not None:
            return answer
        if not segments or segments[0] != self.version:
            raise GraphError(400, 100, f"Unknown path components: /{'/'.join(segments)}")
        rest = segments[1:]
        if not rest or len(rest) > 2:
            raise no_such_object(method, "/".join(rest))
        token = self.authenticate(token_value)
        node_id = token.subject if rest[0] == "me" else rest[0]
        node = self.objects.get(node_id)
        edge = rest[1] if len(rest) > 1 else None
        route = self.routes.get((node["_node"], method, edge)) if node else None
        if node is None or route is None:
            raise no_such_object(method, node_id)
        return route(Call(method, node, params, files, token, edge))

    def token_endpoint(
        self, method: str, segments: list[str], params: dict[str, str], token: str | None
    ) -> dict[str, Any] | None:
        """The answer of a token endpoint at this path, or None for an API call."""
        return None

    def redeem(self, params: dict[str, str]) -> Grant:
        """The login behind a code exchange's ``code``, or Graph's refusal."""
        try:
            return self.oauth.redeem(params, params.get("client_secret"))
        except GrantRefused as refused:
            raise code_error(refused.refusal) from None

    def authenticate(self, value: str | None) -> Token:
        if not value:
            raise GraphError(
                400, 2500, "An active access token must be used to query this resource."
            )
        token = self.tokens.get(value)
        if token is None:
            raise GraphError(400, 190, "Invalid OAuth access token - Cannot parse access token")
        if token.expired:
            raise GraphError(
                400,
                190,
                "Error validating access token: Session has expired.",
                subcode=463,
            )
        return token

    # -- helpers for routes -------------------------------------------------------------------

    @staticmethod
    def accept(
        params: Mapping[str, str], required: Iterable[str] = (), optional: Iterable[str] = ()
    ) -> None:
        """Refuse what the reference page does not list, and what it requires but is missing."""
        required = tuple(required)
        allowed = {*required, *optional}
        for name in params:
            if name.split("[")[0] not in allowed:
                raise invalid_param(f"Param {name} is not a valid parameter")
        for name in required:
            if not params.get(name):
                raise invalid_param(f"The parameter {name} is required")

    def render(self, node: dict[str, Any], spec: str | None, default: str = "id") -> dict[str, Any]:
        """A node with the requested fields; an undocumented field is an error, as on Graph."""
        known = self.node_fields.get(node["_node"], frozenset())
        rendered: dict[str, Any] = {}
        for raw in split_fields(spec or default):
            name = field_name(raw)
            if name != "id" and name not in known:
                raise invalid_param(
                    f"Tried accessing nonexisting field ({name}) on node type ({node['_node']})"
                )
            value = self.field_value(node, name, raw)
            if value is not None:
                rendered[name] = value
        return {**rendered, "id": node["id"]}

    def field_value(self, node: dict[str, Any], name: str, raw: str) -> Any:
        return node.get(name)

    def listing(self, items: list[dict[str, Any]], params: Mapping[str, str]) -> dict[str, Any]:
        """An edge's answer: one page of ``limit`` items with cursors (``next`` if more)."""
        start = int(params.get("after") or 0)
        limit = int(params.get("limit") or 25)
        page = items[start : start + limit]
        paging: dict[str, Any] = {"cursors": {"before": str(start), "after": str(start + limit)}}
        if start + limit < len(items):
            paging["next"] = f"https://graph.test/next?after={start + limit}"
        return {"data": page, "paging": paging}

    @staticmethod
    def since_filter(items: list[dict[str, Any]], params: Mapping[str, str], key: str) -> list[Any]:
        since = params.get("since")
        if not since:
            return items
        floor = datetime.fromtimestamp(int(since), UTC)
        return [i for i in items if i[key] >= floor]
