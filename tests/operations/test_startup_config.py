"""Production commands refuse the public development key, in one line; the embedded run warns.

Each runs the real ``agency`` command in a child process with a clean environment.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from agency.config import Settings
from agency.kernel.runtime import Runtime
from tests.conftest import Tenant
from tests.helpers import create_brand, insert_channel_objects
from tests.support.cli import clean_env as _env
from tests.support.cli import run_agency as _agency
from tests.support.servers import free_port

pytestmark = pytest.mark.slow

REAL_KEY = "k3Q9pX2vN7mR4tY8wB1cE6hJ0sL5fA2gD9uZ"


def _refused(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if "refusing to start" in line]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("command", [["serve"], ["worker"], ["scheduler"]])
def test_production_commands_refuse_the_development_key(tmp_path: Path, command: list[str]) -> None:
    line = _refused(_agency(command, _env(), tmp_path), "AGENCY_SECRET_KEY", "public")
    assert "insecure-embedded-default" not in line  # the message never prints a key


@pytest.mark.parametrize("command", [["serve"], ["worker"], ["scheduler"]])
def test_production_commands_refuse_a_short_key(tmp_path: Path, command: list[str]) -> None:
    result = _agency(command, _env(AGENCY_SECRET_KEY="hunter2"), tmp_path)
    _refused(result, "AGENCY_SECRET_KEY", "32")


async def test_sealed_tokens_need_encryption_keys(
    client: httpx.AsyncClient,
    runtime: Runtime,
    settings: Settings,
    tenant_a: Tenant,
    tmp_path: Path,
) -> None:
    env = _env(
        AGENCY_DATABASE_URL=settings.database.url,
        AGENCY_REDIS_URL=settings.redis.url or "",
        AGENCY_SECRET_KEY=REAL_KEY,
    )
    await insert_channel_objects(runtime, tenant_a.agency_id, await create_brand(client, tenant_a))
    for command in (["worker"], ["scheduler"], ["serve", "--port", str(free_port())]):
        _refused(_agency(command, env, tmp_path), "AGENCY_ENCRYPTION_KEYS")
    derived = _agency(["secrets", "derived-key"], env, tmp_path)
    assert derived.returncode == 0 and derived.stdout.startswith("0:"), derived.stderr


def _started(command: list[str], env: dict[str, str], cwd: Path, ready: str) -> str:
    """Start ``agency <command>``, wait for ``ready`` in its log, stop it; the log so far."""
    process = subprocess.Popen(
        [sys.executable, "-m", "agency", *command],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 60
        assert process.stderr is not None
        for line in process.stderr:
            seen.append(line)
            if ready in line:
                return "".join(seen)
            assert time.monotonic() < deadline, "".join(seen)
        raise AssertionError(f"exited with {process.wait()}: {''.join(seen)}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a loaded machine: stopping is not under test
            process.kill()
            process.wait(timeout=10)


def test_a_real_key_starts_the_worker(settings: Settings, tmp_path: Path) -> None:
    env = _env(
        AGENCY_DATABASE_URL=settings.database.url,
        AGENCY_REDIS_URL=settings.redis.url or "",
        AGENCY_SECRET_KEY=REAL_KEY,
    )
    log = _started(["worker", "--threads", "1"], env, tmp_path, "worker started")
    assert "refusing" not in log


def test_the_embedded_run_says_it_uses_the_development_key(tmp_path: Path) -> None:
    env = _env(AGENCY_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'agency.db'}")
    log = _started(
        ["run", "--port", str(free_port())], env, tmp_path, "development AGENCY_SECRET_KEY"
    )
    assert "public" in log
