"""Map an OpenLineage `RunEvent` to lineage changes (CONTRACT §5); pure, no I/O."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from incidentd.schemas.lineage import ProductSpec

Claims = Callable[[str], tuple[str, str] | None]
"""`claims("namespace/name")` -> (space, product_id) of the product listing that dataset."""


class OpenLineageError(ValueError):
    """An OpenLineage event this service cannot turn into lineage."""


class _Model(BaseModel):
    """Lenient about extra fields, strict about the types of the fields lineage uses."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)


class OpenLineageDataset(_Model):
    """An input or output dataset of a run."""

    namespace: str = Field(min_length=1)
    name: str = Field(min_length=1)

    @property
    def qualified_name(self) -> str:
        """The dataset name products claim: `namespace/name`."""
        return f"{self.namespace}/{self.name}"


class OpenLineageJob(_Model):
    """The job that ran; datasets, not jobs, become lineage nodes."""

    namespace: str = Field(min_length=1)
    name: str = Field(min_length=1)


class OpenLineageRunEvent(_Model):
    """Only what lineage needs; `eventType`, `run`, facets etc. are kept as extras, unused."""

    job: OpenLineageJob
    inputs: list[OpenLineageDataset] | None = None
    outputs: list[OpenLineageDataset] | None = None


@dataclass(frozen=True, slots=True)
class LineageDelta:
    """Products and edges one RunEvent adds to the lineage of `space`."""

    space: str
    new_products: list[ProductSpec] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)
    job: str | None = None

    @property
    def is_empty(self) -> bool:
        """Whether applying this delta changes nothing."""
        return not self.new_products and not self.edges


MAX_DATASETS = 1000
"""Inputs plus outputs one event may list (setting `INCIDENTD_LINEAGE_MAX_DATASETS`)."""


def map_run_event(
    event: object,
    claims: Claims,
    default_space: str | None,
    *,
    max_datasets: int = MAX_DATASETS,
) -> LineageDelta:
    """Every input dataset's product feeds every output dataset's product.

    An event listing more than `max_datasets` datasets is refused before any is looked at.
    """
    parsed = _validate(event, max_datasets)
    inputs = _unique(parsed.inputs or [])
    outputs = _unique(parsed.outputs or [])
    claimed = {name: claims(name) for name in (*inputs, *outputs)}
    space = _resolve_space(claimed, default_space, parsed.job)
    node = {name: (hit[1] if hit else name) for name, hit in claimed.items()}
    edges = sorted({(node[i], node[o]) for i in inputs for o in outputs if node[i] != node[o]})
    unclaimed = sorted(name for name, hit in claimed.items() if hit is None)
    return LineageDelta(
        space=space,
        new_products=[_product(name, space) for name in unclaimed],
        edges=edges,
        job=f"{parsed.job.namespace}/{parsed.job.name}",
    )


def _validate(event: object, max_datasets: int) -> OpenLineageRunEvent:
    if not isinstance(event, Mapping):
        raise OpenLineageError(
            f"an OpenLineage RunEvent must be a JSON object, got {type(event).__name__}"
        )
    listed = sum(len(v) for k in ("inputs", "outputs") if isinstance(v := event.get(k), list))
    if listed > max_datasets:
        raise OpenLineageError(
            f"the event lists {listed} datasets; at most {max_datasets} are accepted"
        )
    try:
        return OpenLineageRunEvent.model_validate(dict(event))
    except ValidationError as exc:
        raise OpenLineageError(f"unusable OpenLineage RunEvent: {_describe(exc)}") from exc


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        loc = ".".join(str(step) for step in err["loc"]) or "(event)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _unique(datasets: list[OpenLineageDataset]) -> list[str]:
    """Qualified dataset names in first-seen order, without repeats."""
    return list(dict.fromkeys(d.qualified_name for d in datasets))


def _resolve_space(
    claimed: Mapping[str, tuple[str, str] | None], default_space: str | None, job: OpenLineageJob
) -> str:
    spaces = sorted({hit[0] for hit in claimed.values() if hit is not None})
    if len(spaces) > 1:
        raise OpenLineageError(
            f"job {job.namespace}/{job.name} links datasets of several spaces "
            f"({', '.join(spaces)}); lineage never crosses spaces"
        )
    if spaces:
        return spaces[0]
    if default_space is None:
        raise OpenLineageError(
            f"cannot determine the space of job {job.namespace}/{job.name}: no product claims "
            "any of its datasets and no default lineage space is configured "
            "(INCIDENTD_LINEAGE_DEFAULT_SPACE)"
        )
    return default_space


def _product(dataset: str, space: str) -> ProductSpec:
    try:
        return ProductSpec(id=dataset, space=space, name=dataset, datasets=[dataset])
    except ValidationError as exc:
        raise OpenLineageError(
            f"dataset {dataset!r} cannot become a product: {_describe(exc)}"
        ) from exc
