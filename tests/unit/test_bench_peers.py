"""The peer bench's pure parts: spaces spread over partitions, one stream over several spaces,
and the projection from per-alert CPU costs."""

from __future__ import annotations

from kafka.partitioner.default import murmur2

from bench.lineage_gen import generate_lineage
from bench.peers import projection, space_names, spaced_stream


def test_spaces_keyed_by_name_land_on_distinct_partitions() -> None:
    names = space_names(4, 4)
    assert len(set(names)) == 4
    assert {(murmur2(n.encode()) & 0x7FFFFFFF) % 4 for n in names} == {0, 1, 2, 3}


def test_a_spaced_stream_keys_every_record_by_its_space_or_product() -> None:
    lins = [generate_lineage(100, i, space=s) for i, s in enumerate(space_names(2, 4))]
    by_space = spaced_stream(lins, 400, 1, "space")
    assert {r.key for r in by_space.records} == {s.encode() for s in (lins[0].space, lins[1].space)}
    by_product = spaced_stream(lins, 400, 1, "product")
    assert [r.value for r in by_product.records] == [r.value for r in by_space.records]
    assert len({r.key for r in by_product.records}) > 2


def test_the_projection_is_bounded_by_one_core_per_worker_and_by_all_cores() -> None:
    run = {
        "workers": 1,
        "key_by": "space",
        "records": 1000,
        "alerts_per_s": 1,
        "cpu_seconds": {"worker0": 0.1, "postgres": 0.05, "broker": 0.03, "bench": 0.02},
    }
    rows = projection({"incidentd": [run]})["rows"]
    assert rows[0] == {"workers": 1, "cores_2": 10_000, "cores_16": 10_000}  # 100 us a worker
    assert rows[-1] == {"workers": 16, "cores_2": 10_000, "cores_16": 80_000}  # 200 us in all
