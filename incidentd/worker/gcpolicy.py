"""The worker process's garbage-collector settings: rare full collections, none over startup.

CPython's cycle collector stops every thread while it walks the objects of a generation. With
its default thresholds (700, 10, 10) the worker ran a full collection about every 5 s at 2,000
alerts/s, each walking every lineage graph, the correlation state and every module loaded:
44-300 ms on a quiet machine, seconds on a busy one, with everything stopped meanwhile (the
relay too). That was the largest share of the worker's p99 latency. Almost everything the
worker frees goes by reference counting (those collections found 0-60 objects), so it needs
the collector rarely: young generations are collected after 10,000 allocations instead of
700, a full collection happens after 100 middle ones instead of 10 (and, as always, only once
the objects waiting for it are a quarter of the old ones), and what exists once the worker is
set up (modules, settings, clients) is frozen out of every collection.
"""

from __future__ import annotations

import gc

THRESHOLDS = (10_000, 50, 100)


def tune() -> None:
    """Collect once, freeze what survives (startup objects), then set the thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
