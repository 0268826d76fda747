"""ASGI entry point for uvicorn: ``agency.asgi:app``."""

from agency.app import create_app
from agency.kernel.serving import tune_gc

app = create_app()
app.on_startup.append(tune_gc)
