"""ASGI entry point for uvicorn: ``agency.asgi:app``."""

from agency.app import create_app

app = create_app()
