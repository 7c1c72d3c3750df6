"""Deliberate crashes at named points, for failure tests (`INCIDENTD_CRASH_AT=point:n`).

`INCIDENTD_CRASH_AT=after_db_commit:3` makes the worker SIGKILL itself the 3rd time it passes
`after_db_commit`. Points: `before_db_commit` (writes done, transaction open),
`after_db_commit` (saved, offsets not committed), `after_publish` (events sent, outbox not
marked). Unset, a crash point costs one comparison.
"""

from __future__ import annotations

import os
import signal
import threading

_spec = os.environ.get("INCIDENTD_CRASH_AT", "")
_point, _, _count = _spec.partition(":")
_remaining = int(_count or "1") if _point else 0
_lock = threading.Lock()


def crash_point(name: str) -> None:
    """SIGKILL this process if `name` is the configured point and its turn has come."""
    global _remaining  # noqa: PLW0603 - process-wide countdown by design
    if name != _point:
        return
    with _lock:
        _remaining -= 1
        if _remaining == 0:
            os.kill(os.getpid(), signal.SIGKILL)
