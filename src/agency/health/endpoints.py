from __future__ import annotations

import asyncio
from typing import Any, Literal

from litestar import Request, Response, get
from sqlalchemy import text

from agency.kernel.deps import AppRuntime
from agency.kernel.problems import problem_response, problem_spec
from agency.kernel.runtime import Runtime
from agency.kernel.schemas import Output


class ProcessHealth(Output, omit_defaults=True):
    status: Literal["ok"]
    checks: dict[str, str] | None = None


@get(
    "/health",
    operation_id="getHealth",
    opt={"public": True},
    tags=["Health"],
    summary="The process is up",
)
async def health() -> ProcessHealth:
    return ProcessHealth(status="ok")


@get(
    "/ready",
    operation_id="getReadiness",
    opt={"public": True},
    tags=["Health"],
    summary="Database and broker reachable",
    responses={
        503: problem_spec("The database or the broker is unreachable; `checks` says which.")
    },
)
async def ready(request: Request[Any, Any, Any], runtime: AppRuntime) -> Response[ProcessHealth]:
    checks = await readiness_checks(runtime)
    if all(v == "ok" for v in checks.values()):
        return Response(ProcessHealth(status="ok", checks=checks))
    failing = ", ".join(name for name, v in checks.items() if v != "ok")
    return problem_response(
        request,
        503,
        type_="/problems/not-ready",
        title="Not ready",
        detail=f"Unreachable: {failing}.",
        extensions={"checks": checks},
        headers={"Retry-After": "5"},
    )


async def readiness_checks(runtime: Runtime) -> dict[str, str]:
    checks = {"database": "ok", "broker": "ok"}
    try:
        async with runtime.engine.connect() as conn:
            await asyncio.wait_for(conn.execute(text("SELECT 1")), timeout=2)
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    client = getattr(runtime.broker, "client", None)
    if client is not None:
        try:
            await asyncio.wait_for(asyncio.to_thread(client.ping), timeout=2)
        except Exception as exc:
            checks["broker"] = f"unreachable: {type(exc).__name__}"
    return checks
