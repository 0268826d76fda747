"""Privilege: nobody acts above their own role, tokens and invitations follow their issuer's
current role, and an Idempotency-Key's stored answer belongs to the credential that sent it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from alembic import command
from litestar import Litestar

from agency.kernel.migrate import alembic_config
from agency.kernel.runtime import Runtime
from tests.access import test_auth
from tests.conftest import PASSWORD, Tenant, count_rows
from tests.helpers import (
    add_client_member,
    assert_problem,
    bearer,
    client_session,
    create_brand,
    invite_and_join,
    login,
)
from tests.support.fresh_database import FreshPostgres
from tests.support.routes import operations
from tests.support.servers import PostgresServer

EVERYDAY_SCOPES = ["agency:read", "members:read", "members:manage", "tokens:manage"]


async def _member(client: httpx.AsyncClient, tenant: Tenant, email: str) -> tuple[str, str]:
    """A member's id and ETag, by e-mail."""
    members = (await client.get("/members", headers=tenant.headers)).json()["items"]
    member_id = next(m["id"] for m in members if m["email"] == email)
    response = await client.get(f"/members/{member_id}", headers=tenant.headers)
    return member_id, response.headers["etag"]


async def _set_role(client: httpx.AsyncClient, tenant: Tenant, email: str, role: str) -> None:
    member_id, etag = await _member(client, tenant, email)
    changed = await client.patch(
        f"/members/{member_id}", json={"role": role}, headers={**tenant.headers, "If-Match": etag}
    )
    assert changed.status_code == 200, changed.text


async def _token(client: httpx.AsyncClient, token: str, scopes: list[str]) -> dict[str, Any]:
    created = await client.post(
        "/api-tokens", json={"name": "ci", "scopes": scopes}, headers=bearer(token)
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


# --- the role rule on members, invitations and tokens --------------------------------------


async def test_an_admin_cannot_demote_or_remove_an_owner(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    admin = await invite_and_join(client, tenant_a, "admin@alpha.example", "admin")
    owner_id, etag = await _member(client, tenant_a, tenant_a.owner_email)
    for role in ("admin", "analyst"):
        demote = await client.patch(
            f"/members/{owner_id}",
            json={"role": role},
            headers={**bearer(admin["token"]), "If-Match": etag},
        )
        assert_problem(demote, 403, "owner")
    assert_problem(await client.delete(f"/members/{owner_id}", headers=bearer(admin["token"])), 403)
    again = await client.get(f"/members/{owner_id}", headers=tenant_a.headers)
    assert (again.json()["role"], again.headers["etag"]) == ("owner", etag)


async def test_an_admin_cannot_make_anyone_an_owner(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    admin = await invite_and_join(client, tenant_a, "admin@alpha.example", "admin")
    await invite_and_join(client, tenant_a, "cm@alpha.example", "community_manager")
    for email in ("admin@alpha.example", "cm@alpha.example"):
        member_id, etag = await _member(client, tenant_a, email)
        promote = await client.patch(
            f"/members/{member_id}",
            json={"role": "owner"},
            headers={**bearer(admin["token"]), "If-Match": etag},
        )
        assert_problem(promote, 403, "owner")


async def test_an_owner_makes_and_unmakes_owners(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    owner = await login(client, tenant_a.owner_email)
    await invite_and_join(client, tenant_a, "second@alpha.example", "admin")
    member_id, etag = await _member(client, tenant_a, "second@alpha.example")
    made = await client.patch(
        f"/members/{member_id}", json={"role": "owner"}, headers={**bearer(owner), "If-Match": etag}
    )
    assert made.status_code == 200, made.text
    unmade = await client.patch(
        f"/members/{member_id}",
        json={"role": "manager"},
        headers={**bearer(owner), "If-Match": made.headers["etag"]},
    )
    assert unmade.status_code == 200, unmade.text


async def test_an_admin_cannot_revoke_an_owners_invitation_or_token(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
) -> None:
    owner = await login(client, tenant_a.owner_email)
    admin = await invite_and_join(client, tenant_a, "admin@alpha.example", "admin")
    invited = await client.post(
        "/invitations", json={"email": "co@alpha.example", "role": "owner"}, headers=bearer(owner)
    )
    assert invited.status_code == 201, invited.text
    revoke = await client.delete(
        f"/invitations/{invited.json()['id']}", headers=bearer(admin["token"])
    )
    assert_problem(revoke, 403, "owner")
    owners_token = await _token(client, owner, ["agency:read"])
    revoke = await client.post(
        f"/api-tokens/{owners_token['id']}/revoke", headers=bearer(admin["token"])
    )
    assert_problem(revoke, 403, "owner")
    assert (await client.get("/agency", headers=bearer(owners_token["token"]))).status_code == 200
    # Their own, and a peer's, they may revoke.
    peer = await invite_and_join(client, tenant_a, "peer@alpha.example", "admin")
    peers_token = await _token(client, peer["token"], ["agency:read"])
    revoke = await client.post(
        f"/api-tokens/{peers_token['id']}/revoke", headers=bearer(admin["token"])
    )
    assert revoke.status_code == 204, revoke.text


async def test_a_token_grants_no_role_holding_what_it_lacks(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
) -> None:
    owner = await login(client, tenant_a.owner_email)
    narrow = await _token(client, owner, EVERYDAY_SCOPES)
    before = await count_rows(runtime, "invitations")
    invite = await client.post(
        "/invitations",
        json={"email": "a@alpha.example", "role": "analyst"},
        headers=bearer(narrow["token"]),
    )
    assert_problem(invite, 403, "brands:read")
    assert await count_rows(runtime, "invitations") == before
    await invite_and_join(client, tenant_a, "cm@alpha.example", "community_manager")
    member_id, etag = await _member(client, tenant_a, "cm@alpha.example")
    change = await client.patch(
        f"/members/{member_id}",
        json={"role": "analyst"},
        headers={**bearer(narrow["token"]), "If-Match": etag},
    )
    assert_problem(change, 403)
    remove = await client.delete(f"/members/{member_id}", headers=bearer(narrow["token"]))
    assert_problem(remove, 403)


async def test_a_client_place_opens_nothing_its_giver_lacks(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    owner = await login(client, tenant_a.owner_email)
    brand = await create_brand(client, tenant_a, "maison")
    brands_only = await _token(client, owner, ["brands:read", "brands:write"])
    body = {"name": "C", "email": "c@maison.example", "reporting_line": "marketing"}
    refused = await client.post(
        f"/brands/{brand}/client-members",
        json={**body, "permissions": ["calendar:read"]},
        headers=bearer(brands_only["token"]),
    )
    assert_problem(refused, 403, "publications:read")
    given = await client.post(
        f"/brands/{brand}/client-members",
        json={**body, "permissions": ["reports:receive"]},
        headers=bearer(brands_only["token"]),
    )
    assert given.status_code == 201, given.text
    widen = await client.patch(
        f"/client-members/{given.json()['id']}",
        json={"permissions": ["reports:read"]},
        headers={**bearer(brands_only["token"]), "If-Match": '"1"'},
    )
    assert_problem(widen, 403, "reports:read")


async def test_only_an_owner_decides_how_staff_sign_in(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    """Whoever sets the staff's identity provider, or where a sign-in lands with its session
    in the URL, can sign in as anyone: an admin doing so would become an owner."""
    admin = await invite_and_join(client, tenant_a, "admin@alpha.example", "admin")
    as_admin = {**bearer(admin["token"]), "If-Match": "*"}
    origins = {"login_origins": ["https://admin-controlled.example"]}
    assert_problem(await client.patch("/agency", json=origins, headers=as_admin), 403, "owner")
    renamed = await client.patch("/agency", json={"name": "Alpha & co"}, headers=as_admin)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["login_origins"] == []
    staff_provider = {
        "name": "Agency SSO",
        "issuer": "https://idp.admin-controlled.example",
        "client_id": "agency",
        "client_secret": "s3cret",
    }
    created = await client.post("/login-providers", json=staff_provider, headers=as_admin)
    assert_problem(created, 403, "owner")
    owner = await login(client, tenant_a.owner_email)
    set_up = await client.patch("/agency", json=origins, headers={**bearer(owner), "If-Match": "*"})
    assert set_up.status_code == 200, set_up.text
    # A brand's provider signs in as any of the brand's client members: a token that could
    # not give them their places cannot set one up either.
    brand = await create_brand(client, tenant_a, "maison")
    brands_only = await _token(client, owner, ["brands:read", "brands:write"])
    brand_provider = {**staff_provider, "brand_id": brand}
    created = await client.post(
        "/login-providers", json=brand_provider, headers=bearer(brands_only["token"])
    )
    assert_problem(created, 403, "publications:read")


async def test_only_brand_managers_decide_who_approves(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
) -> None:
    """Who approves a brand's publications (or that nobody does) is the brand's setting:
    a community manager, whose content the policy checks, cannot change it, nor can a
    client member, whatever their place opens."""
    brand = await create_brand(client, tenant_a, "maison")
    cm = await invite_and_join(client, tenant_a, "cm@alpha.example", "community_manager")
    member = await add_client_member(
        client, tenant_a, brand, "dg@maison.example", ["approve", "comment", "calendar:read"]
    )
    dg = await client_session(runtime, tenant_a.agency_id, member["user_id"])
    url = f"/brands/{brand}/approval-policies"
    policy = await client.post(
        url, json={"name": "Chain", "is_default": True}, headers=tenant_a.headers
    )
    assert policy.status_code == 201, policy.text
    one = f"/approval-policies/{policy.json()['id']}"
    for token in (cm["token"], dg):
        headers = {**bearer(token), "If-Match": '"1"'}
        body = {"name": "None", "conditions": {"tags": ["x"]}}
        assert_problem(await client.post(url, json=body, headers=headers), 403, "brands:write")
        assert_problem(await client.patch(one, json={"steps": []}, headers=headers), 403)
        assert_problem(await client.delete(one, headers=headers), 403)
    assert await count_rows(runtime, "approval_policies") == 1
    assert (await client.get(one, headers=tenant_a.headers)).headers["etag"] == '"1"'


# Every route that hands out power or takes it away, by the test holding it to the rule
# (test_auth for token scopes). A new one fails the census below until it asks
# agency.access.policy and is listed here.
POWER_ROUTES: dict[str, set[tuple[str, str]]] = {
    "test_an_admin_cannot_demote_or_remove_an_owner": {
        ("PATCH", "/members/{member_id}"),
        ("DELETE", "/members/{member_id}"),
    },
    "test_a_token_grants_no_role_holding_what_it_lacks": {("POST", "/invitations")},
    "test_an_admin_cannot_revoke_an_owners_invitation_or_token": {
        ("DELETE", "/invitations/{invitation_id}"),
        ("POST", "/api-tokens/{token_id}/revoke"),
    },
    "test_token_scopes_cannot_exceed_the_creator": {("POST", "/api-tokens")},
    "test_a_client_place_opens_nothing_its_giver_lacks": {
        ("POST", "/brands/{brand_id}/client-members"),
        ("PATCH", "/client-members/{client_member_id}"),
    },
    "test_only_an_owner_decides_how_staff_sign_in": {
        ("PATCH", "/agency"),
        ("POST", "/login-providers"),
        ("PATCH", "/login-providers/{login_provider_id}"),
        ("DELETE", "/login-providers/{login_provider_id}"),
    },
    "test_only_brand_managers_decide_who_approves": {
        ("POST", "/brands/{brand_id}/approval-policies"),
        ("PATCH", "/approval-policies/{policy_id}"),
        ("DELETE", "/approval-policies/{policy_id}"),
    },
    # Removing a client's place, or the look and sender name of the agency's report
    # e-mails, gives no one anything.
    "-": {
        ("DELETE", "/client-members/{client_member_id}"),
        ("PATCH", "/agency/report-branding"),
        ("PUT", "/agency/report-branding/logo"),
        ("DELETE", "/agency/report-branding/logo"),
    },
}
_POWER = {"agency:manage", "members:manage", "ownership:manage", "tokens:manage"}


async def test_every_route_that_grants_or_takes_power_is_reviewed(app: Litestar) -> None:
    found = {
        (method, path)
        for method, path, handler in operations(app)
        if method != "GET"
        and (
            handler.opt.get("permission") in _POWER
            or "client-members" in path
            or "login-providers" in path
            or "approval-policies" in path
        )
    }
    assert found == set().union(*POWER_ROUTES.values())
    tests = {name for name in {*globals(), *vars(test_auth)} if name.startswith("test_")}
    assert set(POWER_ROUTES) - {"-"} <= tests


# --- tokens and invitations follow their issuer's current role -----------------------------


async def test_a_token_shrinks_when_its_creator_is_demoted(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    admin = await invite_and_join(client, tenant_a, "admin@alpha.example", "admin")
    token = (await _token(client, admin["token"], EVERYDAY_SCOPES))["token"]
    assert (await client.get("/members", headers=bearer(token))).status_code == 200
    await _set_role(client, tenant_a, "admin@alpha.example", "analyst")
    assert_problem(await client.get("/members", headers=bearer(token)), 403, "members:read")
    assert_problem(await client.get("/api-tokens", headers=bearer(token)), 403)
    me = await client.get("/auth/me", headers=bearer(token))
    assert me.json()["permissions"] == ["agency:read"]
    # Promoted back, the token gets back what it was given, and nothing more.
    await _set_role(client, tenant_a, "admin@alpha.example", "owner")
    me = await client.get("/auth/me", headers=bearer(token))
    assert me.json()["permissions"] == sorted(EVERYDAY_SCOPES)


async def test_a_token_stops_when_its_creator_leaves(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    admin = await invite_and_join(client, tenant_a, "admin@alpha.example", "admin")
    token = await _token(client, admin["token"], EVERYDAY_SCOPES)
    # A token made by that token follows the same person.
    child = await _token(client, token["token"], ["agency:read"])
    assert (await client.get("/agency", headers=bearer(child["token"]))).status_code == 200
    member_id, _ = await _member(client, tenant_a, "admin@alpha.example")
    removed = await client.delete(f"/members/{member_id}", headers=tenant_a.headers)
    assert removed.status_code == 204
    for secret in (token["token"], child["token"]):
        assert_problem(await client.get("/agency", headers=bearer(secret)), 401, "no longer")
    # Anyone managing tokens may still revoke what is left of them.
    revoke = await client.post(f"/api-tokens/{token['id']}/revoke", headers=tenant_a.headers)
    assert revoke.status_code == 204


async def test_a_token_made_by_a_token_goes_with_it(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    admin = await invite_and_join(client, tenant_a, "admin@alpha.example", "admin")
    parent = await client.post(
        "/api-tokens",
        json={"name": "ci", "scopes": EVERYDAY_SCOPES, "expires_in_days": 1},
        headers=bearer(admin["token"]),
    )
    assert parent.status_code == 201, parent.text
    child = await _token(client, parent.json()["token"], EVERYDAY_SCOPES)
    grandchild = await _token(client, child["token"], ["agency:read"])
    # Asked for the default 90 days, they get no more than their parent's one.
    assert child["expires_at"] == grandchild["expires_at"] == parent.json()["expires_at"]
    revoked = await client.post(
        f"/api-tokens/{parent.json()['id']}/revoke", headers=bearer(admin["token"])
    )
    assert revoked.status_code == 204
    for secret in (child["token"], grandchild["token"]):
        assert_problem(await client.get("/agency", headers=bearer(secret)), 401)
    listed = (await client.get("/api-tokens", headers=tenant_a.headers)).json()["items"]
    assert all(t["revoked_at"] for t in listed if t["name"] == "ci")


async def test_an_invitation_needs_its_inviter_to_still_hold_its_role(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant
) -> None:
    admin = await invite_and_join(client, tenant_a, "admin@alpha.example", "admin")
    invited = await client.post(
        "/invitations",
        json={"email": "new@alpha.example", "role": "admin"},
        headers=bearer(admin["token"]),
    )
    assert invited.status_code == 201, invited.text
    await _set_role(client, tenant_a, "admin@alpha.example", "manager")
    members = await count_rows(runtime, "memberships")
    accept = await client.post(
        "/invitations/accept",
        json={"token": invited.json()["token"], "password": PASSWORD, "name": "New"},
    )
    assert_problem(accept, 403, "new one")
    assert await count_rows(runtime, "memberships") == members


# --- Idempotency-Key replays belong to the credential that sent them -----------------------


async def test_another_credential_never_gets_a_stored_answer(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    owner = await login(client, tenant_a.owner_email)
    admin = await invite_and_join(client, tenant_a, "admin@alpha.example", "admin")
    body = {"name": "deploy", "scopes": ["agency:read"]}
    key = {"Idempotency-Key": "deploy-1"}
    first = await client.post("/api-tokens", json=body, headers={**bearer(owner), **key})
    assert first.status_code == 201, first.text
    same = await client.post("/api-tokens", json=body, headers={**bearer(owner), **key})
    assert same.headers.get("idempotent-replayed") == "true"
    assert same.json()["token"] == first.json()["token"]

    for other in (admin["token"], tenant_a.token, await login(client, tenant_a.owner_email)):
        fresh = await client.post("/api-tokens", json=body, headers={**bearer(other), **key})
        assert fresh.status_code == 201, fresh.text
        assert "idempotent-replayed" not in fresh.headers
        assert first.json()["token"] not in fresh.text
        assert fresh.json()["id"] != first.json()["id"]
    # Within one credential, another body under the same key is still refused.
    other_body = await client.post(
        "/api-tokens", json={**body, "name": "other"}, headers={**bearer(admin["token"]), **key}
    )
    assert_problem(other_body, 422, "Idempotency-Key")


# --- the migration marks what the system issued, from the audit log -----------------------


def test_the_migration_trusts_only_what_the_audit_log_shows_the_system_issued(
    pg: PostgresServer,
) -> None:
    """Tokens and invitations made before the migration: the admin command's (and its
    tokens' children) keep their scopes; any other without a creator is refused."""
    db = FreshPostgres(pg)
    try:
        config = alembic_config(db.owner_async_url)
        command.upgrade(config, "0009")
        agency, user = uuid.uuid4(), uuid.uuid4()
        cli, child, orphan, member_made, grandchild = (uuid.uuid4() for _ in range(5))
        invited_by_cli, invited_by_token = uuid.uuid4(), uuid.uuid4()
        with pg.connect(db.name) as conn:
            conn.execute(
                "INSERT INTO agencies (id, name, slug, version, created_at) "
                "VALUES (%s, 'A', 'a', 1, now())",
                (agency,),
            )
            conn.execute(
                "INSERT INTO users (id, email, name, created_at) VALUES (%s, 'u@a', 'U', now())",
                (user,),
            )
            tokens = [
                (cli, None, None),
                (child, None, None),
                (orphan, None, None),
                (member_made, user, "now()"),
                (grandchild, user, None),
            ]
            for token, creator, revoked in tokens:
                conn.execute(
                    "INSERT INTO credentials (id, agency_id, kind, name, created_by, scopes, "
                    f"secret_hash, created_at, revoked_at) VALUES (%s, %s, 'api_token', 't', "
                    f"%s, '[]', '', now(), {revoked or 'NULL'})",
                    (token, agency, creator),
                )
            for invitation in (invited_by_cli, invited_by_token):
                conn.execute(
                    "INSERT INTO invitations (id, agency_id, email, role, secret_hash, "
                    "expires_at, created_at) VALUES (%s, %s, 'x@a', 'admin', '', now(), now())",
                    (invitation, agency),
                )
            events = [
                ("system", None, "api_token.created", cli),
                ("api_token", cli, "api_token.created", child),
                ("user", user, "api_token.created", member_made),
                ("api_token", member_made, "api_token.created", grandchild),
                ("system", None, "invitation.created", invited_by_cli),
                ("api_token", orphan, "invitation.created", invited_by_token),
            ]
            for actor_type, actor_id, action, object_id in events:
                conn.execute(
                    "INSERT INTO audit_events (id, agency_id, actor_type, actor_id, action, "
                    "object_type, object_id, changes, created_at) "
                    "VALUES (%s, %s, %s, %s, %s, 'x', %s, '{}', now())",
                    (uuid.uuid4(), agency, actor_type, actor_id, action, object_id),
                )
        command.upgrade(config, "head")
        rows = db.query("SELECT id, system_issued, parent_id, revoked_at FROM credentials")
        flags = {token: system for token, system, _, _ in rows}
        assert flags == {
            cli: True,
            child: True,
            orphan: False,
            member_made: False,
            grandchild: False,
        }
        # Each token learns its parent token; one whose parent was revoked goes with it.
        parents = {token: parent for token, _, parent, _ in rows if parent}
        assert parents == {child: cli, grandchild: member_made}
        assert {token for token, _, _, revoked in rows if revoked} == {member_made, grandchild}
        flags = dict(db.query("SELECT id, system_issued FROM invitations"))
        assert flags == {invited_by_cli: True, invited_by_token: False}
    finally:
        db.drop()


# --- who may read, answer and moderate the inbox (docs/inbox.md) ----------------------------

# Every inbox route and the permission it needs: reading is everyone's, answering a community
# manager's and above, moderating (triage, hide, delete) too, approving what a crisis held a
# crisis decision maker's, the brand's rules a brand manager's. A new inbox route fails the
# census below until it is listed here.
INBOX_ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/inbox/messages"): "comments:read",
    ("GET", "/inbox/messages/{message_id}"): "comments:read",
    ("PATCH", "/inbox/messages/{message_id}"): "comments:moderate",
    ("POST", "/inbox/messages/{message_id}/notes"): "comments:answer",
    ("POST", "/inbox/messages/{message_id}/answers"): "comments:answer",
    ("POST", "/inbox/messages/{message_id}/hide"): "comments:moderate",
    ("POST", "/inbox/messages/{message_id}/delete"): "comments:moderate",
    ("GET", "/inbox/threads/{thread_id}"): "comments:read",
    ("GET", "/inbox/answers/{answer_id}"): "comments:read",
    ("POST", "/inbox/answers/{answer_id}/approve"): "crisis:manage",
    ("POST", "/inbox/answers/{answer_id}/cancel"): "comments:answer",
    ("GET", "/brands/{brand_id}/inbox-rules"): "comments:read",
    ("PUT", "/brands/{brand_id}/inbox-rules"): "brands:write",
    ("GET", "/brands/{brand_id}/saved-replies"): "comments:read",
    ("POST", "/brands/{brand_id}/saved-replies"): "comments:answer",
    ("DELETE", "/saved-replies/{saved_reply_id}"): "comments:answer",
}


async def test_every_inbox_route_asks_the_permission_listed(app: Litestar) -> None:
    found = {
        (method, path): handler.opt.get("permission")
        for method, path, handler in operations(app)
        if path.startswith("/inbox") or "inbox-rules" in path or "saved-replies" in path
    }
    assert found == INBOX_ROUTES


async def test_an_analyst_reads_the_inbox_and_changes_nothing(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    """Walks every inbox route as an analyst: reads pass the permission check (404 for an
    id that names nothing), everything else is a 403 naming the permission it lacks."""
    analyst = await invite_and_join(client, tenant_a, "an@alpha.example", "analyst")
    headers = {**bearer(analyst["token"]), "If-Match": "*"}
    nowhere = str(uuid.uuid4())
    for (method, path), permission in INBOX_ROUTES.items():
        url = path
        for param in ("message_id", "thread_id", "answer_id", "brand_id", "saved_reply_id"):
            url = url.replace("{" + param + "}", nowhere)
        body = {"text": "x", "name": "x", "clause": 1} if method in ("POST", "PATCH") else None
        if method == "PUT":
            body = {}
        response = await client.request(method, url, json=body, headers=headers)
        if permission == "comments:read":
            assert response.status_code in (200, 404), f"{method} {url}: {response.text}"
        else:
            assert_problem(response, 403, permission)
