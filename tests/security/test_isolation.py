"""Another agency's data is never reachable: the cross-tenant matrix over every route.

The matrix walks the app's routes, so a new route is covered the day it is added: a route
whose path parameter or body the matrix does not know fails here until it is taught.
It runs twice: with the app-level tenant filter, and with it switched off so that
PostgreSQL Row-Level Security alone keeps agencies apart.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select

from agency.access.client_permissions import ClientPermission
from agency.app import create_app
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import bind_tenant
from agency.member.models import Membership
from tests.conftest import PostgresServer, RedisServer, Tenant, make_settings
from tests.helpers import (
    add_client_member,
    assert_problem,
    bearer,
    client_session,
    insert_channel_objects,
    insert_inbox_objects,
    insert_media,
    invite_and_join,
)
from tests.support.routes import operations

# Path parameter -> which of tenant B's objects to put there.
ID_PARAMS = {
    "member_id": "member",
    "invitation_id": "invitation",
    "token_id": "api_token",
    "brand_id": "brand",
    "channel_id": "channel",
    "connection_id": "connection",
    "link_id": "link",
    "webhook_id": "webhook",
    "delivery_id": "webhook_delivery",
    "publication_id": "publication",
    "variant_id": "variant",
    "feed_id": "calendar_feed",
    "media_id": "media",
    "client_member_id": "client_member",
    "login_provider_id": "login_provider",
    "cost_id": "cost",
    "coverage_id": "press_coverage",
    "saved_report_id": "saved_report",
    "crisis_id": "crisis",
    "decision_link_id": "decision_link",
    "mail_id": "mail",
    "policy_id": "approval_policy",
    "report_schedule_id": "report_schedule",
    "report_run_id": "report_run",
    "message_id": "inbox_message",
    "thread_id": "inbox_thread",
    "answer_id": "inbox_answer",
    "saved_reply_id": "saved_reply",
}
# Path parameters of public routes that are not ids: a capability token, a network name.
# The matrix sends a value that names nothing; the route must still answer 4xx, leak nothing.
PUBLIC_PARAMS = {
    "token": "acl_bm9uZQ.not-a-real-link-secret-000000",
    "network": "x",
    "agency_id": "01900000-0000-7000-8000-00000000000a",
    "slug": "no-such-problem",
}

# Valid bodies, so that a request gets past validation to the tenant lookup.
BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/agency"): {"name": "Renamed"},
    ("POST", "/auth/login"): {"email": "nobody@example.com", "password": "x"},
    ("PUT", "/auth/me/locale"): {"locale": "en"},
    ("POST", "/auth/password"): {"current_password": "x", "new_password": "long enough password"},
    ("POST", "/auth/password/forgotten"): {"email": "nobody@example.com"},
    ("POST", "/auth/password/reset"): {"token": "agr_x.y", "new_password": "long enough password"},
    ("POST", "/api-tokens"): {"name": "matrix", "scopes": ["agency:read"]},
    ("PATCH", "/members/{member_id}"): {"role": "analyst"},
    ("POST", "/invitations"): {"email": "matrix@example.com", "role": "analyst"},
    ("POST", "/invitations/accept"): {"token": "agi_x.y", "password": "long enough password"},
    ("POST", "/brands"): {"name": "Matrix", "slug": "matrix", "timezone": "Europe/Paris"},
    ("PATCH", "/brands/{brand_id}"): {"name": "Renamed"},
    ("POST", "/brands/{brand_id}/publications"): {
        "title": "Matrix",
        "variants": [{"channel_id": "01900000-0000-7000-8000-000000000000", "text": "x"}],
    },
    ("PATCH", "/publications/{publication_id}"): {"title": "Renamed"},
    ("POST", "/publications/{publication_id}/schedule"): {"at": "2030-01-01T09:00:00Z"},
    ("POST", "/publications/{publication_id}/variants/{variant_id}/resolve"): {"published": False},
    ("PUT", "/channels/{channel_id}/queue-slots"): {
        "slots": [{"weekday": 0, "local_time": "09:00"}]
    },
    ("POST", "/brands/{brand_id}/calendar-feeds"): {"name": "Matrix"},
    ("POST", "/brands/{brand_id}/connections"): {"network": "matrix"},
    ("POST", "/brands/{brand_id}/connect-links"): {"network": "matrix"},
    ("POST", "/connections/{connection_id}/select"): {"account_ids": ["1"]},
    ("POST", "/connect/{token}"): {"identifier": "someone", "app_password": "xxxx"},
    ("POST", "/webhooks"): {"url": "https://hooks.example.com/matrix"},
    ("PATCH", "/webhooks/{webhook_id}"): {"description": "Renamed"},
    ("PATCH", "/media/{media_id}"): {"alt_text": "Renamed"},
    ("POST", "/brands/{brand_id}/client-members"): {
        "name": "Matrix",
        "email": "matrix@client.example",
        "reporting_line": "marketing",
    },
    ("PATCH", "/client-members/{client_member_id}"): {"name": "Renamed"},
    ("POST", "/auth/magic-link"): {
        "email": "nobody@example.com",
        "agency_id": "01900000-0000-7000-8000-000000000000",
    },
    ("POST", "/auth/magic-link/redeem"): {"token": "agm_x.y"},
    ("POST", "/login-providers"): {
        "name": "Matrix",
        "client_id": "matrix",
        "issuer": "https://idp.example.com",
    },
    ("PATCH", "/login-providers/{login_provider_id}"): {"name": "Renamed"},
    ("POST", "/brands/{brand_id}/campaign-results"): {
        "rows": [{"campaign": "matrix", "day": "2027-03-01", "visits": 1}]
    },
    ("POST", "/brands/{brand_id}/costs"): {"day": "2027-03-01", "kind": "paid", "amount": "1"},
    ("POST", "/brands/{brand_id}/press-coverage"): {
        "outlet": "Matrix",
        "published_on": "2027-03-01",
        "tone": "neutral",
    },
    ("POST", "/brands/{brand_id}/press-coverage/import"): {
        "rows": [{"outlet": "Matrix", "published_on": "2027-03-01", "tone": "neutral"}]
    },
    ("POST", "/brands/{brand_id}/saved-reports"): {"start": "2027-03-01", "end": "2027-03-31"},
    ("PATCH", "/saved-reports/{saved_report_id}"): {"worked": "Renamed"},
    ("POST", "/brands/{brand_id}/report-schedules"): {"name": "Matrix", "rule": "FREQ=WEEKLY"},
    ("PATCH", "/report-schedules/{report_schedule_id}"): {"name": "Renamed"},
    ("POST", "/report-schedules/{report_schedule_id}/send"): {},
    ("POST", "/report-schedules/{report_schedule_id}/addresses/confirmation"): {
        "email": "matrix@client.example"
    },
    ("PATCH", "/agency/report-branding"): {"accent_color": "#112233"},
    ("POST", "/brands/{brand_id}/crisis"): {"reason": "Matrix"},
    ("POST", "/brands/{brand_id}/crisis/end"): {"reason": "Matrix"},
    ("POST", "/brands/{brand_id}/held-publications/release"): {
        "items": [{"publication_id": "01900000-0000-7000-8000-000000000000", "action": "reconfirm"}]
    },
    ("POST", "/brands/{brand_id}/approval-policies"): {"name": "Matrix", "is_default": True},
    ("PATCH", "/approval-policies/{policy_id}"): {"description": "Renamed"},
    # A form, really (the decision page's); sent as JSON it is refused all the same.
    ("POST", "/decide"): {
        "token": "agd_bm9uZQ.not-a-real-link-secret-000000",
        "decision": "approve",
    },
    ("POST", "/publications/{publication_id}/decisions"): {
        "decision": "approve",
        "content_hash": "0" * 64,
    },
    ("POST", "/publications/{publication_id}/comments"): {"body": "Matrix"},
    ("PATCH", "/inbox/messages/{message_id}"): {"status": "closed"},
    ("POST", "/inbox/messages/{message_id}/notes"): {"text": "Matrix"},
    ("POST", "/inbox/messages/{message_id}/answers"): {"text": "Matrix"},
    ("POST", "/inbox/messages/{message_id}/hide"): {"clause": 1},
    ("POST", "/inbox/messages/{message_id}/delete"): {"clause": 1},
    ("PUT", "/brands/{brand_id}/inbox-rules"): {},
    ("POST", "/brands/{brand_id}/saved-replies"): {"name": "Matrix", "text": "Matrix"},
    # Each item is its own decision, checked as if alone (tests/approvals/test_approvals.py sends
    # another agency's and another brand's publications).
    ("POST", "/approvals/bulk-approve"): {
        "items": [
            {"publication_id": "01900000-0000-7000-8000-00000000000b", "content_hash": "0" * 64}
        ]
    },
}


# Logging out and renewing end the credential the matrix uses, so they go last.
ENDS_THE_CREDENTIAL = {"/auth/session/renew", "/auth/logout", "/auth/logout/provider"}


async def _objects_of(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> dict[str, str]:
    """Create one object of each kind in ``tenant``; returns kind -> id."""
    joined = await invite_and_join(client, tenant, f"cm@{tenant.slug}.example", "manager")
    members = (await client.get("/members", headers=tenant.headers)).json()["items"]
    member = next(m for m in members if m["user_id"] == joined["user_id"])
    invitation = await client.post(
        "/invitations",
        json={"email": f"pending@{tenant.slug}.example", "role": "analyst"},
        headers=tenant.headers,
    )
    token = await client.post(
        "/api-tokens", json={"name": "b-token", "scopes": ["agency:read"]}, headers=tenant.headers
    )
    brand = await client.post(
        "/brands",
        json={"name": "B brand", "slug": f"{tenant.slug}-brand", "timezone": "Europe/Paris"},
        headers=tenant.headers,
    )
    channel_objects = await insert_channel_objects(runtime, tenant.agency_id, brand.json()["id"])
    webhook = await client.post(
        "/webhooks", json={"url": "https://hooks.example.com/b"}, headers=tenant.headers
    )
    ping = await client.post(f"/webhooks/{webhook.json()['id']}/ping", headers=tenant.headers)
    publication = await client.post(
        f"/brands/{brand.json()['id']}/publications",
        json={"title": "B post", "variants": [{"channel_id": channel_objects["channel"]}]},
        headers=tenant.headers,
    )
    assert publication.status_code == 201, publication.text
    feed = await client.post(
        f"/brands/{brand.json()['id']}/calendar-feeds", json={}, headers=tenant.headers
    )
    assert feed.status_code == 201, feed.text
    provider = await client.post(
        "/login-providers",
        json={
            "brand_id": brand.json()["id"],
            "name": "B SSO",
            "client_id": "b-client",
            "client_secret": "b-secret",
            "issuer": "https://idp.b.example.com",
        },
        headers=tenant.headers,
    )
    assert provider.status_code == 201, provider.text
    client_member = await add_client_member(
        client, tenant, brand.json()["id"], f"rp@{tenant.slug}-client.example"
    )
    policy = await client.post(
        f"/brands/{brand.json()['id']}/approval-policies",
        json={"name": "B chain", "is_default": True},
        headers=tenant.headers,
    )
    assert policy.status_code == 201, policy.text
    crisis = await client.post(
        f"/brands/{brand.json()['id']}/crisis", json={"reason": "B crisis"}, headers=tenant.headers
    )
    assert crisis.status_code == 201, crisis.text
    b_brand = brand.json()["id"]
    cost = await client.post(
        f"/brands/{b_brand}/costs",
        json={"day": "2027-03-01", "kind": "paid", "amount": "12.50"},
        headers=tenant.headers,
    )
    assert cost.status_code == 201, cost.text
    coverage = await client.post(
        f"/brands/{b_brand}/press-coverage",
        json={"outlet": "B Gazette", "published_on": "2027-03-01", "tone": "neutral"},
        headers=tenant.headers,
    )
    assert coverage.status_code == 201, coverage.text
    saved = await client.post(
        f"/brands/{b_brand}/saved-reports",
        json={"start": "2027-03-01", "end": "2027-03-31", "shared": True},
        headers=tenant.headers,
    )
    assert saved.status_code == 201, saved.text
    # Its invitation is the e-mail the matrix reaches for.
    mails = (await client.get("/mail/messages", headers=tenant.headers)).json()["items"]
    schedule = await client.post(
        f"/brands/{brand.json()['id']}/report-schedules",
        json={
            "name": "B weekly",
            "rule": "FREQ=WEEKLY",
            "recipients": {"addresses": [{"email": f"board@{tenant.slug}-client.example"}]},
        },
        headers=tenant.headers,
    )
    assert schedule.status_code == 201, schedule.text
    run = await client.post(
        f"/report-schedules/{schedule.json()['id']}/send", json={}, headers=tenant.headers
    )
    assert run.status_code == 202, run.text
    return {
        "crisis": crisis.json()["id"],
        "cost": cost.json()["id"],
        "press_coverage": coverage.json()["id"],
        "saved_report": saved.json()["id"],
        **channel_objects,
        "brand": brand.json()["id"],
        "publication": publication.json()["id"],
        "variant": publication.json()["variants"][0]["id"],
        "calendar_feed": feed.json()["id"],
        "client_member": client_member["id"],
        "login_provider": provider.json()["id"],
        "mail": mails[0]["id"],
        "approval_policy": policy.json()["id"],
        "report_schedule": schedule.json()["id"],
        "report_run": run.json()["id"],
        "member": member["id"],
        "invitation": invitation.json()["id"],
        "api_token": token.json()["id"],
        "webhook": webhook.json()["id"],
        "webhook_delivery": ping.json()["id"],
        "media": await insert_media(runtime, tenant.agency_id, brand.json()["id"]),
        "decision_link": await _insert_decision_link(
            runtime, tenant.agency_id, publication.json(), client_member
        ),
        **await insert_inbox_objects(
            runtime, tenant.agency_id, b_brand, channel_objects["channel"]
        ),
    }


async def _insert_decision_link(
    runtime: Runtime, agency_id: uuid.UUID, publication: dict[str, Any], member: dict[str, Any]
) -> str:
    """A decision link row, as if e-mailed to the brand's client member."""
    from datetime import timedelta

    from agency.approval.link.models import DecisionLink
    from agency.kernel.db import utcnow

    async with runtime.session() as session:
        await bind_tenant(session, agency_id)
        link = DecisionLink(
            agency_id=agency_id,
            brand_id=uuid.UUID(publication["brand_id"]),
            publication_id=uuid.UUID(publication["id"]),
            client_member_id=uuid.UUID(member["id"]),
            user_id=uuid.UUID(member["user_id"]),
            content_hash="0" * 64,
            step_position=0,
            step_name="Matrix",
            secret_hash="0" * 64,
            expires_at=utcnow() + timedelta(hours=1),
        )
        session.add(link)
        await session.commit()
        return str(link.id)


@pytest.fixture(params=["app-filter", "rls-only"])
async def matrix_client(
    request: pytest.FixtureRequest,
    app: Litestar,
    runtime: Runtime,
    pg: PostgresServer,
    redis_server: RedisServer,
) -> AsyncIterator[tuple[httpx.AsyncClient, Litestar]]:
    if request.param == "app-filter":
        target = app
    else:
        target = create_app(make_settings(pg, redis_server.url, app_filter=False), runtime)
    transport = httpx.ASGITransport(app=target)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client, target


async def test_every_route_hides_other_tenants(
    matrix_client: tuple[httpx.AsyncClient, Litestar],
    runtime: Runtime,
    tenant_a: Tenant,
    tenant_b: Tenant,
) -> None:
    client, app = matrix_client
    b_ids = await _objects_of(client, runtime, tenant_b)
    b_markers = [*b_ids.values(), str(tenant_b.agency_id), tenant_b.slug, tenant_b.owner_email]
    checked = 0
    ordered = sorted(operations(app), key=lambda op: op[1] in ENDS_THE_CREDENTIAL)
    for method, path, handler in ordered:
        template = path
        for param in re.findall(r"\{(\w+)\}", template):
            if param in PUBLIC_PARAMS:
                path = path.replace("{" + param + "}", PUBLIC_PARAMS[param])
        params = re.findall(r"\{(\w+)\}", path)
        unknown = [p for p in params if p not in ID_PARAMS]
        assert not unknown, f"teach the matrix which object fits {unknown} in {path}"
        if "data" in handler.parsed_fn_signature.parameters:
            assert (method, template) in BODIES, f"teach the matrix a body for {method} {template}"
        url, missing_url, swaps = path, path, []
        for param in params:
            b_id, nowhere = b_ids[ID_PARAMS[param]], str(uuid.uuid4())
            url = url.replace("{" + param + "}", b_id)
            missing_url = missing_url.replace("{" + param + "}", nowhere)
            swaps.append((b_id, nowhere))
        headers = {**tenant_a.headers, "If-Match": "*"}
        body = BODIES.get((method, template))
        response = await client.request(method, url, json=body, headers=headers)
        assert response.status_code != 500, f"{method} {url}: {response.text}"
        if template != path:  # a public route with a made-up capability: refused, 4xx
            assert 400 <= response.status_code < 500, f"{method} {url}: {response.text}"
        text = response.text
        if params:
            assert_problem(response, 404)
            # Exactly the answer for an id that exists nowhere.
            missing = await client.request(method, missing_url, json=body, headers=headers)
            expected = missing.text
            for b_id, nowhere in swaps:
                expected = expected.replace(nowhere, b_id)
            assert text == expected
            for b_id, _ in swaps:
                text = text.replace(b_id, "")
        for marker in b_markers:
            assert marker not in text, f"{method} {url} leaked {marker}"
        checked += 1
    assert checked >= 15


async def test_a_client_member_reaches_nothing_of_another_brand(
    matrix_client: tuple[httpx.AsyncClient, Litestar], runtime: Runtime, tenant_a: Tenant
) -> None:
    """A client member of brand A, with every client permission, walks every route: brand B
    of the same agency answers 404 like a missing object, agency-only routes 403 or 404."""
    client, app = matrix_client
    b_ids = await _objects_of(client, runtime, tenant_a)
    mine = await client.post(
        "/brands",
        json={"name": "A brand", "slug": "a-brand", "timezone": "Europe/Paris"},
        headers=tenant_a.headers,
    )
    everything = [p.value for p in ClientPermission]
    member = await add_client_member(
        client,
        tenant_a,
        mine.json()["id"],
        "dg@a-client.example",
        everything,
        reporting_line="management",
    )
    headers = bearer(await client_session(runtime, tenant_a.agency_id, member["user_id"]))
    b_markers = [*b_ids.values(), tenant_a.owner_email]
    opened = []
    ordered = sorted(operations(app), key=lambda op: op[1] in ENDS_THE_CREDENTIAL)
    for method, template, handler in ordered:
        if handler.opt.get("public"):
            continue  # no credential involved; the tenant matrix covers them
        params = re.findall(r"\{(\w+)\}", template)
        url, missing_url, swaps = template, template, []
        for param in params:
            b_id, nowhere = b_ids[ID_PARAMS[param]], str(uuid.uuid4())
            url = url.replace("{" + param + "}", b_id)
            missing_url = missing_url.replace("{" + param + "}", nowhere)
            swaps.append((b_id, nowhere))
        body = BODIES.get((method, template))
        sent = {**headers, "If-Match": "*"}
        response = await client.request(method, url, json=body, headers=sent)
        allowed = {403, 404} if params else set(range(200, 500))
        assert response.status_code in allowed, f"{method} {url}: {response.text}"
        text = response.text
        if response.status_code == 404:
            # Exactly the answer for an id that exists nowhere.
            expected = (await client.request(method, missing_url, json=body, headers=sent)).text
            for b_id, nowhere in swaps:
                expected = expected.replace(nowhere, b_id)
            assert text == expected
        for b_id, _ in swaps:
            text = text.replace(b_id, "")
        if response.status_code < 300:
            opened.append((method, template))
        for marker in b_markers:
            assert marker not in text, f"{method} {url} leaked {marker}"
    # What a client member may call without naming an object: their own view, nothing more.
    assert {op for op in opened if op[0] != "GET"} <= {
        ("POST", "/auth/logout"),
        ("POST", "/auth/session/renew"),
        ("POST", "/auth/logout/provider"),
        ("PUT", "/auth/me/locale"),
        # 200 with each item's own answer: here a 404 for a publication that is not theirs.
        ("POST", "/approvals/bulk-approve"),
    }


async def test_every_private_route_requires_credentials(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    for method, path, handler in operations(app):
        if handler.opt.get("public"):
            continue
        url = re.sub(r"\{\w+\}", str(uuid.uuid4()), path)
        response = await client.request(method, url, json=BODIES.get((method, path)))
        assert_problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"
        bad = await client.request(
            method, url, json=BODIES.get((method, path)), headers={"Authorization": "Bearer junk"}
        )
        assert_problem(bad, 401)


async def test_public_routes_are_the_expected_few(app: Litestar) -> None:
    public = {(m, p) for m, p, h in operations(app) if h.opt.get("public")}
    assert public == {
        ("GET", "/health"),
        ("GET", "/ready"),
        # Prometheus' scrape: no tenant data; behind AGENCY_METRICS__TOKEN when one is set.
        ("GET", "/metrics"),
        ("GET", "/problems"),
        ("GET", "/problems/{slug}"),
        ("POST", "/auth/login"),
        ("POST", "/invitations/accept"),
        ("POST", "/auth/magic-link"),
        ("POST", "/auth/magic-link/redeem"),
        ("POST", "/auth/password/forgotten"),
        ("POST", "/auth/password/reset"),
        ("GET", "/auth/providers/{agency_id}/{login_provider_id}/sign-in"),
        ("GET", "/auth/providers/callback"),
        ("GET", "/oauth/callback/{network}"),
        ("GET", "/connect/{token}"),
        ("POST", "/connect/{token}"),
        ("GET", "/feeds/{token}/calendar.ics"),
        ("GET", "/media/{media_id}/signed"),
        ("GET", "/report-mail/unsubscribe/{token}"),
        ("POST", "/report-mail/unsubscribe/{token}"),
        ("GET", "/report-mail/confirm/{token}"),
        ("POST", "/report-mail/confirm/{token}"),
        ("GET", "/decide/{token}"),
        ("POST", "/decide"),
    }


async def test_a_token_cannot_claim_another_agency(
    client: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    """Swapping the agency part of a token for another agency's id gets nowhere."""
    from agency.access.secrets import SESSION_PREFIX, BearerSecret, parse_bearer

    parsed = parse_bearer(tenant_a.token, SESSION_PREFIX)
    assert parsed is not None
    forged = BearerSecret(tenant_b.agency_id, parsed.object_id, parsed.secret).render(
        SESSION_PREFIX
    )
    response = await client.get("/agency", headers={"Authorization": f"Bearer {forged}"})
    assert_problem(response, 401)


async def test_rls_alone_hides_rows_from_the_app_role(
    runtime: Runtime, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    """A query with no tenant filter at all, as the app role, sees only the bound agency."""
    async with runtime.session() as session:
        await bind_tenant(session, tenant_a.agency_id)
        rows = (await session.execute(select(Membership))).scalars().all()
        assert {m.agency_id for m in rows} == {tenant_a.agency_id}
        await session.rollback()
    async with runtime.session() as session:
        rows = (await session.execute(select(Membership))).scalars().all()
        assert rows == [], "with no agency bound, RLS must show nothing"
