"""LineageGraph: hop distances, relatedness, cycles, blast radius, caching; load_document."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incidentd.correlation.ports import LineageView
from incidentd.lineage.document import LineageFileError, load_document, parse_document
from incidentd.lineage.graph import LineageGraph, ProductInfo
from incidentd.schemas.lineage import LineageDocument

#   a ──► b ──► c ──► d        x ──► b       a ──► e       a ──► c (shortcut)
#   g ──► h ──► g (cycle), h ──► i            f (isolated)   b ──► b (self-loop, dropped)
EDGES = [
    ("a", "b"),
    ("b", "c"),
    ("c", "d"),
    ("x", "b"),
    ("a", "e"),
    ("a", "c"),
    ("g", "h"),
    ("h", "g"),
    ("h", "i"),
    ("b", "b"),
]


def _info(pid: str, **kw: object) -> ProductInfo:
    return ProductInfo(id=pid, space="finance", **kw)  # type: ignore[arg-type]


@pytest.fixture
def graph() -> LineageGraph:
    products = [
        _info("a", name="A", tier="critical", datasets=("warehouse/a",)),
        _info("b", name="B", tier="high", datasets=("warehouse/b", "kafka/b.v1")),
        _info("c"),
        _info("d"),
        _info("e"),
        _info("f", datasets=("warehouse/shared",)),
        _info("z_claims_too", datasets=("warehouse/shared",)),
    ]
    return LineageGraph("finance", products, EDGES, version=7)


def test_basic_facts(graph: LineageGraph) -> None:
    assert graph.space == "finance"
    assert graph.version == 7
    # 7 products + x, g, h, i that only appear in edges
    assert len(graph) == 11
    assert graph.edge_count == 9  # the self-loop is dropped
    assert "x" in graph and "nope" not in graph
    assert set(graph) == {"a", "b", "c", "d", "e", "f", "x", "g", "h", "i", "z_claims_too"}
    assert sorted(graph.edges()) == sorted(e for e in EDGES if e[0] != e[1])
    assert graph.product("x") is None
    assert graph.product("a") == _info("a", name="A", tier="critical", datasets=("warehouse/a",))
    assert graph.tier("a") == "critical" and graph.tier("c") is None and graph.tier("?") is None
    assert graph.name("b") == "B" and graph.name("x") is None


def test_parents_and_children(graph: LineageGraph) -> None:
    assert graph.parents("b") == frozenset({"a", "x"})
    assert graph.children("a") == frozenset({"b", "c", "e"})
    assert graph.parents("a") == frozenset()
    assert graph.children("unknown") == frozenset()
    assert "b" not in graph.children("b")


def test_hop_distances_are_shortest_paths(graph: LineageGraph) -> None:
    assert dict(graph.descendants("a")) == {"b": 1, "e": 1, "c": 1, "d": 2}
    assert dict(graph.ancestors("d")) == {"c": 1, "b": 2, "a": 2, "x": 3}
    assert dict(graph.descendants("d")) == {}
    assert dict(graph.ancestors("x")) == {}


def test_cycles_terminate_and_exclude_the_start(graph: LineageGraph) -> None:
    assert dict(graph.descendants("g")) == {"h": 1, "i": 2}
    assert dict(graph.ancestors("g")) == {"h": 1}
    assert dict(graph.ancestors("i")) == {"h": 1, "g": 2}
    assert graph.related_set("i") == frozenset({"i", "h", "g"})
    assert graph.blast_radius(["h"]) == {"h": 0, "g": 1, "i": 1}


def test_related_set_includes_siblings(graph: LineageGraph) -> None:
    # e shares the direct upstream a with b and c
    assert graph.related_set("e") == frozenset({"e", "a", "b", "c"})
    assert graph.related_set("b") == frozenset({"a", "b", "c", "d", "e", "x"})
    # d reaches nothing sideways: its only parent is c, which has no other child
    assert graph.related_set("d") == frozenset({"d", "c", "b", "a", "x"})
    assert "d" not in graph.related_set("e")  # a common ancestor alone is not enough
    assert graph.related_set("f") == frozenset({"f"})


def test_unknown_products(graph: LineageGraph) -> None:
    assert graph.related_set("ghost") == frozenset({"ghost"})
    assert dict(graph.ancestors("ghost")) == {} and dict(graph.descendants("ghost")) == {}
    assert graph.is_related("ghost", "ghost")
    assert not graph.is_related("ghost", "a")
    assert graph.blast_radius(["ghost"]) == {"ghost": 0}
    assert graph.upstream("ghost", 2) == {} and graph.downstream("ghost") == {}


def test_is_related(graph: LineageGraph) -> None:
    assert graph.is_related("a", "d") and graph.is_related("d", "a")
    assert graph.is_related("e", "b")  # siblings
    assert graph.is_related("x", "e") is False
    assert graph.is_related("g", "i")
    assert not graph.is_related("a", "g")


def test_blast_radius_uses_the_nearest_source(graph: LineageGraph) -> None:
    assert graph.blast_radius(["b", "e"]) == {"b": 0, "e": 0, "c": 1, "d": 2}
    assert graph.blast_radius(["x", "c"]) == {"x": 0, "c": 0, "b": 1, "d": 1}
    many = ["x", "c", "e", "f", "ghost", "x"]  # past the merge limit: one multi-source BFS
    assert graph.blast_radius(many) == {
        "x": 0,
        "c": 0,
        "e": 0,
        "f": 0,
        "ghost": 0,
        "b": 1,
        "d": 1,
    }
    assert graph.blast_radius([]) == {}


def test_upstream_and_downstream_depth(graph: LineageGraph) -> None:
    assert graph.downstream("a", 1) == {"b": 1, "c": 1, "e": 1}
    assert graph.downstream("a", None) == {"b": 1, "c": 1, "e": 1, "d": 2}
    assert graph.upstream("d", 2) == {"c": 1, "b": 2, "a": 2}
    assert graph.upstream("d", 0) == {}
    with pytest.raises(ValueError, match="depth"):
        graph.downstream("a", -1)


def test_subgraph_edges(graph: LineageGraph) -> None:
    assert graph.subgraph_edges(["a", "b", "c", "zzz"]) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert graph.subgraph_edges([]) == []


def test_products_claiming(graph: LineageGraph) -> None:
    assert graph.products_claiming("kafka/b.v1") == "b"
    assert graph.products_claiming("warehouse/a") == "a"
    assert graph.products_claiming("warehouse/shared") == "f"  # smallest id wins
    assert graph.products_claiming("warehouse/nobody") is None


def test_results_are_immutable_and_memoised(graph: LineageGraph) -> None:
    first = graph.descendants("a")
    assert graph.descendants("a") is first
    with pytest.raises(TypeError):
        first["zzz"] = 1  # type: ignore[index]
    assert graph.related_set("b") is graph.related_set("b")
    radius = graph.blast_radius(["a"])
    radius["mutated"] = 9
    assert "mutated" not in graph.descendants("a")


def test_tiny_cache_stays_correct() -> None:
    g = LineageGraph("s", [], EDGES, cache_size=1, cache_weight=3)
    for _ in range(3):
        assert dict(g.descendants("a")) == {"b": 1, "e": 1, "c": 1, "d": 2}
        assert dict(g.ancestors("d")) == {"c": 1, "b": 2, "a": 2, "x": 3}
        assert g.related_set("e") == frozenset({"e", "a", "b", "c"})


def test_a_full_cache_drops_the_least_recently_used_result_first() -> None:
    g = LineageGraph("s", [], EDGES, cache_size=2)
    of_a, of_b = g.descendants("a"), g.descendants("b")
    assert g.descendants("a") is of_a  # a used again after b came in
    of_x = g.descendants("x")  # one too many: b goes, not a
    assert g.descendants("a") is of_a
    assert g.descendants("x") is of_x
    again = g.descendants("b")
    assert again is not of_b and dict(again) == dict(of_b)


def test_empty_graph_and_protocol() -> None:
    g = LineageGraph.empty("ops")
    view: LineageView = g
    assert g.space == "ops" and len(g) == 0 and g.edge_count == 0 and g.version == 0
    assert view.related_set("p") == frozenset({"p"})
    assert view.tier("p") is None and view.name("p") is None


def test_from_document_keeps_one_space() -> None:
    doc = LineageDocument.model_validate(
        {
            "products": [
                {"id": "a", "space": "finance", "tier": "high"},
                {"id": "b", "space": "finance"},
                {"id": "m", "space": "marketing"},
            ],
            "edges": [
                {"upstream": "a", "downstream": "b"},
                {"upstream": "m", "downstream": "m2"},
                {"upstream": "ext", "downstream": "a"},
                {"upstream": "p", "downstream": "q", "space": "finance"},
            ],
        }
    )
    g = LineageGraph.from_document(doc, "finance", version=3)
    assert sorted(g.edges()) == [("a", "b"), ("ext", "a"), ("p", "q")]
    assert g.tier("a") == "high" and g.product("m") is None and g.version == 3
    assert sorted(LineageGraph.from_document(doc, "marketing").edges()) == [("m", "m2")]


# -- properties on random graphs ---------------------------------------------------------

NODES = [f"n{i}" for i in range(12)]


@st.composite
def random_edges(draw: st.DrawFn, acyclic: bool) -> list[tuple[str, str]]:
    pairs = draw(st.lists(st.tuples(st.sampled_from(NODES), st.sampled_from(NODES)), max_size=30))
    if acyclic:  # orient every edge from the smaller to the larger index
        return [(u, v) if NODES.index(u) < NODES.index(v) else (v, u) for u, v in pairs]
    return pairs


def _reference_related(g: nx.DiGraph, p: str) -> set[str]:
    siblings = {s for parent in g.predecessors(p) for s in g.successors(parent)}
    ancestors: set[str] = nx.ancestors(g, p)
    descendants: set[str] = nx.descendants(g, p)
    return {p} | ancestors | descendants | siblings


@settings(max_examples=150, deadline=None)
@given(edges=st.one_of(random_edges(acyclic=True), random_edges(acyclic=False)))
def test_matches_networkx_reference(edges: list[tuple[str, str]]) -> None:
    graph = LineageGraph("s", [], edges)
    ref = nx.DiGraph([(u, v) for u, v in edges if u != v])
    ref.add_nodes_from(graph)
    for p in ref:
        down = nx.single_source_shortest_path_length(ref, p)
        up = nx.single_source_shortest_path_length(ref.reverse(copy=False), p)
        down.pop(p)
        up.pop(p)
        assert dict(graph.descendants(p)) == down
        assert dict(graph.ancestors(p)) == up
        assert graph.related_set(p) == _reference_related(ref, p)


@settings(max_examples=150, deadline=None)
@given(edges=random_edges(acyclic=True))
def test_related_is_symmetric_and_is_related_agrees(edges: list[tuple[str, str]]) -> None:
    fresh = LineageGraph("s", [], edges)  # is_related before anything is memoised
    verdicts = {(p, q): fresh.is_related(p, q) for p in NODES for q in NODES}
    graph = LineageGraph("s", [], edges)
    for p in NODES:
        for q in NODES:
            assert (q in graph.related_set(p)) == (p in graph.related_set(q))
            assert verdicts[p, q] == (q in graph.related_set(p))
            assert graph.is_related(p, q) == verdicts[p, q]


@settings(max_examples=150, deadline=None)
@given(
    edges=st.one_of(random_edges(acyclic=True), random_edges(acyclic=False)),
    sources=st.lists(st.sampled_from([*NODES, "ghost"]), max_size=7),
)
def test_blast_radius_is_min_over_sources(edges: list[tuple[str, str]], sources: list[str]) -> None:
    graph = LineageGraph("s", [], edges)
    expected: dict[str, int] = {}
    for s in sources:
        for node, hops in [(s, 0), *graph.descendants(s).items()]:
            expected[node] = min(hops, expected.get(node, hops))
    assert graph.blast_radius(sources) == expected


@settings(max_examples=80, deadline=None)
@given(edges=random_edges(acyclic=False), depth=st.integers(min_value=0, max_value=4))
def test_depth_limited_reach_is_a_prefix(edges: list[tuple[str, str]], depth: int) -> None:
    graph = LineageGraph("s", [], edges)
    for p in NODES:
        full = graph.downstream(p)
        assert graph.downstream(p, depth) == {n: h for n, h in full.items() if h <= depth}
        full_up = graph.upstream(p)
        assert graph.upstream(p, depth) == {n: h for n, h in full_up.items() if h <= depth}


# -- load_document -----------------------------------------------------------------------

DOC = {
    "products": [{"id": "orders_clean", "space": "finance", "tier": "high"}],
    "edges": [{"upstream": "orders_raw", "downstream": "orders_clean"}],
}


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".yml", ".txt"])
def test_load_document_formats(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"lineage{suffix}"
    path.write_text(json.dumps(DOC, indent=2))
    doc = load_document(path)
    assert doc.products[0].id == "orders_clean"
    assert doc.edges[0].upstream == "orders_raw"


def test_load_yaml_without_a_suffix(tmp_path: Path) -> None:
    path = tmp_path / "lineage"
    path.write_text("products:\n  - {id: a, space: finance}\nedges: []\n")
    assert load_document(path).products[0].id == "a"


def test_load_document_reports_every_location(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "products:\n"
        "  - {id: ok, space: finance}\n"
        "  - {id: orders_clean, space: finance, tier: gold}\n"
        "edges:\n"
        "  - {upstream: a}\n"
    )
    with pytest.raises(LineageFileError) as info:
        load_document(path)
    message = str(info.value)
    assert str(path) in message
    assert "2 errors" in message
    assert "products[1] (id=orders_clean).tier" in message
    assert "edges[0].downstream" in message


@pytest.mark.parametrize(
    ("name", "text", "needle"),
    [
        ("broken.json", '{"products": [', "invalid JSON"),
        ("broken.yaml", "products: [", "invalid YAML"),
        ("list.yaml", "- a\n- b\n", "must be a mapping"),
        ("empty.yaml", "", "got empty"),
        ("extra.json", '{"products": [], "nodes": []}', "nodes: Extra inputs"),
    ],
)
def test_load_document_rejects(tmp_path: Path, name: str, text: str, needle: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(LineageFileError, match=needle):
        load_document(path)


def test_load_document_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LineageFileError, match="cannot read"):
        load_document(tmp_path / "absent.yaml")
    assert issubclass(LineageFileError, ValueError)


def test_parse_document_guesses_the_format() -> None:
    assert parse_document(json.dumps(DOC)).edges[0].downstream == "orders_clean"
    with pytest.raises(LineageFileError, match="not valid JSON either"):
        parse_document("{a: [1")
