"""docs/deployment.md, tried as written: its walkthrough's shell blocks run in order, in one
bash, against a PostgreSQL 15 of their own that checks passwords (scram-sha-256) and whose
superuser is not the owner of anything, and a Redis of their own. Only the host names and
ports of the page are replaced. And the two mistakes the page warns of fail as it says.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import OWNER_PW
from tests.support.cli import clean_env, run_agency
from tests.support.servers import PostgresServer, RedisServer, free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "deployment.md"
BIN = Path(sys.executable).parent


def walkthrough() -> list[str]:
    """The page's ``sh`` blocks between its walkthrough markers, in order."""
    text = PAGE.read_text()
    section = text.split("<!-- walkthrough:start -->", 1)[1].split("<!-- walkthrough:end -->")[0]
    return re.findall(r"^```sh\n(.*?)^```$", section, re.M | re.S)


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[PostgresServer, RedisServer]]:
    """PostgreSQL with passwords checked (the harness's own superuser still trusted on
    loopback, to set it up), and Redis."""
    pg = PostgresServer()
    redis = RedisServer()
    try:
        hba = pg.data_dir / "pg_hba.conf"
        hba.write_text(
            "local all all trust\n"
            "host all postgres 127.0.0.1/32 trust\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
        )
        os.chown(hba, pg.data_dir.stat().st_uid, pg.data_dir.stat().st_gid)
        pg.execute("SELECT pg_reload_conf()")
        yield pg, redis
    finally:
        redis.close()
        pg.close()


def _env(**more: str) -> dict[str, str]:
    return clean_env(
        PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
        # This checkout's code, whatever copy the environment has installed.
        PYTHONPATH=os.pathsep.join(str(ROOT / d) for d in ("src", "connectors", "")),
        **more,
    )


def test_the_walkthrough_runs_as_written(
    servers: tuple[PostgresServer, RedisServer], tmp_path: Path
) -> None:
    pg, redis = servers
    port = free_port()
    blocks = walkthrough()
    assert len(blocks) >= 7
    script = "set -euo pipefail\n" + "\n".join(blocks)
    for page, here in (
        ("DB_HOST=db.internal", "DB_HOST=127.0.0.1"),
        ("DB_PORT=5432", f"DB_PORT={pg.port}"),
        ("redis://redis.internal:6379/0", redis.url),
        ("127.0.0.1:8000", f"127.0.0.1:{port}"),
        ("--port 8000", f"--port {port}"),
    ):
        assert page in script, page
        script = script.replace(page, here)
    bash = subprocess.Popen(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # the processes it starts in the background, killed below
    )
    try:
        out, err = bash.communicate(timeout=600)
    finally:
        os.killpg(bash.pid, signal.SIGTERM)
    logs = {n: (tmp_path / f"{n}.log").read_text() for n in ("api", "worker", "scheduler")}
    assert bash.returncode == 0, f"{out}\n{err}\n{logs}"
    assert "(latest)" in out  # agency db current
    checks = [line for line in out.splitlines() if line.split()[:1] in (["settings"], ["role"])]
    assert all(" ok " in f"{line} " for line in checks), out
    answers = [json.loads(line) for line in out.splitlines() if line.startswith('{"')]
    assert {"status": "ok", "checks": {"database": "ok", "broker": "ok"}} in answers  # /ready
    assert any(a.get("slug") == "horizon" for a in answers)  # GET /agency with the token
    assert '"re_encrypted"' in out  # agency secrets rotate
    not_json = [line for line in logs["api"].splitlines() if not line.startswith("{")]
    assert not_json == []  # JSON lines only, the access log among them
    access = [json.loads(x) for x in logs["api"].splitlines() if '"agency.access"' in x]
    assert any(a["route"] == "/agency" and a["status"] == 200 and a["request_id"] for a in access)
    env = (tmp_path / "agency.env").read_text()
    assert env.count(":") and "AGENCY_ENCRYPTION_KEYS=2:" in env  # the new key, alone now
    assert "," not in env.split("AGENCY_ENCRYPTION_KEYS=")[1].splitlines()[0]


def test_a_database_the_superuser_made_for_itself_fails_as_the_page_says(
    servers: tuple[PostgresServer, RedisServer], tmp_path: Path
) -> None:
    pg, _ = servers
    pg.execute("CREATE ROLE mistaken_owner LOGIN PASSWORD 'owner-pw'")
    pg.execute("CREATE DATABASE mistaken")  # owned by the superuser, as the page warns
    pg.execute("GRANT CONNECT ON DATABASE mistaken TO mistaken_owner")
    owner = pg.sqlalchemy_url("mistaken_owner", OWNER_PW, "mistaken")
    result = run_agency(["db", "upgrade"], _env(AGENCY_DATABASE_URL=owner), tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "permission denied for schema public" in result.stderr
    assert "must be owned by the role that migrates" in result.stderr
    wrong = pg.sqlalchemy_url("mistaken_owner", "not-the-password", "mistaken")
    result = run_agency(["db", "current"], _env(AGENCY_DATABASE_URL=wrong), tmp_path)
    assert result.returncode == 1 and "the password is wrong" in result.stderr, result.stderr
    assert "not-the-password" not in result.stderr
