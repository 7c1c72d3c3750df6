"""Reading lineage documents (CONTRACT §5 file format) from YAML or JSON files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from incidentd.schemas.lineage import LineageDocument

Format = Literal["json", "yaml"]

_SUFFIXES: dict[str, Format] = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}
_MAX_ERRORS_SHOWN = 10


class LineageFileError(ValueError):
    """A lineage document that cannot be read, parsed or validated."""


def load_document(path: Path) -> LineageDocument:
    """Read and validate a lineage document; the format follows the file suffix."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LineageFileError(f"{path}: cannot read lineage file: {exc}") from exc
    return parse_document(text, _SUFFIXES.get(path.suffix.lower()), source=str(path))


def parse_document(
    text: str, fmt: Format | None = None, *, source: str = "<input>"
) -> LineageDocument:
    """Parse and validate document text; `fmt=None` tries JSON, then YAML."""
    data = _parse(text, fmt, source)
    if not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        raise LineageFileError(
            f"{source}: a lineage document must be a mapping with 'products' and 'edges', "
            f"got {kind}"
        )
    try:
        return LineageDocument.model_validate(data)
    except ValidationError as exc:
        raise LineageFileError(f"{source}: {_describe(exc, data)}") from exc


def _parse(text: str, fmt: Format | None, source: str) -> Any:
    if fmt == "json":
        return _parse_json(text, source)
    if fmt == "yaml":
        return _parse_yaml(text, source)
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return _parse_yaml(text, source)
    except LineageFileError as exc:
        raise LineageFileError(f"{exc} (the file is not valid JSON either)") from exc


def _parse_json(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise LineageFileError(f"{source}: invalid JSON: {exc}") from exc


def _parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        reason = " ".join(str(exc).split())
        raise LineageFileError(f"{source}: invalid YAML: {reason}") from exc


def _describe(exc: ValidationError, data: dict[str, Any]) -> str:
    """'N errors: products[3] (id=x).tier: Input should be ...; ...'."""
    errors = exc.errors(include_url=False)
    parts = [f"{_location(err['loc'], data)}: {err['msg']}" for err in errors[:_MAX_ERRORS_SHOWN]]
    if len(errors) > _MAX_ERRORS_SHOWN:
        parts.append(f"... and {len(errors) - _MAX_ERRORS_SHOWN} more")
    noun = "error" if len(errors) == 1 else "errors"
    return f"invalid lineage document, {len(errors)} {noun}: " + "; ".join(parts)


def _location(loc: tuple[int | str, ...], data: dict[str, Any]) -> str:
    """A readable path such as `products[3] (id=orders_clean).tier`."""
    text = ""
    node: Any = data
    for step in loc:
        if isinstance(step, int):
            text += f"[{step}]"
            node = node[step] if isinstance(node, list) and 0 <= step < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("id"), str):
                text += f" (id={node['id']})"
        else:
            text += f".{step}" if text else str(step)
            node = node.get(step) if isinstance(node, dict) else None
    return text or "(document)"
