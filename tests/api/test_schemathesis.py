"""Property-based API tests: schemathesis fuzzes every operation of the served OpenAPI document
against the real server (uvicorn on a loopback port, PostgreSQL, Redis).

Every response must pass schemathesis' built-in checks: no 5xx, a documented status code,
the documented content type, headers and body schema, invalid input rejected, protected
operations refusing requests without credentials. One built-in check is left out on
purpose (see ``EXCLUDED``). Bugs the run has found are listed in ``KNOWN_BUGS``: the fuzz
test tolerates exactly those responses, and each one has a reproduction below marked
``xfail(strict=True)``, which turns red once the bug is fixed so that both go together.

Credentials: conftest truncates every table after each test function, so a token made in a
module- or session-scoped fixture would be gone after the first test. Instead the schema
comes from a function-scoped fixture built on ``tenant_a``, and the whole fuzz run is one
pytest test (``from_fixture`` runs each operation as a subtest of it): the tenant lives
exactly as long as the run that uses it, and the next test gets a fresh one. Generated
requests do not use tenant_a's token itself: a schemathesis auth provider mints, through the
API, an all-permission token and reuses it; should a request answer 401 because an earlier
one revoked that token (a logout or a revoke that hit its id), schemathesis mints another and
replays the request. Being an auth provider, it also leaves the token out of the
negative cases that drop the Authorization header on purpose.

Real objects: with random ids every operation on an object stops at its 404 and the document
is never compared with what the operation does to an object (a 428 without If-Match, a 409
against its state). ``known_ids`` creates one object of each kind and the run puts their ids
in the path, except for DELETE. Every response is also checked for a Content-Type naming a
parameter twice (``single_charset``). The tests after the fuzz run compare the document
and the behaviour class by class: If-Match, unknown fields, value types, charsets.
Runtime: fuzzing is bounded to a few examples per operation (the coverage phase adds the
schema's boundary and negative cases); the run takes about 40 s of CPU.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from litestar import Litestar, MediaType, post
from schemathesis import CheckContext, Response
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    positive_data_acceptance,
    status_code_conformance,
)

from agency.access.permissions import ALL_PERMISSIONS
from agency.app import create_app
from agency.config import Settings
from agency.connector.registry import Registry
from agency.kernel.deps import IdempotencyGuard
from agency.kernel.runtime import Runtime
from tests.conftest import LiveServer, Tenant
from tests.helpers import (
    add_client_member,
    insert_channel_objects,
    insert_inbox_objects,
    invite_and_join,
)
from tests.support.images import picture

pytestmark = pytest.mark.slow

CheckFunction = Callable[[CheckContext, Response, schemathesis.Case], Any]

# Left out on purpose: positive_data_acceptance demands 2xx for every schema-valid request,
# but this API refuses some by design: cursors it did not issue (400 invalid-cursor), business
# rules (422, e.g. an unknown scope or a reused Idempotency-Key), PATCH without If-Match (428)
# or with a stale one (412). Those answers are documented, which status_code_conformance checks.
EXCLUDED: list[CheckFunction] = [positive_data_acceptance]


def _allow_misses_methods(response: Response, case: schemathesis.Case) -> bool:
    """An OPTIONS answer whose Allow lists some of the documented methods, and no others."""
    if response.request.method != "OPTIONS":
        return False
    advertised = {
        method.strip().lower()
        for value in response.headers.get("allow", [])
        for method in value.split(",")
        if method.strip()
    }
    declared = {method.lower() for method in case.operation.schema[case.operation.path]}
    return bool(advertised) and advertised <= declared | {"options", "head"}


@dataclass(frozen=True)
class KnownBug:
    """Responses the fuzz run found wrong; ``reproduction`` is the xfail test pinning the bug."""

    check: CheckFunction
    matches: Callable[[Response, schemathesis.Case], bool]
    reproduction: str


KNOWN_BUGS = [
    KnownBug(
        allow_header_conformance,
        _allow_misses_methods,
        "test_bug_options_allow_lists_only_one_handler",
    ),
]


def _tolerating_known_bugs(check: CheckFunction) -> CheckFunction:
    bugs = [bug for bug in KNOWN_BUGS if bug.check is check]

    @wraps(check)
    def run(ctx: CheckContext, response: Response, case: schemathesis.Case) -> Any:
        if any(bug.matches(response, case) for bug in bugs):
            return None
        return check(ctx, response, case)

    return run


_TOLERANT = list(dict.fromkeys(bug.check for bug in KNOWN_BUGS))
EXCLUDED_CHECKS = [*EXCLUDED, *_TOLERANT]
ADDITIONAL_CHECKS = [_tolerating_known_bugs(check) for check in _TOLERANT]


# -- fixtures ----------------------------------------------------------------------------------


# RFC 6585: a request missing a precondition header the server requires answers 428.
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "missing_required_header": {
                "expected-statuses": ["400", "401", "403", "406", "415", "422", "428"]
            }
        }
    }
)


@pytest.fixture
def served_schema(live_server: LiveServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(live_server.url + "/schema/openapi.json", config=CONFIG)


@pytest.fixture
def mint_token(live_server: LiveServer, tenant_a: Tenant) -> Iterator[Callable[[], str]]:
    """Mint a fresh token holding every permission, in tenant_a's agency."""
    with httpx.Client(base_url=live_server.url, headers=tenant_a.headers, timeout=30) as http:

        def mint() -> str:
            response = http.post(
                "/api-tokens",
                json={"name": "schemathesis", "scopes": sorted(ALL_PERMISSIONS)},
            )
            assert response.status_code == 201, response.text
            token: str = response.json()["token"]
            return token

        yield mint


@pytest.fixture
def api_schema(
    served_schema: schemathesis.BaseSchema, mint_token: Callable[[], str]
) -> schemathesis.BaseSchema:
    """The served schema, authenticating generated requests (see the module docstring)."""

    # Cached for the whole run; a 401 to an authenticated request mints anew and replays.
    @served_schema.auth(refresh_interval=3600, retry_on=[401])
    class MintedToken:
        def get(self, case: schemathesis.Case, ctx: schemathesis.AuthContext) -> str:
            return mint_token()

        def set(self, case: schemathesis.Case, data: str, ctx: schemathesis.AuthContext) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    return served_schema


@pytest.fixture
async def known_ids(live_server: LiveServer, runtime: Runtime, tenant_a: Tenant) -> dict[str, str]:
    """One real object of each kind in tenant_a, by the path parameter that takes its id."""
    async with httpx.AsyncClient(
        base_url=live_server.url, headers=tenant_a.headers, timeout=30
    ) as http:

        async def create(path: str, **kwargs: Any) -> dict[str, Any]:
            response = await http.post(path, **kwargs)
            assert response.status_code == 201, response.text
            body: dict[str, Any] = response.json()
            return body

        brand = await create(
            "/brands", json={"name": "Fuzzed", "slug": "fuzzed", "timezone": "Europe/Paris"}
        )
        brand_id = brand["id"]
        objects = await insert_channel_objects(runtime, tenant_a.agency_id, brand_id, "mastodon")
        publication = await create(
            f"/brands/{brand_id}/publications",
            json={"title": "Fuzzed", "variants": [{"channel_id": objects["channel"]}]},
        )
        media = await create(
            f"/brands/{brand_id}/media",
            files={"file": ("pixel.png", picture("PNG", (8, 8)), "image/png")},
        )
        await invite_and_join(http, tenant_a, "analyst@fuzzed.example", "analyst")
        members = (await http.get("/members")).json()["items"]
        member = next(m for m in members if m["email"] == "analyst@fuzzed.example")
        provider = await create(
            "/login-providers",
            json={
                "brand_id": brand_id,
                "name": "Fuzzed SSO",
                "kind": "oauth2",
                "client_id": "fuzzed",
                "client_secret": "fuzzed-secret",
                **{
                    f"{step}_endpoint": f"https://idp.fuzzed.example/{step}"
                    for step in ("authorization", "token", "userinfo")
                },
            },
        )
        saved = await create(
            f"/brands/{brand_id}/saved-reports", json={"start": "2027-03-01", "end": "2027-03-31"}
        )
        crisis = await create(f"/brands/{brand_id}/crisis", json={"reason": "Fuzzed"})
        ended = await http.post(f"/brands/{brand_id}/crisis/end", json={"reason": "Over"})
        assert ended.status_code == 200, ended.text
        schedule = await create(
            f"/brands/{brand_id}/report-schedules",
            json={
                "name": "Fuzzed",
                "rule": "FREQ=WEEKLY",
                "recipients": {"addresses": [{"email": "board@fuzzed.example"}]},
            },
        )
        run = await http.post(f"/report-schedules/{schedule['id']}/send", json={})
        assert run.status_code == 202, run.text
        inbox = await insert_inbox_objects(
            runtime, tenant_a.agency_id, brand_id, objects["channel"]
        )
        return {
            "message_id": inbox["inbox_message"],
            "thread_id": inbox["inbox_thread"],
            "answer_id": inbox["inbox_answer"],
            "saved_reply_id": inbox["saved_reply"],
            "brand_id": brand_id,
            "crisis_id": crisis["id"],
            "saved_report_id": saved["id"],
            "login_provider_id": provider["id"],
            "channel_id": objects["channel"],
            "connection_id": objects["connection"],
            "link_id": objects["link"],
            "publication_id": publication["id"],
            "variant_id": publication["variants"][0]["id"],
            "media_id": media["id"],
            "member_id": member["id"],
            "invitation_id": (
                await create("/invitations", json={"email": "x@fuzzed.example", "role": "manager"})
            )["id"],
            "client_member_id": (
                await add_client_member(http, tenant_a, brand_id, "client@fuzzed.example")
            )["id"],
            "token_id": (
                await create("/api-tokens", json={"name": "fuzzed", "scopes": ["agency:read"]})
            )["id"],
            "feed_id": (await create(f"/brands/{brand_id}/calendar-feeds", json={}))["id"],
            "webhook_id": (await create("/webhooks", json={"url": "https://hooks.example.com/a"}))[
                "id"
            ],
            "policy_id": (
                await create(
                    f"/brands/{brand_id}/approval-policies",
                    json={"name": "Fuzzed", "is_default": True},
                )
            )["id"],
            "report_schedule_id": schedule["id"],
            "report_run_id": run.json()["id"],
            "mail_id": (await http.get("/mail/messages")).json()["items"][0]["id"],
        }


def _with_known_ids(case: schemathesis.Case, known: dict[str, str]) -> None:
    """Point the case at real objects, except where the path itself is the invalid input.

    A DELETE keeps its random id: deleting the shared objects would turn every later
    operation on them back into a 404.
    """
    if case.method == "DELETE" or not case.path_parameters:
        return
    for name, value in case.path_parameters.items():
        if name in known and _is_uuid(value):
            case.path_parameters[name] = known[name]


def _is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def single_charset(ctx: CheckContext, response: Response, case: schemathesis.Case) -> None:
    """No Content-Type names a parameter twice (``text/calendar; charset=utf-8; charset=...``)."""
    for value in response.headers.get("content-type", []):
        names = [p.split("=")[0].strip().lower() for p in value.split(";")[1:]]
        assert len(names) == len(set(names)), f"Content-Type repeats a parameter: {value}"


# -- the fuzz run --------------------------------------------------------------------------------

schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    database=None,
    # tenant_a (behind api_schema) is shared by all examples on purpose: see the docstring.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_openapi_document(
    case: schemathesis.Case, known_ids: dict[str, str]
) -> None:
    _with_known_ids(case, known_ids)
    case.call_and_validate(
        excluded_checks=EXCLUDED_CHECKS,
        additional_checks=[*ADDITIONAL_CHECKS, single_charset],
    )


# -- reproductions of the bugs the fuzz run found -------------------------------------------------


def _bug(reason: str, raises: type[BaseException]) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, raises=raises, reason=f"APP BUG: {reason}")


def test_every_known_bug_has_a_reproduction() -> None:
    missing = [bug.reproduction for bug in KNOWN_BUGS if bug.reproduction not in globals()]
    assert missing == []


NUL = "\u0000"


# -- regressions: bugs the fuzz run found and that are fixed --------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "params", "expected_field"),
    [
        ("POST", "/auth/login", {"email": f"a{NUL}@x.org", "password": "x"}, None, "email"),
        ("POST", "/invitations", {"email": f"a{NUL}@x.org", "role": "analyst"}, None, "email"),
        ("POST", "/api-tokens", {"name": f"a{NUL}", "scopes": ["agency:read"]}, None, "name"),
        ("PATCH", "/agency", {"name": f"a{NUL}"}, None, "name"),
        (
            "PATCH",
            "/brands/00000000-0000-0000-0000-000000000000",
            {"editorial_charter": {"words_to_avoid": ["ok", f"b{NUL}"]}},
            None,
            "editorial_charter.words_to_avoid.1",
        ),
        ("GET", "/audit-events", None, {"action": f"a{NUL}"}, "action"),
    ],
    ids=["login", "invitation", "token-name", "agency-name", "brand-charter", "audit-filter"],
)
def test_nul_character_is_refused_as_invalid_input_naming_the_field(
    live_server: LiveServer,
    tenant_a: Tenant,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    params: dict[str, str] | None,
    expected_field: str,
) -> None:
    response = httpx.request(
        method,
        live_server.url + path,
        json=body,
        params=params,
        headers={**tenant_a.headers, "If-Match": "*"},
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "/problems/invalid-input"
    assert problem["errors"][0]["field"] == expected_field
    assert problem["errors"][0]["code"] == "nul_character"


def test_login_401_is_documented(served_schema: schemathesis.BaseSchema) -> None:
    case = served_schema["/auth/login"]["POST"].Case(
        body={"email": "nobody@example.com", "password": "wrong password"}
    )
    response = case.call()
    assert response.status_code == 401
    case.validate_response(response, checks=[status_code_conformance])


@pytest.mark.parametrize(
    "path", ["/api-tokens", "/members", "/invitations", "/audit-events", "/brands"]
)
def test_credentials_are_checked_before_the_cursor(live_server: LiveServer, path: str) -> None:
    response = httpx.get(live_server.url + path, params={"cursor": "not-one-of-ours"})
    assert response.status_code == 401, response.text


@_bug(
    "OPTIONS on a path served by several handlers lists only the first one's method in Allow "
    "(Litestar 2.x bug, litestar-org/litestar#4169, fixed only in v3)",
    AssertionError,
)
def test_bug_options_allow_lists_only_one_handler(live_server: LiveServer) -> None:
    response = httpx.options(live_server.url + "/members/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 204
    allowed = {m.strip() for m in response.headers["allow"].split(",")}
    assert allowed >= {"GET", "PATCH", "DELETE", "OPTIONS"}, response.headers["allow"]


class _BrokerDown:
    """A broker whose Redis does not answer (readiness_checks pings ``broker.client``)."""

    class client:  # mimics the attribute of dramatiq's RedisBroker
        @staticmethod
        def ping() -> bool:
            raise ConnectionError("redis is down")


async def test_ready_503_is_documented(
    settings: Settings, served_schema: schemathesis.BaseSchema
) -> None:
    runtime = Runtime(settings, _BrokerDown(), Registry([]))  # type: ignore[arg-type]
    app: Litestar = create_app(settings, runtime)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.get("/ready")
    finally:
        await runtime.dispose_current_loop()
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "unreachable: ConnectionError"
    case = served_schema["/ready"]["GET"].Case()
    case.validate_response(response, checks=[status_code_conformance])


def test_accept_invitation_403_is_documented(
    live_server: LiveServer,
    served_schema: schemathesis.BaseSchema,
    tenant_a: Tenant,
    tenant_b: Tenant,
) -> None:
    invited = httpx.post(
        live_server.url + "/invitations",
        json={"email": tenant_b.owner_email, "role": "analyst"},
        headers=tenant_a.headers,
    )
    assert invited.status_code == 201, invited.text
    case = served_schema["/invitations/accept"]["POST"].Case(
        body={"token": invited.json()["token"], "password": "not the right password"}
    )
    response = case.call()
    assert response.status_code == 403, response.text
    case.validate_response(response, checks=[status_code_conformance])


# -- the contract, class by class: document against behaviour ------------------------------------


def _json_body_operations(
    document: dict[str, Any],
) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    ]


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _fill(path: str, known: dict[str, str]) -> str:
    for name in re.findall(r"{(\w+)}", path):
        path = path.replace(f"{{{name}}}", known.get(name, str(uuid.uuid4())))
    return path


def test_unknown_fields_are_refused_where_the_document_says_so(
    live_server: LiveServer, tenant_a: Tenant
) -> None:
    document = httpx.get(live_server.url + "/schema/openapi.json").json()
    operations = _json_body_operations(document)
    assert len(operations) > 20
    wrong = []
    for method, path, operation in operations:
        schema = _resolve(
            document, operation["requestBody"]["content"]["application/json"]["schema"]
        )
        response = httpx.request(
            method,
            live_server.url + _fill(path, {}),
            json={"not_a_field": 1},
            headers={**tenant_a.headers, "If-Match": "*"},
        )
        errors = response.json().get("errors", [])
        refused = response.status_code == 422 and "not_a_field" in str(errors)
        # Every field that is wrong is named; this one as unknown.
        named = {"field": "not_a_field", "code": "unknown_field"}.items() <= next(
            (e.items() for e in errors if e.get("field") == "not_a_field"), {}.items()
        )
        if refused != (schema.get("additionalProperties") is False) or (refused and not named):
            wrong.append(f"{method} {path}: {response.status_code} {errors}")
    assert wrong == []


def test_an_unknown_upload_field_is_refused_as_the_document_says(
    live_server: LiveServer, tenant_a: Tenant, known_ids: dict[str, str]
) -> None:
    document = httpx.get(live_server.url + "/schema/openapi.json").json()
    operation = document["paths"]["/brands/{brand_id}/media"]["post"]
    form = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["additionalProperties"] is False
    response = httpx.post(
        f"{live_server.url}/brands/{known_ids['brand_id']}/media",
        data={"caption": "not a field"},
        files={"file": ("pixel.png", picture("PNG", (8, 8)), "image/png")},
        headers=tenant_a.headers,
    )
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["caption"]


def test_nested_unknown_field_is_named_with_its_path(
    live_server: LiveServer, tenant_a: Tenant
) -> None:
    response = httpx.post(
        f"{live_server.url}/brands/{uuid.uuid4()}/publications",
        json={"title": "t", "variants": [{"channel_id": str(uuid.uuid4()), "colour": "red"}]},
        headers=tenant_a.headers,
    )
    assert response.status_code == 422, response.text
    unknown = [e for e in response.json()["errors"] if e["code"] == "unknown_field"]
    assert [(e["field"], e["pointer"]) for e in unknown] == [
        ("variants.0.colour", "/variants/0/colour")
    ]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/brands/{brand_id}", {"archived": 0}, "archived"),
        ("/brands/{brand_id}", {"publish_grace_minutes": "60"}, "publish_grace_minutes"),
        ("/publications/{publication_id}/schedule", {"at": 0}, "at"),
        ("/webhooks/{webhook_id}", {"enabled": 1}, "enabled"),
    ],
)
def test_a_value_of_another_json_type_is_refused(
    live_server: LiveServer,
    tenant_a: Tenant,
    known_ids: dict[str, str],
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    """The fuzz run found these accepted (msgspec's lax conversion): 0 as false, 0 as 1970."""
    method = "POST" if path.endswith("schedule") else "PATCH"
    response = httpx.request(
        method,
        live_server.url + _fill(path, known_ids),
        json=body,
        headers={**tenant_a.headers, "If-Match": "*"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field


# The smallest valid bodies where {} is not one.
BODIES = {"/agency": {"name": "Renamed"}, "/members/{member_id}": {"role": "analyst"}}


def test_if_match_is_required_exactly_where_the_document_says(
    live_server: LiveServer, tenant_a: Tenant, known_ids: dict[str, str]
) -> None:
    """Every write on a real object, sent without If-Match: 428 if and only if the document
    makes the header required (and lists 412 and 428)."""
    document = httpx.get(live_server.url + "/schema/openapi.json").json()
    writes = sorted(
        (
            (method.upper(), path, operation)
            for path, item in document["paths"].items()
            for method, operation in item.items()
            if method in {"post", "put", "patch", "delete"}
            and ("{" in path or path == "/agency")
            and operation.get("security") != [{}]
        ),
        key=lambda write: write[0] == "DELETE",  # deletions last: they remove the objects
    )
    wrong, required = [], 0
    for method, path, operation in writes:
        declared = any(
            p["name"] == "If-Match" and p.get("required") for p in operation.get("parameters", [])
        )
        required += declared
        response = httpx.request(
            method,
            live_server.url + _fill(path, known_ids),
            json=BODIES.get(path, {}) if "requestBody" in operation else None,
            headers=tenant_a.headers,
        )
        if (response.status_code == 428) != declared:
            wrong.append(f"{method} {path}: {response.status_code}, required={declared}")
        elif declared and not {"412", "428"} <= set(operation["responses"]):
            wrong.append(f"{method} {path}: 412/428 not listed")
    assert required >= 9
    assert wrong == []


def _charset_count(response: httpx.Response) -> int:
    return response.headers["content-type"].lower().count("charset")


async def test_calendar_feeds_name_their_charset_once(
    live_server: LiveServer, tenant_a: Tenant, known_ids: dict[str, str]
) -> None:
    brand_id = known_ids["brand_id"]
    async with httpx.AsyncClient(base_url=live_server.url, headers=tenant_a.headers) as http:
        feed = await http.post(f"/brands/{brand_id}/calendar-feeds", json={"name": "Team"})
        assert feed.status_code == 201, feed.text
        for response in (
            await http.get(f"/brands/{brand_id}/calendar.ics"),
            await http.get(urlsplit(feed.json()["url"]).path, headers={"Authorization": ""}),
        ):
            assert response.status_code == 200, response.text
            assert response.headers["content-type"] == "text/calendar; charset=utf-8"


@post("/probe/text", media_type=MediaType.TEXT, status_code=201)
async def _text_probe(idempotency: IdempotencyGuard) -> str:
    return "made once"


async def test_an_idempotent_replay_names_its_charset_once(
    settings: Settings, runtime: Runtime, tenant_a: Tenant
) -> None:
    app = create_app(settings, runtime, extra_route_handlers=[_text_probe])
    headers = {**tenant_a.headers, "Idempotency-Key": "text-once"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        first = await http.post("/probe/text", headers=headers)
        again = await http.post("/probe/text", headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.text == "made once"
    assert again.headers["content-type"] == first.headers["content-type"]
    assert _charset_count(again) == 1, again.headers["content-type"]
