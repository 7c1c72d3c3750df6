"""The worker process's garbage-collector settings: rare full collections, none over startup.

CPython's cycle collector stops every thread while it walks the objects of a generation. With
its default thresholds (700, 10, 10) the worker ran a full collection about every 5 s at 2,000
alerts/s, each walking every lineage graph, the correlation state and every module loaded:
44-300 ms on a quiet machine, seconds on a busy one, with everything stopped meanwhile (the
relay too). That was the largest share of the worker's p99 latency. Almost everything the
worker frees goes by reference counting (those collections found 0-60 objects), so it needs
full collections rarely: one is considered after 1,000 collections of the middle generation
instead of 10 (and made, as always, only once the objects waiting for it are a quarter of the
old ones), about every 20 million allocations; what exists once the worker is set up
(modules, settings, clients) is frozen out of every collection. The young generations stay
small (2,000 allocations, then 10 of those), so each of their passes stays a few ms: with
10,000 and 50, one pass of the middle generation took 130 ms on a busy machine.
"""

from __future__ import annotations

import gc

THRESHOLDS = (2_000, 10, 1_000)


def tune() -> None:
    """Collect once, freeze what survives (startup objects), then set the thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
