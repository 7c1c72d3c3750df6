"""The worker process's collector settings (run in a child process: pytest's own collector
is left as it is)."""

from __future__ import annotations

import json
import subprocess
import sys

from incidentd.worker.gcpolicy import THRESHOLDS

PROBE = """
import gc, json
from incidentd.worker import gcpolicy
startup = object.__new__(type("Startup", (), {}))  # alive before tune(): frozen
full = []
gc.callbacks.append(lambda phase, info: phase == "stop" and full.append(info["generation"]))
gcpolicy.tune()
full.clear()
keep = [[i] for i in range(300_000)]  # containers that live on, as a worker's state does
print(json.dumps({
    "thresholds": gc.get_threshold(),
    "frozen": gc.get_freeze_count(),
    "startup_frozen": not any(o is startup for o in gc.get_objects()),
    "full_collections": full.count(2),
}))
"""


def test_the_worker_freezes_its_start_up_objects_and_seldom_collects_in_full() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    seen = json.loads(done.stdout)
    assert tuple(seen["thresholds"]) == THRESHOLDS
    assert seen["frozen"] > 1000  # the modules' functions, classes and dicts at least
    assert seen["startup_frozen"]
    # CPython's defaults (700, 10, 10) make several full collections for 300k new containers.
    assert seen["full_collections"] == 0
