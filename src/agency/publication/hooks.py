"""What other domains do when a publication moves, in the same transaction.

The publication package imports no domain that builds on it. A domain that reacts to
publications (the calendar starts and tops up the series of a recurring publication)
implements :class:`PublicationHook`, and the app assembly hands it to the runtime:
``runtime.component(publication_hooks).add(hook)``. The publication services call every
hook after a use case has changed its rows and before the request answers, in the same
transaction: what a hook refuses (a rule that cannot expand) refuses the whole request, and
what it writes (the series' id on the publication) is in the answer.

A hook is stateless: each call receives the session, subject and runtime of the unit of
work. A runtime built by hand, without the assembly, has no hooks. The bulk path
(:mod:`agency.publication.bulk`) calls none: it takes only publications no hook acts on
(without a recurrence rule); give it the same calls before adding a hook that acts on every
scheduled publication.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from agency.config import Settings
from agency.kernel.tenancy import Subject
from agency.publication.models import Publication

if TYPE_CHECKING:
    from agency.kernel.runtime import Runtime


class PublicationHook(Protocol):
    async def scheduled(
        self, session: AsyncSession, subject: Subject, runtime: Runtime, publication: Publication
    ) -> None:
        """``publication`` was put on the calendar (by a person, a series or an import)."""

    async def recurrence_changed(
        self,
        session: AsyncSession,
        subject: Subject,
        runtime: Runtime,
        publication: Publication,
        old_rule: str | None,
    ) -> None:
        """An edit changed ``publication.recurrence`` (it was ``old_rule``)."""


class PublicationHooks:
    """The hooks wired into one runtime, called in the order they were added."""

    def __init__(self) -> None:
        self._hooks: list[PublicationHook] = []

    def add(self, hook: PublicationHook) -> None:
        if hook not in self._hooks:
            self._hooks.append(hook)

    async def scheduled(
        self, session: AsyncSession, subject: Subject, runtime: Runtime, publication: Publication
    ) -> None:
        for hook in self._hooks:
            await hook.scheduled(session, subject, runtime, publication)

    async def recurrence_changed(
        self,
        session: AsyncSession,
        subject: Subject,
        runtime: Runtime,
        publication: Publication,
        old_rule: str | None,
    ) -> None:
        for hook in self._hooks:
            await hook.recurrence_changed(session, subject, runtime, publication, old_rule)


def publication_hooks(settings: Settings) -> PublicationHooks:
    """The runtime's component holding its hooks (``runtime.component(publication_hooks)``)."""
    return PublicationHooks()
