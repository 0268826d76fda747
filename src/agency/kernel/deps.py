"""Names of the dependencies every controller may take, shared parameters, and the way a
controller declares its services as Litestar dependencies.

A service is provided by one *sync* function of the request (no thread, no awaiting): it
reads the request's session and subject where the transaction middleware and the
authentication step left them. A handler asking only for its service has a single
dependency, which Litestar resolves inline; several dependencies at one level would be
resolved in a task group, a cost paid on every request, unless
:func:`resolve_dependencies_in_turn` is in force (the app turns it on).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeAlias, TypeVar

from litestar import Request
from litestar._kwargs.cleanup import DependencyCleanupGroup
from litestar._kwargs.dependencies import resolve_dependency
from litestar._kwargs.kwargs_model import KwargsModel
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency, Provide
from litestar.params import HeaderParameter
from sqlalchemy.ext.asyncio import AsyncSession

from agency.kernel.idempotency import Idempotency
from agency.kernel.pagination import PageRequest
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import SUBJECT_STATE, Subject
from agency.kernel.transaction import request_context

T = TypeVar("T")

DbSession: TypeAlias = NamedDependency[AsyncSession]
CurrentSubject: TypeAlias = NamedDependency[Subject]
Paging: TypeAlias = NamedDependency[PageRequest]
AppRuntime: TypeAlias = NamedDependency[Runtime]
IdempotencyGuard: TypeAlias = NamedDependency[Idempotency]
IfMatch: TypeAlias = Annotated[
    str | None,
    HeaderParameter(
        name="If-Match", required=False, description="The ETag you read; required to edit."
    ),
]


async def _resolve_in_turn(
    self: KwargsModel, connection: ASGIConnection[Any, Any, Any, Any], kwargs: dict[str, Any]
) -> DependencyCleanupGroup:
    """Litestar's ``KwargsModel.resolve_dependencies``, one dependency after the other.

    Litestar resolves the dependencies of one level side by side in an anyio task group: a
    list handler asking for its service and its page paid a task group (tasks, a cancel scope,
    an exception group) on every request. Ours wait on nothing (they read what the
    transaction middleware and the authentication step left on the request), so side by side
    only costs.
    """
    cleanup_group = DependencyCleanupGroup()
    for batch in self.dependency_batches:
        for dependency in batch:
            await resolve_dependency(dependency, connection, kwargs, cleanup_group)
    return cleanup_group


def resolve_dependencies_in_turn() -> None:
    """Make every app of this process resolve dependencies in turn (idempotent)."""
    KwargsModel.resolve_dependencies = _resolve_in_turn  # type: ignore[method-assign]


def request_subject(request: Request[Any, Any, Any]) -> Subject:
    subject = request.state.get(SUBJECT_STATE)
    if not isinstance(subject, Subject):
        # A handler marked public cannot ask for a subject: that is a programming error.
        raise RuntimeError(f"{request.route_handler.handler_name} is public but wants a subject")
    return subject


def request_session(request: Request[Any, Any, Any]) -> AsyncSession:
    return request_context(request.scope).get_session()


def request_runtime(request: Request[Any, Any, Any]) -> Runtime:
    return request_context(request.scope).runtime


def provide_service(build: Callable[[AsyncSession, Subject], Any]) -> Provide:
    """``build(session, subject)`` for each request, as a sync dependency."""

    def provide(request: Request[Any, Any, Any]) -> Any:
        return build(request_session(request), request_subject(request))

    return Provide(provide, sync_to_thread=False)


def provide_runtime_service(build: Callable[[AsyncSession, Subject, Runtime], Any]) -> Provide:
    """``build(session, subject, runtime)`` for each request, as a sync dependency."""

    def provide(request: Request[Any, Any, Any]) -> Any:
        return build(request_session(request), request_subject(request), request_runtime(request))

    return Provide(provide, sync_to_thread=False)
