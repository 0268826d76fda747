"""Connectors installed in this environment, found through the ``agency.connectors`` group."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib.metadata import entry_points

from agency.connector.base import Connector

ENTRY_POINT_GROUP = "agency.connectors"
logger = logging.getLogger("agency.connector")


class Registry(Mapping[str, type[Connector]]):
    """Network name -> connector class; immutable once built."""

    def __init__(self, connectors: Iterable[type[Connector]]) -> None:
        self._by_network: dict[str, type[Connector]] = {}
        for connector in connectors:
            if connector.network in self._by_network:
                raise ValueError(f"two connectors claim the network {connector.network!r}")
            self._by_network[connector.network] = connector

    def __getitem__(self, network: str) -> type[Connector]:
        return self._by_network[network]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(sorted(self._by_network))

    def __len__(self) -> int:
        return len(self._by_network)


def discover() -> list[type[Connector]]:
    found: list[type[Connector]] = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        loaded = entry.load()
        if not (isinstance(loaded, type) and issubclass(loaded, Connector)):
            logger.error("entry point %s is not a Connector subclass; ignored", entry.value)
            continue
        if loaded.network != entry.name:
            logger.error("entry point %s names network %r; ignored", entry.name, loaded.network)
            continue
        found.append(loaded)
    return found


@lru_cache(maxsize=1)
def installed() -> Registry:
    return Registry(discover())
