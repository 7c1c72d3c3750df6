"""Export the event contracts as JSON Schema files (`python -m incidentd.schemas.export DIR`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from incidentd.schemas.alert import AlertEvent
from incidentd.schemas.incident import IncidentEvent, IncidentResource
from incidentd.schemas.lineage import LineageDocument

EXPORTED: dict[str, type[BaseModel]] = {
    "alert_event.v1.json": AlertEvent,
    "incident_event.v1.json": IncidentEvent,
    "incident.v1.json": IncidentResource,
    "lineage_document.json": LineageDocument,
}


def render() -> dict[str, str]:
    """File name -> JSON Schema text of every exported contract."""
    out: dict[str, str] = {}
    for name, model in EXPORTED.items():
        schema = model.model_json_schema(mode="serialization")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://incidentd.dev/schemas/{name}"
        out[name] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def export(directory: Path) -> list[Path]:
    """Write every schema into `directory`; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in render().items():
        path = directory / name
        path.write_text(content)
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in export(Path(sys.argv[1] if len(sys.argv) > 1 else "schemas")):
        print(written_path)
