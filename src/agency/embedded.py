"""The embedded default: API, scheduler and worker in one process, nothing to configure.

SQLite file under ``var/``, Dramatiq's in-process broker consumed by an in-process worker.
The same code runs split into processes in production; only configuration differs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import dramatiq
import uvicorn

from agency.app import create_app
from agency.assembly import build_runtime
from agency.config import DEVELOPMENT_SECRET_KEY, get_settings
from agency.kernel.memory import tune_gc
from agency.kernel.migrate import upgrade
from agency.kernel.scheduling import run_scheduler
from agency.kernel.serving import uvicorn_options

logger = logging.getLogger("agency.embedded")

WELCOME = """
agency is running on {url}  (API docs: {url}/schema)
Database: {db}

First time? In another terminal, create an agency, its owner and an API token:
  .venv/bin/agency admin create-agency --name "My Agency" --slug my-agency \\
      --owner-email you@example.com --owner-name "You"
  .venv/bin/agency admin create-token --agency my-agency --name cli
then call the API with:  curl -H "Authorization: Bearer <token>" {url}/agency
"""

DEVELOPMENT_KEY_WARNING = (
    "using the built-in development AGENCY_SECRET_KEY, which is public: fine on this machine, "
    "never for real accounts (`agency serve`, `worker` and `scheduler` refuse it)"
)


def run_embedded(host: str, port: int) -> None:
    settings = get_settings()
    upgrade(settings)
    runtime = build_runtime(settings)
    consumer = dramatiq.Worker(runtime.broker, worker_threads=settings.worker.threads)
    consumer.start()
    app = create_app(settings, runtime)
    app.on_startup.append(tune_gc)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, **uvicorn_options()))
    url = f"http://{host}:{port}"
    print(WELCOME.format(url=url, db=settings.database.url), flush=True)
    if settings.auth.secret_key.get_secret_value() == DEVELOPMENT_SECRET_KEY:
        logger.warning(DEVELOPMENT_KEY_WARNING)

    async def main() -> None:
        stop = asyncio.Event()
        scheduler = asyncio.create_task(run_scheduler(runtime, stop))
        try:
            await server.serve()
        finally:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await scheduler

    try:
        asyncio.run(main())
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        consumer.stop()
        runtime.broker.close()
