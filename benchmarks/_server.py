"""The app as the benchmark serves it: the real app plus one bare endpoint, under uvicorn.

``server_app`` is the uvicorn factory the child process imports; it takes its settings from
the ``AGENCY_*`` variables, as ``agency serve`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import msgspec
from litestar import Litestar, Request, Response, get
from tests.support.servers import PostgresServer

from agency.access.secrets import SESSION_PREFIX, parse_bearer, secret_matches
from agency.app import create_app
from agency.assembly import build_runtime
from agency.config import Settings
from agency.kernel.memory import tune_gc
from agency.kernel.pagination import encode_cursor
from agency.kernel.runtime import Runtime
from benchmarks import _profile
from benchmarks._data import APP_PW, APP_ROLE, AUTHENTICATE_SQL, DB, LIST_SQL, OWNER, OWNER_PW
from benchmarks._load import HOST

ROOT = Path(__file__).resolve().parents[1]
LIST_PATH = "/audit-events?limit=50"
BARE_PATH = "/bench/bare"
FLOOR_PATH = "/bench/floor?limit=50"


@get(BARE_PATH, opt={"public": True})
async def bare() -> dict[str, str]:
    return {"status": "ok"}


_FLOOR_POOLS: dict[asyncio.AbstractEventLoop, Any] = {}


async def _floor_pool(settings: Settings) -> Any:
    """One asyncpg pool per event loop, as large as the app's, JSON decoded as the app does."""
    loop = asyncio.get_running_loop()
    if loop not in _FLOOR_POOLS:
        url = settings.database.url.replace("postgresql+asyncpg://", "postgresql://")
        size = settings.database.pool_size

        async def init(conn: Any) -> None:
            await conn.set_type_codec(
                "json", encoder=str, decoder=msgspec.json.decode, schema="pg_catalog"
            )

        _FLOOR_POOLS[loop] = await asyncpg.create_pool(url, min_size=1, max_size=size, init=init)
    return _FLOOR_POOLS[loop]


_UNAUTHORIZED = Response(b"", status_code=401)


@get(FLOOR_PATH.partition("?")[0], opt={"public": True})
async def floor(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The floor: the list's statements through raw asyncpg in the same app and process.

    Authentication's call (the agency bound, the credential and its holder's role read), the
    secret checked, the page of 50 read and encoded to JSON: what ``GET /audit-events`` does,
    without SQLAlchemy, the app's dependencies or its response structs.
    """
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    bearer = parse_bearer(token, SESSION_PREFIX) if scheme.lower() == "bearer" else None
    if bearer is None:
        return _UNAUTHORIZED
    pool = await _floor_pool(request.app.state.runtime.settings)
    async with pool.acquire() as conn, conn.transaction():
        held = await conn.fetchrow(AUTHENTICATE_SQL, bearer.agency_id, bearer.object_id)
        if held is None or held["revoked_at"] is not None:
            return _UNAUTHORIZED
        if not secret_matches(bearer.secret, held["secret_hash"]):
            return _UNAUTHORIZED
        rows = await conn.fetch(LIST_SQL, bearer.agency_id)
    items = [dict(row) for row in rows[:50]]
    cursor = encode_cursor(items[-1]["id"]) if len(rows) > 50 else None
    body = msgspec.json.encode({"items": items, "next_cursor": cursor})
    return Response(body, media_type="application/json")


def bench_app(settings: Settings, runtime: Runtime) -> Litestar:
    return create_app(settings, runtime, extra_route_handlers=[bare, floor])


def server_app() -> Litestar:
    """uvicorn factory of the server processes, set up as ``agency.asgi`` sets up its app."""
    settings = Settings()
    app = bench_app(settings, build_runtime(settings))
    app.on_startup.append(tune_gc)
    if profile := os.environ.get(_profile.ENV):
        _profile.StackSampler(Path(profile)).start()
    return app


def server_env(
    pg: PostgresServer, pool_size: int, max_overflow: int, profile: Path | None = None
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENCY_", "PG"))}
    env.update(
        {
            "AGENCY_DATABASE_URL": pg.sqlalchemy_url(APP_ROLE, APP_PW, DB),
            "AGENCY_DATABASE_MIGRATION_URL": pg.sqlalchemy_url(OWNER, OWNER_PW, DB),
            "AGENCY_DATABASE_APP_ROLE": APP_ROLE,
            "AGENCY_DATABASE_POOL_SIZE": str(pool_size),
            "AGENCY_DATABASE_MAX_OVERFLOW": str(max_overflow),
            # One token drives the whole load: counted (the cost is measured), never refused.
            "AGENCY_RATE_LIMITS__REQUESTS_PER_CREDENTIAL_PER_MINUTE": str(10**9),
        }
    )
    if profile is not None:
        env[_profile.ENV] = str(profile)
    return env


def _http_get(port: int, path: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://{HOST}:{port}{path}")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read())


def _wait_until_up(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {proc.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError):
            if _http_get(port, "/health")[0] == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn not up in 60 s:\n{log.read_text()}")
        time.sleep(0.1)


@contextlib.contextmanager
def uvicorn_server(
    env: dict[str, str], workers: int, port: int, root: Path = ROOT
) -> Iterator[int]:
    """Serve ``server_app`` with uvicorn in a child process; yield the child's pid. ``root``:
    the source tree served (another checkout, to compare a change with what it changes)."""
    if root != ROOT:
        env = {
            **env,
            "PYTHONPATH": os.pathsep.join(str(root / d) for d in ("src", "connectors", ".")),
        }
    cmd = [sys.executable, "-m", "uvicorn", "benchmarks._server:server_app", "--app-dir", str(root)]
    cmd += f"--factory --host {HOST} --port {port} --workers {workers}".split()
    cmd += ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
    with tempfile.NamedTemporaryFile(prefix="bench-uvicorn-", suffix=".log") as log:
        proc = subprocess.Popen(
            cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            _wait_until_up(proc, port, Path(log.name))
            time.sleep(1.0 if workers > 1 else 0.2)  # let every worker finish starting
            yield proc.pid
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)  # the group this script started
                    proc.wait(10)


def sanity_check(port: int, token: str) -> None:
    """Both endpoints answer what they should before any load: 200s, a full page, a 401."""
    status, body = _http_get(port, BARE_PATH)
    if status != 200 or json.loads(body) != {"status": "ok"}:
        raise RuntimeError(f"bare endpoint answered {status}: {body[:200]!r}")
    status, body = _http_get(port, LIST_PATH, token)
    page = json.loads(body) if status == 200 else {}
    if status != 200 or len(page.get("items", [])) != 50 or not page.get("next_cursor"):
        raise RuntimeError(f"list endpoint answered {status}: {body[:300]!r}")
    status, _ = _http_get(port, LIST_PATH, None)
    if status != 401:
        raise RuntimeError(f"list endpoint without a token answered {status}, not 401")
    status, floor_body = _http_get(port, FLOOR_PATH, token)
    floor_ids = [item["id"] for item in json.loads(floor_body)["items"]] if status == 200 else []
    if floor_ids != [item["id"] for item in page["items"]]:
        raise RuntimeError(f"floor endpoint answered {status}: {floor_body[:300]!r}")
