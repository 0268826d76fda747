"""The ``agency`` command: run the processes, migrate, and administer agencies."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click

from agency import __version__
from agency.config import get_settings
from agency.kernel import eventloop
from agency.kernel.diagnosis import explain
from agency.kernel.limits import raise_open_files
from agency.kernel.logs import configure_logging as configure_process_logging
from agency.kernel.memory import tune_gc

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime

# ctx.meta keys: the operator asked for tracebacks; the command connects as the owner role.
TRACEBACK = "agency.traceback"
AS_OWNER = "agency.as_owner"


def configure_logging() -> None:
    """The process's log lines, as ``AGENCY_LOGS__*`` say (text, or JSON for a collector)."""
    configure_process_logging(get_settings().logs)


def observe(process: str, runtime: Runtime | None = None) -> None:
    """Traces, if exported, and the metrics port of a process that serves no HTTP."""
    from agency.kernel.metrics import serve_metrics
    from agency.kernel.telemetry import configure_tracing

    configure_tracing(f"agency-{process}")
    settings = get_settings().metrics
    if runtime is not None and settings.enabled:
        try:
            serve_metrics(settings.port, runtime.broker)
        except OSError as exc:  # the port is taken: run anyway, unscraped, and say so
            logging.getLogger("agency.metrics").warning(
                "metrics not served on port %s: %s", settings.port, exc.strerror or exc
            )


def require_production_settings() -> None:
    """Stop with one line (no traceback) when the configuration is unsafe for production."""
    from agency.kernel.startup import UnsafeConfiguration, check_production
    from agency.models import Base

    try:
        check_production(get_settings(), Base.metadata)
    except UnsafeConfiguration as exc:
        raise click.ClickException(f"refusing to start: {exc}") from None


class OperatorGroup(click.Group):
    """Failures an operator can fix end in one line saying what is wrong, not a traceback
    (``--traceback`` shows it anyway)."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            if ctx.meta.get(TRACEBACK):
                raise
            line = explain(exc, *_urls(ctx))
            if line is None:
                raise
            raise click.ClickException(line) from None


def _urls(ctx: click.Context) -> tuple[str | None, str | None]:
    """The database and Redis URLs the failed command used, if the settings can be read."""
    try:
        settings = get_settings()
    except Exception:
        return None, None
    database = settings.database
    return (database.owner_url if ctx.meta.get(AS_OWNER) else database.url), settings.redis.url


@click.group(cls=OperatorGroup)
@click.version_option(__version__, prog_name="agency")
@click.option(
    "--traceback",
    is_flag=True,
    envvar="AGENCY_TRACEBACK",
    help="Show the whole traceback of a failure instead of one line.",
)
@click.pass_context
def main(ctx: click.Context, traceback: bool) -> None:
    """agency: the multi-tenant backend for social-media agencies."""
    ctx.meta[TRACEBACK] = traceback


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--workers", default=1, show_default=True, help="uvicorn worker processes.")
def serve(host: str, port: int, workers: int) -> None:
    """Run the API (production: one of several stateless replicas)."""
    import uvicorn

    configure_logging()
    require_production_settings()
    from agency.kernel.serving import uvicorn_options

    if workers > 1 and get_settings().metrics.enabled:
        # Each process counts in files of one directory; /metrics adds them up.
        os.environ.setdefault(
            "PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="agency-metrics-")
        )
    uvicorn.run(
        "agency.asgi:app",
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        **uvicorn_options(),
    )


def run_worker(runtime: Runtime, threads: int | None = None) -> None:
    """Consume jobs from the runtime's broker until SIGINT or SIGTERM."""
    import dramatiq

    from agency.kernel.outages import quiet_consumers

    eventloop.install()  # before the worker boots: Dramatiq makes its loop then
    raise_open_files(runtime.settings.connectors.http_max_connections)
    quiet_consumers(runtime.broker, runtime.settings.redis.url)
    consumer = dramatiq.Worker(
        runtime.broker, worker_threads=threads or runtime.settings.worker.threads
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    consumer.start()
    tune_gc()
    click.echo("worker started", err=True)
    stop.wait()
    consumer.stop()
    runtime.broker.close()


def run_scheduler_process(runtime: Runtime) -> None:
    """Run the scheduler loop until SIGINT or SIGTERM."""
    from agency.kernel.scheduling import run_scheduler

    async def run() -> None:
        tune_gc()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_scheduler(runtime, stop)

    eventloop.run(run())


@main.command()
@click.option("--threads", type=int, default=None, help="Worker threads (default from settings).")
def worker(threads: int | None) -> None:
    """Run a Dramatiq worker that executes jobs from the broker."""
    from agency.assembly import build_runtime

    configure_logging()
    require_production_settings()
    runtime = build_runtime()
    observe("worker", runtime)
    run_worker(runtime, threads)


@main.command()
def scheduler() -> None:
    """Run the scheduler loop that turns due rows into jobs (safe with replicas)."""
    from agency.assembly import build_runtime

    configure_logging()
    require_production_settings()
    runtime = build_runtime()
    observe("scheduler", runtime)
    run_scheduler_process(runtime)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
def run(host: str, port: int) -> None:
    """Embedded default: API, scheduler and worker in one process (SQLite, in-process broker)."""
    from agency.embedded import run_embedded

    configure_logging()
    run_embedded(host, port)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of lines.")
def check(as_json: bool) -> None:
    """Check settings, database, schema, role, broker and media storage; say what is wrong.

    Exits 1 when something fails (the probe of worker and scheduler pods); warnings pass.
    """
    from agency.assembly import build_runtime
    from agency.checkup import checkup

    runtime = build_runtime()
    findings = asyncio.run(checkup(runtime))
    if as_json:
        click.echo(json.dumps({f.name: {"ok": f.ok, "detail": f.detail} for f in findings}))
    else:
        for finding in findings:
            click.echo(finding.line())
    failed = [f.name for f in findings if f.failed]
    if failed:
        click.echo(f"not ready: {', '.join(failed)}", err=True)
        sys.exit(1)


@main.group()
@click.pass_context
def db(ctx: click.Context) -> None:
    """Database schema, changed as the owner role (AGENCY_DATABASE_MIGRATION_URL)."""
    ctx.meta[AS_OWNER] = True


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations (as the owner role), then grant the app role its privileges."""
    from agency.kernel.migrate import upgrade

    upgrade(get_settings(), revision)
    click.echo(f"database at {_revision()}")


def _revision() -> str:
    """Where the database is, next to where this code's migrations end."""
    from agency.kernel.migrate import applied, heads

    current = asyncio.run(applied(get_settings()))
    latest = ", ".join(heads())
    if not current:
        return f"base (no migration applied; this code's latest is {latest})"
    if ", ".join(sorted(current)) == latest:
        return f"{', '.join(current)} (latest)"
    return f"{', '.join(current)} (this code's latest is {latest})"


@db.command("current")
def db_current() -> None:
    """Print the database's revision and whether it is this code's latest."""
    click.echo(_revision())


@db.command("downgrade", context_settings={"ignore_unknown_options": True})
@click.argument("revision")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def db_downgrade(revision: str, yes: bool) -> None:
    """Undo migrations down to REVISION (an id, `-1` for one step, or `base`).

    Data in the dropped tables and columns is lost: take a backup first.
    """
    from agency.kernel.migrate import downgrade

    if not yes:
        click.confirm(f"Downgrade the database to {revision}? Dropped data is lost", abort=True)
    downgrade(get_settings(), revision)
    click.echo(f"database at {_revision()}")


@main.command()
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
def openapi(output: Path | None) -> None:
    """Print (or write) the OpenAPI 3.1 document the API serves."""
    from agency.openapi import openapi_json

    text = openapi_json()
    if output is None:
        click.echo(text)
    else:
        output.write_text(text)
        click.echo(f"wrote {output}", err=True)


@main.group()
def admin() -> None:
    """Administration that is deliberately not reachable over HTTP."""


@admin.command("create-agency")
@click.option("--name", required=True)
@click.option("--slug", required=True)
@click.option("--owner-email", required=True)
@click.option("--owner-name", required=True)
@click.option(
    "--owner-password",
    envvar="AGENCY_OWNER_PASSWORD",
    default=None,
    help="Or AGENCY_OWNER_PASSWORD; prompted for when interactive.",
)
def create_agency(
    name: str, slug: str, owner_email: str, owner_name: str, owner_password: str | None
) -> None:
    """Create an agency and its owner."""
    from agency.admin import create_agency as create

    if owner_password is None and sys.stdin.isatty():
        owner_password = click.prompt("Owner password", hide_input=True, confirmation_prompt=True)
    result = asyncio.run(create(name, slug, owner_email, owner_name, owner_password))
    click.echo(json.dumps(result, indent=2))


@admin.command("create-token")
@click.option("--agency", "agency_slug", required=True, help="Agency slug.")
@click.option("--name", required=True)
@click.option("--scope", "scopes", multiple=True, help="Repeat; default: every permission.")
@click.option("--expires-in-days", type=int, default=90, show_default=True)
def create_token(
    agency_slug: str, name: str, scopes: tuple[str, ...], expires_in_days: int
) -> None:
    """Mint an API token; the secret is printed once and never stored."""
    from agency.admin import create_token as create

    result = asyncio.run(create(agency_slug, name, list(scopes), expires_in_days))
    click.echo(json.dumps(result, indent=2))


@main.group()
def secrets() -> None:
    """Encryption of tokens at rest."""


@secrets.command("generate-key")
@click.option("--version", "key_version", type=int, required=True, help="The new key's version.")
def secrets_generate_key(key_version: int) -> None:
    """Print a new `version:key` item to put first in AGENCY_ENCRYPTION_KEYS."""
    from agency.kernel.secrets import generate_key

    click.echo(f"{key_version}:{generate_key()}")


@secrets.command("derived-key")
def secrets_derived_key() -> None:
    """Print, as `0:key`, the key derived from AGENCY_SECRET_KEY that sealed tokens while
    AGENCY_ENCRYPTION_KEYS was empty: list it after the new key, then rotate."""
    from agency.kernel.secrets import derive_key

    secret = get_settings().auth.secret_key.get_secret_value()
    click.echo(f"0:{derive_key(secret).decode()}")


@secrets.command("rotate")
def secrets_rotate() -> None:
    """Re-encrypt every stored secret with the first (newest) key.

    Put the new key first in AGENCY_ENCRYPTION_KEYS and keep the old ones, restart, run
    this, then the old keys may be removed. Safe to run again if interrupted.
    """
    from agency.admin import rotate_secrets

    if not get_settings().secrets.encryption_keys:
        raise click.ClickException("AGENCY_ENCRYPTION_KEYS is empty: there is no key to rotate to.")
    require_production_settings()
    counts = asyncio.run(rotate_secrets())
    click.echo(json.dumps({"re_encrypted": counts}, indent=2))
