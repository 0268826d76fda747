"""ASGI entry point for uvicorn: ``agency.asgi:app``.

Each of ``agency serve --workers N``'s processes imports this module on its own, so the
process's logging and tracing are set up here, before the app is built.
"""

from agency.app import create_app
from agency.config import get_settings
from agency.kernel.logs import configure_logging
from agency.kernel.memory import tune_gc
from agency.kernel.telemetry import configure_tracing

configure_logging(get_settings().logs)
configure_tracing("agency-api")
app = create_app()
app.on_startup.append(tune_gc)
