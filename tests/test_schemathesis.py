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
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import wraps
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from litestar import Litestar
from schemathesis import CheckContext, Response
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    positive_data_acceptance,
    status_code_conformance,
)

from agency.app import create_app
from agency.auth.permissions import ALL_PERMISSIONS
from agency.config import Settings
from agency.connector.registry import Registry
from agency.kernel.runtime import Runtime
from tests.conftest import LiveServer, Tenant

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


@pytest.fixture
def served_schema(live_server: LiveServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(live_server.url + "/schema/openapi.json")


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


# -- the fuzz run --------------------------------------------------------------------------------

schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    # tenant_a (behind api_schema) is shared by all examples on purpose: see the docstring.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case) -> None:
    case.call_and_validate(
        excluded_checks=EXCLUDED_CHECKS,
        additional_checks=ADDITIONAL_CHECKS,
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
def test_nul_character_is_refused_with_a_400_naming_the_field(
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
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["type"] == "/problems/validation"
    assert problem["errors"][0]["field"] == expected_field
    assert problem["errors"][0]["message"] == "contains U+0000"


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
