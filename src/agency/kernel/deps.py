"""Names of the dependencies every controller may take, and shared parameters."""

from __future__ import annotations

from typing import Annotated, TypeAlias

from litestar.di import NamedDependency
from litestar.params import HeaderParameter
from sqlalchemy.ext.asyncio import AsyncSession

from agency.kernel.idempotency import Idempotency
from agency.kernel.pagination import PageRequest
from agency.kernel.runtime import Runtime
from agency.kernel.tenancy import Subject

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
