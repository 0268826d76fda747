"""What an authenticated request costs the database and the event loop: one call binds the
agency and reads the credential, then the handler's own statements; no dependency task group."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from litestar import post
from litestar._kwargs import kwargs_model
from litestar.params import QueryParameter
from sqlalchemy import event, text

from agency.app import create_app
from agency.audit.repository import AuditRepository
from agency.config import Settings
from agency.kernel.db import RequestSession
from agency.kernel.deps import CurrentSubject, DbSession
from agency.kernel.runtime import Runtime
from tests.conftest import DB, Tenant
from tests.helpers import assert_problem
from tests.support.servers import PostgresServer


@pytest.fixture
async def statements(runtime: Runtime) -> AsyncIterator[list[str]]:
    """Every statement sent, through SQLAlchemy or straight on the driver's connection (the
    hot reads; the driver logs those, not the prepared statements SQLAlchemy runs),
    transaction control (BEGIN, COMMIT) left out."""
    seen: list[str] = []

    def record(query: Any) -> None:
        if query.query.split()[0].upper().rstrip(";") not in ("BEGIN", "COMMIT", "ROLLBACK"):
            seen.append(query.query)

    def through_sqlalchemy(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    def listen(dbapi_connection: Any, *_: Any) -> None:
        driver = dbapi_connection.driver_connection
        if record not in driver._query_loggers:
            driver.add_query_logger(record)

    engine = runtime.engine.sync_engine
    await runtime.engine.dispose()  # every connection from now on is checked out anew
    event.listen(engine, "checkout", listen)
    event.listen(engine, "before_cursor_execute", through_sqlalchemy)
    try:
        yield seen
    finally:
        event.remove(engine, "checkout", listen)
        event.remove(engine, "before_cursor_execute", through_sqlalchemy)


async def test_a_list_request_runs_the_authentication_call_then_its_query(
    client: httpx.AsyncClient, tenant_a: Tenant, statements: list[str]
) -> None:
    """The first use of a credential binds the agency and reads the credential in one call;
    later ones, the process keeping it, bind the agency and read its access version alone."""
    first = await client.get("/audit-events", params={"limit": 5}, headers=tenant_a.headers)
    assert first.status_code == 200, first.text
    assert "authenticate_credential" in statements[0], statements
    assert "last_used_at" in statements[1], statements  # its first use is recorded
    assert "audit_events" in statements[2], statements
    statements.clear()
    again = await client.get("/audit-events", params={"limit": 5}, headers=tenant_a.headers)
    assert again.status_code == 200, again.text
    assert len(statements) == 2, statements
    assert "bind_agency" in statements[0]
    assert statements[1].lstrip().upper().startswith("SELECT")
    assert "audit_events" in statements[1]


async def test_a_bad_secret_for_a_real_credential_is_refused(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    head, _, secret = tenant_a.token.partition(".")
    forged = f"{head}.{'x' * len(secret)}"
    answer = await client.get("/audit-events", headers={"Authorization": f"Bearer {forged}"})
    assert answer.status_code == 401, answer.text


async def test_dependencies_are_resolved_without_a_task_group(
    client: httpx.AsyncClient, tenant_a: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit list asks for its service and its page: two dependencies of one level."""

    def refuse() -> None:
        raise AssertionError("a task group was opened to resolve dependencies")

    monkeypatch.setattr(kwargs_model, "create_task_group", refuse)
    answer = await client.get("/audit-events", params={"limit": 5}, headers=tenant_a.headers)
    assert answer.status_code == 200, answer.text


async def test_the_audit_list_pages_and_filters_on_its_prepared_statements(
    client: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    """The list's statements are built once per shape (filters given, cursor or not): every
    shape reads what it names, one agency's events only."""
    for i in range(5):
        made = await client.post(
            "/brands",
            json={"name": f"Maison {i}", "slug": f"maison-{i}", "timezone": "Europe/Paris"},
            headers=tenant_a.headers,
        )
        assert made.status_code == 201, made.text
    await client.post(
        "/brands", json={"name": "B", "slug": "bb", "timezone": "UTC"}, headers=tenant_b.headers
    )
    whole = await client.get("/audit-events", params={"limit": 200}, headers=tenant_a.headers)
    everything = whole.json()["items"]
    assert whole.json()["next_cursor"] is None
    assert sum(e["action"] == "brand.created" for e in everything) == 5
    paged: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = (await client.get("/audit-events", params=params, headers=tenant_a.headers)).json()
        paged += page["items"]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert paged == everything
    created = await client.get(
        "/audit-events",
        params={"action": "brand.created", "object_type": "brand", "limit": 3},
        headers=tenant_a.headers,
    )
    assert [e["action"] for e in created.json()["items"]] == ["brand.created"] * 3
    rest = await client.get(
        "/audit-events",
        params={"action": "brand.created", "cursor": created.json()["next_cursor"]},
        headers=tenant_a.headers,
    )
    assert len(rest.json()["items"]) == 2
    one = created.json()["items"][0]
    by_object = await client.get(
        "/audit-events", params={"object_id": one["object_id"]}, headers=tenant_a.headers
    )
    assert [e["id"] for e in by_object.json()["items"]] == [one["id"]]
    nothing = await client.get(
        "/audit-events", params={"object_type": ""}, headers=tenant_a.headers
    )
    assert nothing.json()["items"] == everything[:50], "an empty filter filters nothing"


async def test_the_first_request_after_a_database_restart_is_answered(
    client: httpx.AsyncClient, tenant_a: Tenant, pg: PostgresServer, runtime: Runtime
) -> None:
    """The pool lends connections without pinging them: after a restart the first statement
    meets a dead one, and the request runs it again on a fresh connection instead of a 500."""
    for _ in range(3):  # several pooled connections, all of them about to die
        warm = await client.get("/audit-events", headers=tenant_a.headers)
        assert warm.status_code == 200, warm.text
    try:
        pg.stop("fast")
        pg.start()
        after = await client.get("/audit-events", headers=tenant_a.headers)
        assert after.status_code == 200, after.text
        public = await client.get("/ready")
        assert public.status_code == 200, public.text
    finally:
        pg.start()
        runtime.renew_pools()


async def test_a_request_commits_where_its_binding_began_and_a_failed_commit_answers_500(
    settings: Settings, runtime: Runtime, tenant_a: Tenant, pg: PostgresServer
) -> None:
    """A request whose credential the process keeps begins its transaction on the driver and,
    with nothing left to flush, commits there: what it wrote is stored. When that COMMIT
    fails (its connection cut under it) the answer is a 500, nothing is stored, and the next
    request is served on another connection."""

    @post("/probe/recorded", status_code=201)
    async def record(
        db_session: DbSession, subject: CurrentSubject, cut: Annotated[bool, QueryParameter()]
    ) -> dict[str, Any]:
        AuditRepository(db_session, subject).record("probe.recorded", "probe", None)
        await db_session.flush()
        if cut:
            pid = (await db_session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            killer = await asyncpg.connect(pg.superuser_dsn(DB))
            try:
                await killer.execute("SELECT pg_terminate_backend($1, 5000)", pid)
            finally:
                await killer.close()
        assert isinstance(db_session, RequestSession)
        return {"on_driver": db_session.on_driver() is not None}

    app = create_app(settings, runtime, extra_route_handlers=[record])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        kept = await http.get("/audit-events", headers=tenant_a.headers)  # the credential kept
        assert kept.status_code == 200, kept.text
        stored = await http.post("/probe/recorded?cut=false", headers=tenant_a.headers)
        assert stored.status_code == 201, stored.text
        assert stored.json() == {"on_driver": True}
        failed = await http.post("/probe/recorded?cut=true", headers=tenant_a.headers)
        assert_problem(failed, 500, "could not be saved")
        listed = await http.get(
            "/audit-events", params={"action": "probe.recorded"}, headers=tenant_a.headers
        )
    assert listed.status_code == 200, listed.text
    assert len(listed.json()["items"]) == 1
