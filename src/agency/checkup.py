"""``agency check``: what a process needs, checked one by one, each failure in words.

The probe of the worker and scheduler pods, and the first command an operator runs when
something is off. Each finding names what was checked (without passwords) and, when it
fails, what to do. A finding that is only a warning (a schema newer than this code, during a
rolling upgrade) does not fail the probe.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util import CommandError

from agency.config import Settings
from agency.kernel.diagnosis import explain, safe_url
from agency.kernel.migrate import alembic_config, applied
from agency.kernel.runtime import Runtime
from agency.kernel.startup import UnsafeConfiguration, check_secret_key
from agency.kernel.system import DatabaseRoleRepository

TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    detail: str
    # A warning is said but passes: the process can run with it.
    warning: bool = False

    @property
    def failed(self) -> bool:
        return not self.ok and not self.warning

    def line(self) -> str:
        status = "ok" if self.ok else ("warning" if self.warning else "FAILED")
        return f"{self.name:<10} {status:<8} {self.detail}"


async def checkup(runtime: Runtime) -> list[Finding]:
    settings = runtime.settings
    findings = [secret_key(settings)]
    database = await reach_database(runtime)
    findings.append(database)
    if database.ok:
        findings.append(await schema(settings))
        if not settings.database.is_sqlite:
            findings.append(await app_role(runtime))
    findings.append(await broker(runtime))
    findings.append(media(settings))
    return findings


def secret_key(settings: Settings) -> Finding:
    try:
        check_secret_key(settings)
    except UnsafeConfiguration as exc:
        # The embedded default on SQLite runs with the public key on purpose.
        return Finding("settings", False, str(exc), warning=settings.database.is_sqlite)
    keys = "set" if settings.secrets.encryption_keys else "derived from AGENCY_SECRET_KEY"
    return Finding("settings", True, f"secret key set; encryption keys {keys}")


async def reach_database(runtime: Runtime) -> Finding:
    url = runtime.settings.database.url
    try:
        async with runtime.session() as session:
            await asyncio.wait_for(DatabaseRoleRepository(session).ping(), TIMEOUT_SECONDS)
    except Exception as exc:
        return Finding("database", False, explain(exc, database_url=url) or _short(exc))
    return Finding("database", True, safe_url(url))


async def schema(settings: Settings) -> Finding:
    """The database's revision against this code's (read as the app role)."""
    script = ScriptDirectory.from_config(alembic_config(settings.database.url))
    head = script.get_current_head()
    try:
        current = await applied(settings, url=settings.database.url)
    except Exception as exc:
        return Finding("schema", False, explain(exc, settings.database.url) or _short(exc))
    if not current:
        return Finding("schema", False, "no tables yet: run `agency db upgrade`")
    if current == [head]:
        return Finding("schema", True, f"at {head}, this code's latest")
    try:
        behind = all(script.get_revision(rev) is not None for rev in current)
    except CommandError:
        behind = False
    if behind:
        return Finding(
            "schema",
            False,
            f"at {', '.join(current)}, this code needs {head}: run `agency db upgrade`",
        )
    return Finding(
        "schema",
        False,
        f"at {', '.join(current)}, newer than this code ({head}): a newer release migrated it",
        warning=True,
    )


async def app_role(runtime: Runtime) -> Finding:
    async with runtime.session() as session:
        role, superuser, bypass, owned = await DatabaseRoleRepository(session).powers()
    wrong = [
        what
        for what, bad in (
            ("is a superuser", superuser),
            ("has BYPASSRLS", bypass),
            (f"owns {owned} tables", owned > 0),
        )
        if bad
    ]
    if wrong:
        return Finding(
            "role",
            False,
            f"{role} {' and '.join(wrong)}: row-level security does not bind it; connect the "
            "app as a role that owns nothing (AGENCY_DATABASE_URL), migrate as the owner "
            "(AGENCY_DATABASE_MIGRATION_URL)",
        )
    return Finding("role", True, f"{role} owns nothing and is bound by row-level security")


async def broker(runtime: Runtime) -> Finding:
    client = getattr(runtime.broker, "client", None)
    url = runtime.settings.redis.url
    if client is None:
        return Finding("broker", True, "in-process (no AGENCY_REDIS_URL)")
    try:
        await asyncio.wait_for(asyncio.to_thread(client.ping), TIMEOUT_SECONDS)
    except Exception as exc:
        return Finding("broker", False, explain(exc, redis_url=url) or _short(exc))
    return Finding("broker", True, safe_url(url))


def media(settings: Settings) -> Finding:
    options = settings.media
    if options.storage == "s3":
        if not options.s3_bucket:
            return Finding("media", False, "AGENCY_MEDIA__STORAGE is s3 without a bucket")
        where = options.s3_endpoint_url or "AWS"
        return Finding("media", True, f"S3 bucket {options.s3_bucket} at {where}")
    folder = Path(options.local_path).expanduser()
    # The first upload creates the directory: what matters is that it can.
    existing = next(p for p in (folder, *folder.absolute().parents) if p.exists())
    try:
        with tempfile.NamedTemporaryFile(dir=existing):
            pass
    except OSError:
        return Finding(
            "media",
            False,
            f"directory {existing} is not writable by uid {os.getuid()} "
            f"(AGENCY_MEDIA__LOCAL_PATH={folder})",
        )
    shared = "" if settings.database.is_sqlite else "; api and workers must share it"
    created = "" if existing == folder else ", created on the first upload"
    return Finding("media", True, f"directory {folder}{created}{shared}")


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
