"""How people name an incident: its id (a UUID) or its per-space number ("incident 42")."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

_MAX_NUMBER = 2**63 - 1


@dataclass(frozen=True, slots=True)
class IncidentRef:
    """An incident of some space, by id or by number (exactly one is set)."""

    id: uuid.UUID | None = None
    number: int | None = None

    @classmethod
    def parse(cls, value: str) -> IncidentRef | None:
        """`42` is a number, a UUID an id; None for anything else."""
        value = value.strip()
        if value.isascii() and value.isdigit():
            number = int(value)
            return cls(number=number) if 0 < number <= _MAX_NUMBER else None
        try:
            return cls(id=uuid.UUID(value))
        except ValueError:
            return None

    def condition(self, table: str = "incidents") -> tuple[str, dict[str, Any]]:
        """SQL condition on `table` (an incidents table or alias) and its parameters.

        Combine it with the space's own condition: a number is unique within a space only.
        """
        if self.number is not None:
            return f"{table}.number = :ref_number", {"ref_number": self.number}
        return f"{table}.id = :ref_id", {"ref_id": self.id}


def find_incident_id(conn: Connection, space: str, value: str) -> uuid.UUID | None:
    """The id of the incident of `space` that `value` names (id or number); None if none."""
    ref = IncidentRef.parse(value)
    if ref is None:
        return None
    where, params = ref.condition()
    found = conn.execute(
        text(f"SELECT id FROM incidents WHERE incidents.space = :space AND {where}"),
        {**params, "space": space},
    ).scalar()
    return None if found is None else uuid.UUID(str(found))
