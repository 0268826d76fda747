"""Signing in with a brand's own identity provider, against real OpenID providers (two
brands, two providers): the flow, just-in-time members, the session it opens (cookie with
CSRF, or bearer), key rotation, and every refusal, each audited and creating nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
from sqlalchemy import text

from agency.config import OutboundSettings
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import bind_system
from tests.conftest import Tenant
from tests.helpers import add_client_member, assert_problem, bearer, create_brand, login
from tests.support.oidc import OidcProvider

pytestmark = pytest.mark.slow

PUBLIC_URL = "http://127.0.0.1:8000"  # the settings' default public URL
CALLBACK = f"{PUBLIC_URL}/auth/providers/callback"
FRONTEND = "https://app.agence-durand.example"


@pytest.fixture(scope="session")
def idp_a() -> Iterator[OidcProvider]:
    provider = OidcProvider("agency-brand-a", "secret-of-brand-a", CALLBACK)
    try:
        yield provider
    finally:
        provider.close()


@pytest.fixture(scope="session")
def idp_b() -> Iterator[OidcProvider]:
    provider = OidcProvider("agency-brand-b", "secret-of-brand-b", CALLBACK)
    try:
        yield provider
    finally:
        provider.close()


@pytest.fixture(autouse=True)
def providers_allowed(
    runtime: Runtime, idp_a: OidcProvider, idp_b: OidcProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The providers run on loopback: the operator allows them by name."""
    hosts = [urlsplit(idp.issuer).netloc for idp in (idp_a, idp_b)]
    monkeypatch.setattr(runtime.settings, "outbound", OutboundSettings(allowed_hosts=hosts))


@dataclass
class Brand:
    id: str
    provider: dict[str, Any]
    idp: OidcProvider


async def brand_with_provider(
    client: httpx.AsyncClient, tenant: Tenant, idp: OidcProvider, slug: str, **fields: Any
) -> Brand:
    brand_id = await create_brand(client, tenant, slug)
    await client.patch(
        "/agency", json={"login_origins": [FRONTEND]}, headers={**tenant.headers, "If-Match": "*"}
    )
    body = {
        "brand_id": brand_id,
        "name": f"{slug} SSO",
        "issuer": idp.issuer,
        "client_id": idp.client_id,
        "client_secret": idp.client_secret,
        "scopes": ["openid", "email", "profile", "groups"],
        "allowed_domains": ["client.example"],
        **fields,
    }
    created = await client.post("/login-providers", json=body, headers=tenant.headers)
    assert created.status_code == 201, created.text
    return Brand(brand_id, created.json(), idp)


async def at_provider(location: str) -> str:
    """Follow the provider's redirects as a browser would, up to our redirect URI."""
    async with httpx.AsyncClient(timeout=10) as browser:
        while not location.startswith(PUBLIC_URL):
            answer = await browser.get(location)
            assert answer.status_code in {302, 303}, answer.text
            location = urljoin(str(answer.url), answer.headers["location"])
    return location[len(PUBLIC_URL) :]


async def start(
    client: httpx.AsyncClient, tenant: Tenant, brand: Brand, **params: str
) -> httpx.Response:
    return await client.get(
        f"/auth/providers/{tenant.agency_id}/{brand.provider['id']}/sign-in",
        params={"return_to": f"{FRONTEND}/calendar", **params},
    )


async def to_callback(
    client: httpx.AsyncClient, tenant: Tenant, brand: Brand, **params: str
) -> str:
    """Start a sign-in and go through the provider: the callback path and query it gives."""
    started = await start(client, tenant, brand, **params)
    assert started.status_code == 303, started.text
    return await at_provider(started.headers["location"])


async def sign_in(
    client: httpx.AsyncClient, tenant: Tenant, brand: Brand, email: str, **claims: Any
) -> httpx.Response:
    brand.idp.next_login(email, **claims)
    return await client.get(await to_callback(client, tenant, brand))


async def rows(runtime: Runtime, sql: str) -> list[Any]:
    async with runtime.session() as session:
        await bind_system(session)
        return list((await session.execute(text(sql))).all())


async def refusals(runtime: Runtime) -> list[str]:
    found = await rows(
        runtime,
        "SELECT changes FROM audit_events WHERE action = 'auth.provider_refused' ORDER BY id",
    )
    return [str(row[0]) for row in found]


# -- the flow ---------------------------------------------------------------------------------


async def test_a_client_member_signs_in_with_a_cookie_session(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant, idp_a: OidcProvider
) -> None:
    brand = await brand_with_provider(client, tenant_a, idp_a, "maison-a")
    member = await add_client_member(client, tenant_a, brand.id, "claire@client.example")
    assert brand.provider["redirect_uri"] == CALLBACK
    assert "client_secret" not in brand.provider and brand.provider["has_client_secret"]

    answer = await sign_in(client, tenant_a, brand, "claire@client.example")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"{FRONTEND}/calendar"
    cookies = answer.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith("agency_session="))
    for flag in ("HttpOnly", "Secure", "SameSite=lax"):
        assert flag.lower() in session_cookie.lower(), session_cookie
    csrf_cookie = next(c for c in cookies if c.startswith("agency_csrf="))
    assert "httponly" not in csrf_cookie.lower()
    token = session_cookie.split(";")[0].split("=", 1)[1]
    csrf = csrf_cookie.split(";")[0].split("=", 1)[1]

    browser = {"Cookie": f"agency_session={token}; agency_csrf={csrf}"}
    me = await client.get("/auth/me", headers=browser)
    assert me.status_code == 200, me.text
    assert (me.json()["kind"], me.json()["user"]["id"]) == ("client", member["user_id"])
    # A cookie alone does not change anything: the CSRF token must come with it.
    assert_problem(await client.post("/auth/logout", headers=browser), 403, "X-CSRF-Token")
    forged = {**browser, "X-CSRF-Token": "0" * 64}
    assert_problem(await client.post("/auth/logout", headers=forged), 403)
    renewed = await client.post("/auth/session/renew", headers={**browser, "X-CSRF-Token": csrf})
    assert renewed.status_code == 201, renewed.text
    assert_problem(await client.get("/auth/me", headers=browser), 401)
    fresh = {
        c.split(";")[0].split("=", 1)[0]: c.split(";")[0].split("=", 1)[1]
        for c in renewed.headers.get_list("set-cookie")
    }
    assert fresh["agency_session"] == renewed.json()["token"]
    browser = {"Cookie": f"agency_session={fresh['agency_session']}"}
    csrf = fresh["agency_csrf"]
    out = await client.post("/auth/logout", headers={**browser, "X-CSRF-Token": csrf})
    assert out.status_code == 204
    assert all("max-age=0" in c.lower() for c in out.headers.get_list("set-cookie"))
    assert_problem(await client.get("/auth/me", headers=browser), 401)
    logins = await rows(
        runtime, "SELECT count(*) FROM audit_events WHERE action = 'auth.provider_login'"
    )
    assert logins[0][0] == 1


async def test_a_bearer_session_lands_in_the_fragment(
    client: httpx.AsyncClient, tenant_a: Tenant, idp_a: OidcProvider
) -> None:
    brand = await brand_with_provider(client, tenant_a, idp_a, "maison-a")
    await add_client_member(client, tenant_a, brand.id, "paul@client.example")
    idp_a.next_login("paul@client.example")
    answer = await client.get(await to_callback(client, tenant_a, brand, mode="bearer"))
    assert answer.status_code == 303, answer.text
    landing = urlsplit(answer.headers["location"])
    assert f"{landing.scheme}://{landing.netloc}{landing.path}" == f"{FRONTEND}/calendar"
    token = parse_qs(landing.fragment)["token"][0]
    assert "set-cookie" not in answer.headers
    me = await client.get("/auth/me", headers=bearer(token))
    assert me.json()["kind"] == "client"


async def test_just_in_time_members_follow_the_providers_claims(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant, idp_a: OidcProvider
) -> None:
    brand = await brand_with_provider(
        client,
        tenant_a,
        idp_a,
        "maison-a",
        just_in_time=True,
        required_claim="groups",
        required_value="brand-approvers",
        reporting_line_claim="department",
        reporting_lines={"PR": "press_relations", "MKT": "marketing"},
        member_permissions=["approve", "calendar:read"],
        member_locale="en",
    )
    answer = await sign_in(
        client,
        tenant_a,
        brand,
        "lea@client.example",
        name="Léa Moreau",
        groups=["staff", "brand-approvers"],
        department="PR",
    )
    assert answer.status_code == 303, answer.text
    members = await client.get(f"/brands/{brand.id}/client-members", headers=tenant_a.headers)
    [member] = members.json()["items"]
    assert (member["email"], member["name"], member["reporting_line"], member["locale"]) == (
        "lea@client.example",
        "Léa Moreau",
        "press_relations",
        "en",
    )
    assert member["permissions"] == ["approve", "calendar:read"]

    # Without the required group: refused, and no member made.
    refused = await sign_in(client, tenant_a, brand, "max@client.example", groups=["staff"])
    assert_problem(refused, 401, "brand-approvers")
    after = await client.get(f"/brands/{brand.id}/client-members", headers=tenant_a.headers)
    assert len(after.json()["items"]) == 1
    assert "brand-approvers" in (await refusals(runtime))[-1]


async def test_the_agency_staff_sign_in_with_the_agency_provider(
    client: httpx.AsyncClient, tenant_a: Tenant, idp_a: OidcProvider
) -> None:
    await client.patch(
        "/agency", json={"login_origins": [FRONTEND]}, headers={**tenant_a.headers, "If-Match": "*"}
    )
    created = await client.post(
        "/login-providers",
        json={
            "name": "Agency SSO",
            "issuer": idp_a.issuer,
            "client_id": idp_a.client_id,
            "client_secret": idp_a.client_secret,
        },
        headers=tenant_a.headers,
    )
    assert created.status_code == 201, created.text
    staff = Brand("", created.json(), idp_a)
    answer = await sign_in(client, tenant_a, staff, tenant_a.owner_email)
    assert answer.status_code == 303, answer.text
    token = answer.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    me = await client.get("/auth/me", headers=bearer(token))
    assert (me.json()["kind"], me.json()["role"]) == ("session", "owner")
    stranger = await sign_in(client, tenant_a, staff, "someone@client.example")
    assert_problem(stranger, 401, "not a member of this agency")


async def test_a_rotated_signing_key_is_picked_up(
    client: httpx.AsyncClient, tenant_a: Tenant, idp_a: OidcProvider
) -> None:
    brand = await brand_with_provider(client, tenant_a, idp_a, "maison-a")
    await add_client_member(client, tenant_a, brand.id, "claire@client.example")
    assert (await sign_in(client, tenant_a, brand, "claire@client.example")).status_code == 303
    old_kid = idp_a.control("rotate")["kid"]
    new_kid = idp_a.control("rotate")["kid"]
    assert old_kid != new_kid
    answer = await sign_in(client, tenant_a, brand, "claire@client.example")
    assert answer.status_code == 303, answer.text


# -- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "words"),
    [
        ("other-key", "not signed by any of the provider's current keys"),
        ("other-audience", "aud"),
        ("expired", "expired"),
        ("wrong-nonce", "nonce"),
    ],
)
async def test_a_bad_id_token_is_refused_and_creates_nothing(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Tenant,
    idp_a: OidcProvider,
    mode: str,
    words: str,
) -> None:
    brand = await brand_with_provider(
        client, tenant_a, idp_a, "maison-a", just_in_time=True, default_reporting_line="marketing"
    )
    idp_a.next_login("new@client.example")
    callback = await to_callback(client, tenant_a, brand)
    idp_a.control("tamper", mode=mode)
    refused = await client.get(callback)
    assert_problem(refused, 401, words)
    assert "set-cookie" not in refused.headers
    assert await rows(runtime, "SELECT id FROM client_members") == []
    assert await rows(runtime, "SELECT id FROM credentials WHERE kind = 'client_session'") == []
    assert words.split()[0] in (await refusals(runtime))[-1]


async def test_a_replayed_answer_is_refused(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant, idp_a: OidcProvider
) -> None:
    brand = await brand_with_provider(client, tenant_a, idp_a, "maison-a")
    await add_client_member(client, tenant_a, brand.id, "claire@client.example")
    idp_a.next_login("claire@client.example")
    callback = await to_callback(client, tenant_a, brand)
    assert (await client.get(callback)).status_code == 303
    assert_problem(await client.get(callback), 401, "already completed")
    assert len(await refusals(runtime)) == 1


async def test_the_provider_of_brand_a_cannot_sign_in_to_brand_b(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Tenant,
    idp_a: OidcProvider,
    idp_b: OidcProvider,
) -> None:
    brand_a = await brand_with_provider(client, tenant_a, idp_a, "maison-a")
    brand_b = await brand_with_provider(client, tenant_a, idp_b, "maison-b")
    await add_client_member(client, tenant_a, brand_a.id, "claire@client.example")
    await add_client_member(client, tenant_a, brand_b.id, "claire@client.example")
    # An answer of provider A (its code, its iss) carried back with brand B's state.
    idp_a.next_login("claire@client.example")
    answer_a = parse_qs(urlsplit(await to_callback(client, tenant_a, brand_a)).query)
    started_b = await start(client, tenant_a, brand_b)
    state_b = parse_qs(urlsplit(started_b.headers["location"]).query)["state"][0]
    mixed = await client.get(
        "/auth/providers/callback",
        params={"code": answer_a["code"][0], "iss": answer_a["iss"][0], "state": state_b},
    )
    assert_problem(mixed, 401, "another identity provider")
    # Without the iss parameter, brand B's provider refuses the code it never issued.
    started_b = await start(client, tenant_a, brand_b)
    state_b = parse_qs(urlsplit(started_b.headers["location"]).query)["state"][0]
    stripped = await client.get(
        "/auth/providers/callback", params={"code": answer_a["code"][0], "state": state_b}
    )
    assert_problem(stripped, 401)
    assert await rows(runtime, "SELECT id FROM credentials WHERE kind = 'client_session'") == []
    assert len(await refusals(runtime)) == 2


async def test_an_address_outside_the_allowed_domains_is_refused(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant, idp_a: OidcProvider
) -> None:
    brand = await brand_with_provider(client, tenant_a, idp_a, "maison-a")
    await add_client_member(client, tenant_a, brand.id, "claire@elsewhere.example")
    refused = await sign_in(client, tenant_a, brand, "claire@elsewhere.example")
    assert_problem(refused, 401, "elsewhere.example may not sign in")
    assert "elsewhere.example" in (await refusals(runtime))[-1]


async def test_a_disabled_client_member_is_refused(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant, idp_a: OidcProvider
) -> None:
    brand = await brand_with_provider(
        client, tenant_a, idp_a, "maison-a", just_in_time=True, default_reporting_line="marketing"
    )
    member = await add_client_member(client, tenant_a, brand.id, "gone@client.example")
    await client.patch(
        f"/client-members/{member['id']}",
        json={"disabled": True},
        headers={**tenant_a.headers, "If-Match": "*"},
    )
    refused = await sign_in(client, tenant_a, brand, "gone@client.example")
    assert_problem(refused, 401, "disabled")
    assert "disabled" in (await refusals(runtime))[-1]


async def test_a_provider_that_is_down_is_a_502_and_creates_nothing(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant, idp_a: OidcProvider
) -> None:
    brand = await brand_with_provider(
        client, tenant_a, idp_a, "maison-a", just_in_time=True, default_reporting_line="marketing"
    )
    idp_a.next_login("new@client.example")
    callback = await to_callback(client, tenant_a, brand)
    idp_a.control("down", down=True)
    try:
        failed = await client.get(callback)
        assert_problem(failed, 502, "answered HTTP 503")
        not_started = await start(client, tenant_a, brand)
        assert_problem(not_started, 502, "identity provider")
    finally:
        idp_a.control("down", down=False)
    assert await rows(runtime, "SELECT id FROM client_members") == []
    assert len(await rows(runtime, "SELECT id FROM login_attempts")) == 1  # the first one only
    assert "503" in (await refusals(runtime))[-1]


async def test_a_landing_outside_the_agencys_origins_is_refused(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant, idp_a: OidcProvider
) -> None:
    brand = await brand_with_provider(client, tenant_a, idp_a, "maison-a")
    for target in (
        "https://evil.example/calendar",
        "//evil.example",
        "javascript:alert(1)",
        f"https://user@{FRONTEND.removeprefix('https://')}/",
    ):
        refused = await start(client, tenant_a, brand, return_to=target)
        assert_problem(refused, 422, "return_to")
    assert await rows(runtime, "SELECT id FROM login_attempts") == []


async def test_bad_provider_settings_name_the_field(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    brand_id = await create_brand(client, tenant_a, "maison")
    sent = await client.post(
        "/login-providers",
        json={"brand_id": brand_id, "name": "X", "client_id": "x", "kind": "oauth2"},
        headers=tenant_a.headers,
    )
    body = assert_problem(sent, 422)
    assert {e["field"] for e in body["errors"]} == {
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
    }


async def test_logging_out_ends_the_providers_session_too(
    client: httpx.AsyncClient, tenant_a: Tenant, idp_a: OidcProvider
) -> None:
    brand = await brand_with_provider(client, tenant_a, idp_a, "maison-a")
    await add_client_member(client, tenant_a, brand.id, "claire@client.example")
    idp_a.next_login("claire@client.example")
    answer = await client.get(await to_callback(client, tenant_a, brand, mode="bearer"))
    token = parse_qs(urlsplit(answer.headers["location"]).fragment)["token"][0]
    renewed = await client.post("/auth/session/renew", headers=bearer(token))
    token = renewed.json()["token"]  # a renewed session still knows its provider

    out = await client.post(
        "/auth/logout/provider", params={"return_to": f"{FRONTEND}/"}, headers=bearer(token)
    )
    assert out.status_code == 200, out.text
    url = urlsplit(out.json()["end_session_url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{idp_a.issuer}/session/end"
    query = parse_qs(url.query)
    assert query["client_id"] == [idp_a.client_id]
    assert query["post_logout_redirect_uri"] == [f"{FRONTEND}/"]
    assert query["id_token_hint"][0].count(".") == 2
    assert_problem(await client.get("/auth/me", headers=bearer(token)), 401)
    # The provider accepts the request (it asks the browser to confirm).
    async with httpx.AsyncClient() as browser:
        confirm = await browser.get(out.json()["end_session_url"])
    assert confirm.status_code == 200, confirm.text


async def test_a_password_session_has_nothing_to_end_at_a_provider(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    token = await login(client, tenant_a.owner_email)
    out = await client.post("/auth/logout/provider", headers=bearer(token))
    assert out.json() == {"end_session_url": None}
    assert_problem(await client.get("/auth/me", headers=bearer(token)), 401)
