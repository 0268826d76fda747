"""The runtime, assembled: what the kernel is handed rather than goes looking for.

The kernel knows no domain. Here the connectors are found (the ``agency.connectors`` entry
points), every model and job module is imported (a job's flush needs the whole mapper
graph), the hooks by which one domain follows another are wired (the approval engine
plugged into the publication state machine among them), and the jobs are declared on the
broker, bound to the runtime they run with. The API (``agency.app``), the processes
(``agency.cli``) and the embedded default all start here.
"""

from __future__ import annotations

from agency import models, tasks
from agency.approval.plug import CrisisApproval, RoutedApproval
from agency.calendar.series import SERIES_HOOK
from agency.config import Settings, get_settings
from agency.connector.registry import Registry, installed
from agency.kernel.jobs import declare_actors, setup_broker
from agency.kernel.runtime import Runtime
from agency.publication.hooks import publication_hooks
from agency.publication.states import register_policy

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
    wire(runtime)
    declare_actors(runtime)
    return runtime


def wire(runtime: Runtime) -> None:
    """What one domain does when another's rows move: handed in here, so that the lower
    domain never imports the higher one. The calendar follows publications' schedules; the
    approval engine answers the state machine's questions for brands with policies (a
    process-wide registry, as brands name their policy by name)."""
    runtime.component(publication_hooks).add(SERIES_HOOK)
    register_policy(RoutedApproval())
    register_policy(CrisisApproval())
