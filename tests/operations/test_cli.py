"""The operator's command line: each failure an operator can fix is one line, not a traceback.

Every test runs the real ``agency`` command in a child process with a clean environment,
against the run's PostgreSQL and Redis or a SQLite file of its own.
"""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest

from agency import __version__
from agency.config import Settings
from tests.conftest import APP_PW, APP_ROLE, DB, OWNER, OWNER_PW
from tests.support.cli import clean_env, run_agency
from tests.support.servers import PostgresServer, RedisServer, free_port

pytestmark = pytest.mark.slow

pytestmark = pytest.mark.slow  # every test starts the command in a process of its own

ROOT = Path(__file__).resolve().parents[2]
REAL_KEY = "k3Q9pX2vN7mR4tY8wB1cE6hJ0sL5fA2gD9uZ"


def one_line_failure(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """The single ``Error:`` line of a failed command, holding ``words``."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def sqlite_env(tmp_path: Path, **more: str) -> dict[str, str]:
    return clean_env(
        AGENCY_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'var' / 'agency.db'}",
        AGENCY_MEDIA__LOCAL_PATH=str(tmp_path / "media"),
        **more,
    )


def test_version_is_the_package_version(tmp_path: Path) -> None:
    result = run_agency(["--version"], clean_env(), tmp_path)
    assert result.returncode == 0, result.stderr
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert result.stdout.strip() == f"agency, version {__version__}"
    assert __version__ == pyproject["project"]["version"]


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("postgres//agency@db/agency", ["AGENCY_DATABASE_URL", "not a database URL"]),
        ("postgresql://agency:pw@db/agency", ["AGENCY_DATABASE_URL", "postgresql+asyncpg://"]),
    ],
)
def test_a_wrong_database_url_is_one_line(tmp_path: Path, url: str, words: list[str]) -> None:
    for command in (["db", "upgrade"], ["check"], ["worker"]):
        result = run_agency(command, clean_env(AGENCY_DATABASE_URL=url), tmp_path)
        line = one_line_failure(result, *words)
        assert "pw" not in line  # a URL's password is never printed


def test_an_unreachable_database_is_one_line_naming_it_without_its_password(
    tmp_path: Path,
) -> None:
    port = free_port()
    url = f"postgresql+asyncpg://agency_owner:s3cret@127.0.0.1:{port}/agency"
    result = run_agency(["db", "upgrade"], clean_env(AGENCY_DATABASE_MIGRATION_URL=url), tmp_path)
    line = one_line_failure(result, "cannot reach the database", f"127.0.0.1:{port}", "refused")
    assert "s3cret" not in line
    unknown = url.replace("127.0.0.1", "db.invalid")
    result = run_agency(["db", "current"], clean_env(AGENCY_DATABASE_URL=unknown), tmp_path)
    one_line_failure(result, "db.invalid", "does not resolve")


def test_an_unknown_role_and_a_missing_database_say_so(pg: PostgresServer, tmp_path: Path) -> None:
    # (The test server trusts loopback: a wrong password is tried by the deployment script.)
    stranger = pg.sqlalchemy_url("nobody_here", "pw", DB)
    result = run_agency(["db", "current"], clean_env(AGENCY_DATABASE_URL=stranger), tmp_path)
    one_line_failure(result, '"nobody_here" does not exist', "LOGIN")
    missing = pg.sqlalchemy_url(OWNER, OWNER_PW, "no_such_database")
    result = run_agency(["db", "current"], clean_env(AGENCY_DATABASE_URL=missing), tmp_path)
    one_line_failure(result, "does not exist")


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("AGENCY_WORKER_THREADS", "four", ["AGENCY_WORKER_THREADS='four'", "integer"]),
        ("AGENCY_MEDIA__STORAGE", "disk", ["AGENCY_MEDIA__STORAGE='disk'", "'local' or 's3'"]),
        ("AGENCY_MAIL__SMTP_SECURITY", "ssl", ["AGENCY_MAIL__SMTP_SECURITY", "'starttls'"]),
        ("AGENCY_NETWORKS__X__CLIENT_ID", "{", []),  # a string: accepted as is
        ("AGENCY_ENCRYPTION_KEYS", "1:not-a-key", ["AGENCY_ENCRYPTION_KEYS", "not a Fernet key"]),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(
    tmp_path: Path, variable: str, value: str, words: list[str]
) -> None:
    result = run_agency(["check"], sqlite_env(tmp_path, **{variable: value}), tmp_path)
    if not words:
        assert "Traceback" not in result.stderr, result.stderr
        return
    line = one_line_failure(result, "bad setting", *words)
    if variable == "AGENCY_ENCRYPTION_KEYS":
        assert "not-a-key" not in line  # secrets are never echoed


def test_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "agency.db"
    env = clean_env(AGENCY_DATABASE_URL=f"sqlite+aiosqlite:///{missing}")
    one_line_failure(
        run_agency(["db", "current"], env, tmp_path), f"the directory {missing.parent}"
    )
    output = tmp_path / "nowhere" / "openapi.json"
    one_line_failure(run_agency(["openapi", "--output", str(output)], env, tmp_path), str(output))


def test_traceback_shows_the_whole_failure_on_demand(tmp_path: Path) -> None:
    url = f"postgresql+asyncpg://a:b@127.0.0.1:{free_port()}/agency"
    result = run_agency(
        ["--traceback", "db", "current"], clean_env(AGENCY_DATABASE_URL=url), tmp_path
    )
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "ConnectionRefusedError" in result.stderr


def test_db_current_upgrade_and_downgrade(tmp_path: Path) -> None:
    env = sqlite_env(tmp_path)
    (tmp_path / "var").mkdir()
    current = run_agency(["db", "current"], env, tmp_path)
    assert current.returncode == 0, current.stderr
    assert current.stdout.startswith("base (no migration applied"), current.stdout
    upgraded = run_agency(["db", "upgrade"], env, tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    head = upgraded.stdout.split()[2]
    assert upgraded.stdout.strip() == f"database at {head} (latest)"
    down = run_agency(["db", "downgrade", "-1", "--yes"], env, tmp_path)
    assert down.returncode == 0, down.stderr
    assert f"this code's latest is {head}" in down.stdout
    check = run_agency(["check"], env, tmp_path)
    assert check.returncode == 1
    assert "run `agency db upgrade`" in check.stdout, check.stdout
    refused = run_agency(["db", "downgrade", "base"], env, tmp_path)  # no --yes, no terminal
    assert refused.returncode == 1 and "Aborted" in refused.stderr
    assert run_agency(["db", "current"], env, tmp_path).stdout != current.stdout


def test_check_passes_on_a_sound_production_setup(settings: Settings, tmp_path: Path) -> None:
    env = clean_env(
        AGENCY_DATABASE_URL=settings.database.url,
        AGENCY_REDIS_URL=settings.redis.url or "",
        AGENCY_SECRET_KEY=REAL_KEY,
        AGENCY_MEDIA__LOCAL_PATH=str(tmp_path / "media"),
    )
    result = run_agency(["check"], env, tmp_path)
    assert result.returncode == 0, (result.stdout, result.stderr)
    lines = dict(line.split(None, 1) for line in result.stdout.splitlines())
    assert set(lines) == {"settings", "database", "schema", "role", "broker", "media"}
    assert all(line.startswith("ok") for line in lines.values()), result.stdout
    assert APP_PW not in result.stdout


def test_check_says_what_is_wrong(
    settings: Settings, pg: PostgresServer, redis_server: RedisServer, tmp_path: Path
) -> None:
    down = free_port()
    env = clean_env(
        # The owner role: RLS would not bind the app.
        AGENCY_DATABASE_URL=settings.database.owner_url,
        AGENCY_REDIS_URL=f"redis://127.0.0.1:{down}/0",
        AGENCY_SECRET_KEY="short",
        AGENCY_MEDIA__STORAGE="s3",
    )
    result = run_agency(["check"], env, tmp_path)
    assert result.returncode == 1
    lines = dict(line.split(None, 1) for line in result.stdout.splitlines())
    assert lines["settings"].startswith("FAILED") and "32" in lines["settings"]
    assert lines["role"].startswith("FAILED") and f"{OWNER} owns" in lines["role"]
    assert lines["broker"].startswith("FAILED"), lines["broker"]
    assert f"cannot reach Redis at redis://127.0.0.1:{down}/0" in lines["broker"]
    assert lines["media"].startswith("FAILED") and "without a bucket" in lines["media"]
    assert lines["database"].startswith("ok") and lines["schema"].startswith("ok")
    assert result.stderr.strip() == "not ready: settings, role, broker, media"
    assert APP_ROLE not in result.stdout
