"""Verified credentials kept in the process, good while their agency's access version stands.

Each agency has an access version (``agencies.access_version``) that database triggers move
in the same transaction as any change to what authentication reads: a credential revoked,
expired or deleted (a session ended, a token revoked), a member's role changed, a member
added or removed, a person's language changed (migration 0029). A request whose credential is
kept reads the version with its tenant binding (``bind_agency``, the round trip it makes
anyway) and uses the kept credential only at the version it was read at (in one snapshot
with it); else it reads the credential again. A change committed through one replica is
therefore seen by every other on the very next request, with no message to miss: the signal
is a row the request reads anyway.

The cache is keyed by agency and credential: an entry is only ever used for the agency it was
read under. Off PostgreSQL (the embedded default, no versions) nothing is kept.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agency.config import Settings

# Entries kept before the cache starts over: one per live credential in use, about 1 kB each.
MAX_ENTRIES = 10_000


@dataclass(slots=True)
class Known:
    """A credential as authentication read it, and the access version it was read at."""

    version: int
    held: Any  # the row ``CredentialRepository.bind_and_find_held`` returned
    last_used_at: datetime | None


class CredentialCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._known: dict[tuple[uuid.UUID, uuid.UUID], Known] = {}

    def get(self, agency_id: uuid.UUID, credential_id: uuid.UUID) -> Known | None:
        return self._known.get((agency_id, credential_id))

    def keep(self, agency_id: uuid.UUID, credential_id: uuid.UUID, known: Known) -> None:
        if len(self._known) >= self.max_entries:
            self._known.clear()  # rare, and each entry is one statement away
        self._known[(agency_id, credential_id)] = known


def credential_cache(_settings: Settings) -> CredentialCache:
    """The runtime's cache (``runtime.component(credential_cache)``): one per process."""
    return CredentialCache()
