"""Accounts a frontend runs on its own: invitations and password resets by e-mail (a real
SMTP server), password changes, and sessions that renewals cannot keep alive for ever (a
real HTTP client holding the session cookie)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import timedelta

import dramatiq
import httpx
import pytest
from sqlalchemy import update

from agency.auth.cookies import CSRF_COOKIE, SESSION_COOKIE, csrf_token
from agency.auth.models import Credential
from agency.kernel.db import utcnow
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import bind_system
from agency.login.models import SignInLink
from tests.conftest import PASSWORD, Tenant, make_tenant
from tests.helpers import assert_problem, bearer, invite_and_join, login
from tests.support.publishing import running_worker
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.usefixtures("mail_worker")
NEW_PASSWORD = "a brand new passphrase"
FRONTEND = "https://app.agence-durand.example"


@pytest.fixture
def session_worker(runtime: Runtime) -> Iterator[dramatiq.Worker]:
    """Runs the default queue: a person's sessions ended in their other agencies."""
    with running_worker(runtime, {"default"}, threads=1) as consumer:
        yield consumer


def _token_in(body: str, path: str) -> str:
    found = re.search(re.escape(f"{FRONTEND}/{path}#token=") + r"(\S+)", body)
    assert found, body
    return found.group(1)


# -- invitations ---------------------------------------------------------------------------


async def test_an_invitation_reaches_the_invitee_by_email_and_not_the_inviter(
    client: httpx.AsyncClient, tenant_a: Tenant, smtp_on: SmtpServer
) -> None:
    invited = await client.post(
        "/invitations",
        json={"email": "new.cm@alpha.example", "role": "community_manager", "locale": "fr"},
        headers=tenant_a.headers,
    )
    assert invited.status_code == 201, invited.text
    body = invited.json()
    assert body["token"] is None  # an SMTP server is configured: only the mailbox has it
    [received] = smtp_on.handler.to("new.cm@alpha.example")
    text = received.message.get_content()
    assert "Alpha" in received.message["Subject"] and "community manager" in text
    assert "valable 7 jours" in text
    token = _token_in(text, "accept-invitation")
    mail = await client.get(f"/mail/messages/{body['mail_id']}", headers=tenant_a.headers)
    assert mail.json()["recipient"] == "new.cm@alpha.example"
    accepted = await client.post(
        "/invitations/accept", json={"token": token, "password": PASSWORD, "name": "Camille"}
    )
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["role"] == "community_manager"


async def test_without_smtp_the_inviter_still_gets_the_token(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    """The embedded default writes e-mails to an outbox folder that reaches nobody: the
    answer keeps the token there, as before (deprecated)."""
    joined = await invite_and_join(client, tenant_a, "outbox@alpha.example", "analyst")
    assert joined["role"] == "analyst"


# -- a forgotten password ------------------------------------------------------------------


async def test_a_forgotten_password_is_reset_through_the_mailbox(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Tenant,
    smtp_on: SmtpServer,
    session_worker: dramatiq.Worker,
) -> None:
    other = await make_tenant(runtime, "charlie")
    await invite_and_join(client, other, tenant_a.owner_email, "analyst", smtp=smtp_on)
    elsewhere = bearer(await login_in(client, tenant_a.owner_email, other))
    here = bearer(await login_in(client, tenant_a.owner_email, tenant_a))
    asked = await client.post(
        "/auth/password/forgotten",
        json={"email": tenant_a.owner_email, "agency_id": str(tenant_a.agency_id)},
        headers={"Accept-Language": "en"},
    )
    assert asked.status_code == 202
    nobody = await client.post("/auth/password/forgotten", json={"email": "no@one.example"})
    assert nobody.status_code == 202 and nobody.json() == asked.json()  # tells nothing
    [received] = smtp_on.handler.to(tenant_a.owner_email)
    assert received.message["Subject"] == "Reset your Alpha password"
    token = _token_in(received.message.get_content(), "reset-password")
    reset = await client.post(
        "/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert reset.status_code == 204, reset.text
    again = await client.post(
        "/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert_problem(again, 401, "already used")
    # The old password is gone, the new one works, and every session ended, everywhere.
    assert_problem(
        await client.post(
            "/auth/login",
            json={
                "email": tenant_a.owner_email,
                "password": PASSWORD,
                "agency_id": str(tenant_a.agency_id),
            },
        ),
        401,
    )
    assert await login_in(client, tenant_a.owner_email, tenant_a, NEW_PASSWORD)
    assert_problem(await client.get("/auth/me", headers=here), 401)
    await _eventually_refused(client, elsewhere)


async def test_a_reset_token_is_no_sign_in_link_and_the_reverse(
    client: httpx.AsyncClient, tenant_a: Tenant, smtp_on: SmtpServer
) -> None:
    await client.post("/auth/password/forgotten", json={"email": tenant_a.owner_email})
    [received] = smtp_on.handler.to(tenant_a.owner_email)
    token = _token_in(received.message.get_content(), "reset-password")
    assert token.startswith("agr_")
    as_magic = await client.post("/auth/magic-link/redeem", json={"token": token})
    assert_problem(as_magic, 401)
    forged = await client.post(
        "/auth/password/reset",
        json={"token": "agm_" + token.removeprefix("agr_"), "new_password": NEW_PASSWORD},
    )
    assert_problem(forged, 401)
    short = await client.post("/auth/password/reset", json={"token": token, "new_password": "x"})
    assert assert_problem(short, 422)["errors"][0]["code"] == "too_short"


async def test_an_expired_reset_link_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant, smtp_on: SmtpServer
) -> None:
    await client.post("/auth/password/forgotten", json={"email": tenant_a.owner_email})
    [received] = smtp_on.handler.to(tenant_a.owner_email)
    token = _token_in(received.message.get_content(), "reset-password")
    async with runtime.session() as session:
        await bind_system(session)
        await session.execute(
            update(SignInLink)
            .where(SignInLink.purpose == "password_reset")
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    late = await client.post(
        "/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert_problem(late, 401, "expired")
    assert await login(client, tenant_a.owner_email)  # the old password still works


# -- a password changed -------------------------------------------------------------------


async def test_changing_ones_password_ends_the_other_sessions(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    mine = bearer(await login(client, tenant_a.owner_email))
    other = bearer(await login(client, tenant_a.owner_email))
    wrong = await client.post(
        "/auth/password",
        json={"current_password": "not it", "new_password": NEW_PASSWORD},
        headers=mine,
    )
    error = assert_problem(wrong, 422)["errors"][0]
    assert (error["pointer"], error["code"]) == ("/current_password", "wrong_password")
    changed = await client.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=mine,
    )
    assert changed.status_code == 204, changed.text
    assert (await client.get("/auth/me", headers=mine)).status_code == 200
    assert_problem(await client.get("/auth/me", headers=other), 401)
    assert await login(client, tenant_a.owner_email, NEW_PASSWORD)
    token = await client.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=tenant_a.headers,
    )
    assert_problem(token, 409, "api token")


# -- sessions in a browser -------------------------------------------------------------------


async def test_a_browser_session_renews_but_never_past_its_cap(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
) -> None:
    signed_in = await client.post(
        "/auth/login", json={"email": tenant_a.owner_email, "password": PASSWORD}
    )
    cap = signed_in.json()["renewable_until"]
    assert cap > signed_in.json()["expires_at"]
    # The browser holds the session as the cookies the sign-in flows set.
    browser = httpx.AsyncClient(transport=client._transport, base_url="https://testserver")
    async with browser:
        # As a sign-in flow sets it (http.cookiejar names a dotless host "<host>.local").
        browser.cookies.set(SESSION_COOKIE, signed_in.json()["token"], "testserver.local", "/")
        me = await browser.get("/auth/me")
        assert me.status_code == 200
        refused = await browser.post("/auth/session/renew")
        assert_problem(refused, 403, "x-csrf-token")
        csrf = await _csrf(browser, runtime)
        renewed = await browser.post("/auth/session/renew", headers={"X-CSRF-Token": csrf})
        assert renewed.status_code == 201, renewed.text
        assert renewed.json()["renewable_until"] == cap
        assert browser.cookies[SESSION_COOKIE] == renewed.json()["token"]
        assert (await browser.get("/auth/me")).status_code == 200
        # Near the cap a renewal gives what is left, not a whole new lifetime.
        async with runtime.session() as session:
            await bind_system(session)
            await session.execute(
                update(Credential)
                .where(Credential.kind == "session", Credential.revoked_at.is_(None))
                .values(renewable_until=utcnow() + timedelta(minutes=5))
            )
            await session.commit()
        last = await browser.post(
            "/auth/session/renew", headers={"X-CSRF-Token": browser.cookies[CSRF_COOKIE]}
        )
        assert last.status_code == 201, last.text
        left = last.json()["expires_at"]
        assert left <= last.json()["renewable_until"]
        assert left < (utcnow() + timedelta(minutes=6)).isoformat()


async def login_in(
    client: httpx.AsyncClient, email: str, tenant: Tenant, password: str = PASSWORD
) -> str:
    response = await client.post(
        "/auth/login",
        json={"email": email, "password": password, "agency_id": str(tenant.agency_id)},
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


async def _csrf(browser: httpx.AsyncClient, runtime: Runtime) -> str:
    key = runtime.settings.auth.secret_key.get_secret_value()
    return csrf_token(browser.cookies[SESSION_COOKIE], key)


async def _eventually_refused(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    """The other agency's session ends by a job, a moment after the commit."""
    for _ in range(100):
        if (await client.get("/auth/me", headers=headers)).status_code == 401:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the session in the other agency is still alive")
