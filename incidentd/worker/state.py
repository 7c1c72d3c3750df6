"""A worker's copy of each space's correlation state, kept in step with the database.

The copy is an `IncidentIndex` stamped with the space's `state_seq`. Under the space lock
the worker compares it with the database: equal means the copy is exact and nothing is read;
behind means another worker (or the API) wrote since, and only incidents stamped later are
read back. So one worker reads almost nothing per batch, and N workers stay correct.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection

from incidentd.correlation.index import IncidentIndex
from incidentd.correlation.model import Alert
from incidentd.storage.incidents import load_changed, load_open_state, load_resolved_holders

REOPEN_WITHIN = timedelta(hours=24)


@dataclass(slots=True)
class SpaceState:
    """A space's incidents at state sequence `seq`.

    Every open incident is present, and every resolved one cleared at or after `horizon`.
    """

    space: str
    seq: int
    index: IncidentIndex
    horizon: datetime
    newest: datetime
    checked: dict[str, datetime] = field(default_factory=dict)


class StateCache:
    """Space -> correlation state at a known `state_seq`."""

    def __init__(self) -> None:
        self._states: dict[str, SpaceState] = {}
        self._lock = threading.Lock()

    def checkout(
        self, conn: Connection, space: str, db_seq: int, alerts: list[Alert]
    ) -> SpaceState:
        """The state at `db_seq` (call with the space locked), reading only what changed.

        The state is taken out of the cache: only `checkin` after a successful commit puts
        it back, so a rolled-back transaction can never leave a wrong copy behind.
        """
        low = min(a.occurred_at for a in alerts) - REOPEN_WITHIN
        newest = max(a.occurred_at for a in alerts)
        with self._lock:
            state = self._states.pop(space, None)
        if state is None or state.seq > db_seq:
            index = IncidentIndex(load_open_state(conn, space, low))
            state = SpaceState(space, db_seq, index, low, newest)
        elif state.seq < db_seq:
            for incident in load_changed(conn, space, state.seq):
                state.index.replace(incident)
        state.seq = db_seq
        return state

    def extend(self, conn: Connection, state: SpaceState, alerts: list[Alert]) -> None:
        """Make `state` hold what `alerts` may touch: older resolved holders, the newest time."""
        self._load_older_holders(conn, state, alerts)
        state.newest = max(state.newest, *(a.occurred_at for a in alerts))

    @staticmethod
    def _load_older_holders(conn: Connection, state: SpaceState, alerts: list[Alert]) -> None:
        """Resolved incidents cleared before the horizon that these alerts could reopen.

        Asked once per fingerprint and depth: `state.checked[fp] = t` records that every
        resolved holder of `fp` cleared at or after `t` is in the index.
        """
        needed: dict[str, datetime] = {}
        for alert in alerts:
            low = alert.occurred_at - REOPEN_WITHIN
            if not alert.firing or low >= state.horizon:
                continue
            if state.checked.get(alert.fingerprint, state.horizon) <= low:
                continue
            needed[alert.fingerprint] = min(needed.get(alert.fingerprint, low), low)
        if not needed:
            return
        for incident in load_resolved_holders(conn, state.space, needed, min(needed.values())):
            if incident.id not in state.index.incidents:
                state.index.replace(incident)
        for fingerprint, low in needed.items():
            state.checked[fingerprint] = min(state.checked.get(fingerprint, low), low)

    def drop(self, spaces: list[str]) -> None:
        """Forget these spaces' state (read again from the database when needed)."""
        with self._lock:
            for space in spaces:
                self._states.pop(space, None)

    def spaces(self) -> set[str]:
        """Spaces whose state is held."""
        with self._lock:
            return set(self._states)

    def checkin(self, space: str, state: SpaceState, keep: Collection[str] = ()) -> None:
        """Keep `state` (its `seq` set to the committed value) and prune what cannot matter.

        Incidents in `keep` stay: a plan not yet written changed them, so the database
        does not have them as they are (reading them back later would undo that plan).
        """
        keep_after = state.newest - 2 * REOPEN_WITHIN
        if keep_after > state.horizon:
            state.index.prune(keep_after, keep)
            state.horizon = keep_after
            state.checked.clear()  # what they vouched for below the new horizon was pruned
        elif state.index.prune(state.horizon, keep):
            # Incidents stored since that resolved before the horizon (late data) are gone
            # too, and `checked` may vouch for them: ask the database again when needed.
            state.checked.clear()
        with self._lock:
            self._states[space] = state
