"""Garbage collection in the long-running processes: the API server, the worker, the
scheduler."""

from __future__ import annotations

import gc

# Allocations (less deallocations) of container objects between two collections of the
# youngest generation. CPython's default, 700, is reached within one request that reads a page
# of rows, so the collector ran about once a request only to walk objects still in use, which
# reference counting frees a moment later anyway. Cyclic garbage is still collected.
GEN0_THRESHOLD = 50_000


def tune_gc() -> None:
    """Fewer and cheaper garbage collections, once the process has started (the server's
    ``on_startup`` hook; the worker and the scheduler once they run).

    Every object alive then (modules, the app, SQLAlchemy's mappers and caches) moves to the
    permanent generation, which no collection walks again, and the youngest generation
    collects after ``GEN0_THRESHOLD`` net allocations instead of 700.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
