"""What an authenticated request costs the database and the event loop: one call binds the
agency and reads the credential, then the handler's own statements; no dependency task group."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar._kwargs import kwargs_model
from sqlalchemy import event

from agency.kernel.runtime import Runtime
from tests.conftest import Tenant


@pytest.fixture
async def statements(runtime: Runtime) -> AsyncIterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    engine = runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_a_list_request_runs_the_authentication_call_then_its_query(
    client: httpx.AsyncClient, tenant_a: Tenant, statements: list[str]
) -> None:
    first = await client.get("/audit-events", params={"limit": 5}, headers=tenant_a.headers)
    assert first.status_code == 200, first.text  # the first use also records last_used_at
    statements.clear()
    again = await client.get("/audit-events", params={"limit": 5}, headers=tenant_a.headers)
    assert again.status_code == 200, again.text
    assert len(statements) == 2, statements
    assert "authenticate_credential" in statements[0]
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
