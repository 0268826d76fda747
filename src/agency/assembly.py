"""The runtime, assembled: what the kernel is handed rather than goes looking for.

The kernel knows no domain. Here the connectors are found (the ``agency.connectors`` entry
points), every model and job module is imported (a job's flush needs the whole mapper
graph), and the jobs are declared on the broker, bound to the runtime they run with. The
API (``agency.app``), the processes (``agency.cli``) and the embedded default all start here.
"""

from __future__ import annotations

from agency import models, tasks
from agency.config import Settings, get_settings
from agency.connector.registry import Registry, installed
from agency.kernel.jobs import declare_actors, setup_broker
from agency.kernel.runtime import Runtime

# Imported for what importing them does: the mappers and the job declarations.
JOB_MODULES = (models, tasks)


def build_runtime(settings: Settings | None = None, connectors: Registry | None = None) -> Runtime:
    """The runtime of this process, its jobs declared on its broker.

    ``connectors`` defaults to what the entry points list; tests pass their own.
    """
    settings = settings or get_settings()
    runtime = Runtime(
        settings, setup_broker(settings), connectors if connectors is not None else installed()
    )
    declare_actors(runtime)
    return runtime
