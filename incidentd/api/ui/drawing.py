"""Layout of the blast-radius drawing: nodes in columns by lineage depth (no I/O).

Column 0 holds the root; column n the products n lineage steps below it (along the longest
path, so every edge points right); suspected upstream products sit left of the root at -1, -2,
... (steps up to the nearest root). Each node also carries the blast-radius `hops` the JSON API
reports (distance from the nearest alerted product, 0 for alerted products), which its label
shows. Rows inside a column are ordered by barycentre sweeps to keep edges short and uncrossed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

ROLE_ORDER = {"root": 0, "alerted": 1, "affected": 2, "upstream": 3}
ROLE_LABELS = {
    "root": "root",
    "alerted": "alerted",
    "affected": "affected",
    "upstream": "suspected upstream",
}

NODE_WIDTH = 200
NODE_HEIGHT = 48
COLUMN_GAP = 64
ROW_GAP = 16
MARGIN_X = 20
HEADER_HEIGHT = 34
MARGIN_BOTTOM = 16
LABEL_CHARS = 23
SUBLABEL_CHARS = 32
SWEEPS = 8


@dataclass(frozen=True, slots=True)
class ProductFacts:
    """What the drawing shows about one product."""

    product_id: str
    role: str
    hops: int
    name: str | None = None
    tier: str | None = None
    owners: tuple[str, ...] = ()
    stewards: tuple[str, ...] = ()
    root_candidate: bool = False


@dataclass(slots=True)
class Node:
    """A product placed in the drawing."""

    facts: ProductFacts
    column: int
    row: int = 0
    x: float = 0.0
    y: float = 0.0
    label: str = ""
    sublabel: str = ""
    tooltip: str = ""

    @property
    def product_id(self) -> str:
        """The product's id."""
        return self.facts.product_id

    @property
    def role(self) -> str:
        """root, alerted, affected or upstream."""
        return self.facts.role

    @property
    def cx(self) -> float:
        """Horizontal centre."""
        return self.x + NODE_WIDTH / 2

    @property
    def cy(self) -> float:
        """Vertical centre."""
        return self.y + NODE_HEIGHT / 2


@dataclass(frozen=True, slots=True)
class Edge:
    """A lineage edge between two drawn nodes, as an SVG path."""

    upstream: str
    downstream: str
    path: str
    indirect: bool = False


@dataclass(frozen=True, slots=True)
class Column:
    """A column header."""

    index: int
    x: float
    label: str


@dataclass(slots=True)
class Drawing:
    """Everything the SVG template needs."""

    width: int
    height: int
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    columns: list[Column] = field(default_factory=list)
    left_out: int = 0

    @property
    def node_width(self) -> int:
        """Width of every node box."""
        return NODE_WIDTH

    @property
    def node_height(self) -> int:
        """Height of every node box."""
        return NODE_HEIGHT


def shorten(value: str, limit: int) -> str:
    """`value` cut to `limit` characters with an ellipsis."""
    return value if len(value) <= limit else value[: limit - 1] + "\u2026"


def _acyclic(nodes: Sequence[str], edges: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """Successors without the edges that close a cycle (found by DFS from `nodes` in order)."""
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for up, down in edges:
        if up in succ and down in succ and up != down:
            succ[up].append(down)
    kept: dict[str, list[str]] = {n: [] for n in nodes}
    state: dict[str, int] = {}  # 1 on the DFS stack, 2 done
    for start in nodes:
        if start in state:
            continue
        state[start] = 1
        stack = [(start, iter(succ[start]))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) != 1:  # an edge back onto the stack would close a cycle
                kept[node].append(child)
                if child not in state:
                    state[child] = 1
                    stack.append((child, iter(succ[child])))
    return kept


def columns_of(
    downstream: Sequence[ProductFacts],
    roots: Sequence[str],
    edges: Sequence[tuple[str, str]],
    upstream_steps: Mapping[str, int],
) -> dict[str, int]:
    """Column of every product: lineage depth below the roots, negative for suspected upstream.

    The depth is the longest path from a product without drawn parents (edges closing a cycle
    ignored), so every edge points right. Such a product other than the root (another root
    candidate) then moves right, next to its nearest child, instead of stretching its edges
    across the drawing; the root stays in column 0.
    """
    ids = [p.product_id for p in downstream]
    drawn = set(ids)
    order = [r for r in roots if r in drawn] + sorted(drawn - set(roots))
    succ = _acyclic(order, edges)
    indegree = dict.fromkeys(order, 0)
    for children in succ.values():
        for child in children:
            indegree[child] += 1
    sources = [n for n in order if indegree[n] == 0]
    column = dict.fromkeys(order, 0)
    ready = list(sources)
    topological: list[str] = []
    while ready:
        node = ready.pop()
        topological.append(node)
        for child in succ[node]:
            column[child] = max(column[child], column[node] + 1)
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    main = roots[0] if roots and roots[0] in drawn else None
    for source in sources:
        if source != main and succ[source]:
            column[source] = max(0, min(column[c] for c in succ[source]) - 1)
    for product, steps in upstream_steps.items():
        if product not in column:
            column[product] = -max(steps, 1)
    return column


def _order(by_column: dict[int, list[Node]], neighbours: Mapping[str, Sequence[str]]) -> None:
    """Barycentre sweeps, left to right then right to left, fixing each node's row."""
    position: dict[str, float] = {}

    def place(nodes: list[Node]) -> None:
        mid = (len(nodes) - 1) / 2
        for row, node in enumerate(nodes):
            node.row = row
            position[node.product_id] = row - mid

    for nodes in by_column.values():
        nodes.sort(key=lambda n: (ROLE_ORDER[n.role], n.facts.hops, n.product_id))
        place(nodes)
    keys = sorted(by_column)
    for sweep in range(SWEEPS):
        order = keys if sweep % 2 == 0 else list(reversed(keys))
        for index in order:
            nodes = by_column[index]

            def centre(node: Node) -> tuple[float, int, str]:
                near = [position[n] for n in neighbours.get(node.product_id, ()) if n in position]
                mean = sum(near) / len(near) if near else position[node.product_id]
                return (mean, ROLE_ORDER[node.role], node.product_id)

            nodes.sort(key=centre)
            place(nodes)


def _tooltip(facts: ProductFacts, column: int) -> str:
    lines = [facts.product_id]
    if facts.name:
        lines.append(facts.name)
    role = ROLE_LABELS[facts.role]
    if facts.role == "root":
        role = "root (alerted)"
    elif facts.root_candidate:
        role += " (another root candidate)"
    lines.append(f"role: {role}")
    if facts.role == "upstream":
        lines.append(f"{-column} step(s) upstream of the root")
    else:
        lines.append(f"hops from the nearest alerted product: {facts.hops}")
    lines.append(f"tier: {facts.tier or '-'}")
    lines.append(f"owners: {', '.join(facts.owners) or '-'}")
    lines.append(f"stewards: {', '.join(facts.stewards) or '-'}")
    return "\n".join(lines)


def _sublabel(facts: ProductFacts, column: int) -> str:
    if facts.role == "upstream":
        what = f"upstream \u00b7 {-column} up"
    elif facts.role == "root":
        what = "ROOT \u00b7 alerted"
    elif facts.role == "alerted":
        what = "alerted \u00b7 0 hops"
    else:
        what = f"{facts.hops} hop{'' if facts.hops == 1 else 's'}"
    if facts.tier:
        what += f" \u00b7 tier {facts.tier}"
    return shorten(what, SUBLABEL_CHARS)


def _column_label(index: int, upstream_columns: int, root_here: bool) -> str:
    if index < 0:
        return "suspected upstream" if upstream_columns == 1 else f"upstream \u00b7 {-index} up"
    if index == 0:
        return "root" if root_here else "depth 0"
    return f"+{index} downstream"


def _curve(xa: float, ya: float, xb: float, yb: float) -> str:
    """A cubic from the current point to (xb, yb), leaving and arriving horizontally."""
    bend = max((xb - xa) / 2, 12.0)
    return f"C{xa + bend:.1f},{ya:.1f} {xb - bend:.1f},{yb:.1f} {xb:.1f},{yb:.1f}"


def _blocked(a: Node, b: Node, boxes: Sequence[Node]) -> bool:
    """Whether the plain curve from `a` to `b` runs through one of `boxes`."""
    x1, y1, x2, y2 = a.x + NODE_WIDTH, a.cy, b.x, b.cy
    bend = max((x2 - x1) / 2, 12.0)
    xs = (x1, x1 + bend, x2 - bend, x2)
    ys = (y1, y1, y2, y2)
    for step in range(1, 32):
        t = step / 32
        w = ((1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3)
        x = sum(wi * xi for wi, xi in zip(w, xs, strict=True))
        y = sum(wi * yi for wi, yi in zip(w, ys, strict=True))
        for n in boxes:
            if n.x - 4 <= x <= n.x + NODE_WIDTH + 4 and n.y - 4 <= y <= n.y + NODE_HEIGHT + 4:
                return True
    return False


def _free_y(target: float, boxes: Sequence[Node]) -> float:
    """The height nearest `target` at which a line crosses a column without touching a box."""
    if not any(n.y - 5 <= target <= n.y + NODE_HEIGHT + 5 for n in boxes):
        return target
    tops = sorted(n.y for n in boxes)
    gaps = [tops[0] - ROW_GAP / 2, *(t + NODE_HEIGHT + ROW_GAP / 2 for t in tops)]
    return min(gaps, key=lambda y: abs(y - target))


def _edge_path(a: Node, b: Node, columns: Mapping[int, tuple[float, list[Node]]]) -> str:
    x1, y1 = a.x + NODE_WIDTH, a.cy
    x2, y2 = b.x, b.cy
    if b.column <= a.column:
        # A cycle's closing edge, or a root pinned downstream: loop around on the right.
        x2 = b.x + NODE_WIDTH
        right = max(x1, x2) + COLUMN_GAP * 0.6 + 10 * abs(a.column - b.column)
        c1, c2 = f"{right:.1f},{y1:.1f}", f"{right:.1f},{y2:.1f}"
        return f"M{x1:.1f},{y1:.1f} C{c1} {c2} {x2 + 4:.1f},{y2:.1f}"
    between = [columns[c] for c in sorted(columns) if a.column < c < b.column]
    if not _blocked(a, b, [n for _, boxes in between for n in boxes]):
        return f"M{x1:.1f},{y1:.1f} {_curve(x1, y1, x2, y2)}"
    # A long edge: cross each column in between through a gap between its boxes.
    parts = [f"M{x1:.1f},{y1:.1f}"]
    xa, ya = x1, y1
    for x, boxes in between:
        target = y1 + (y2 - y1) * (x + NODE_WIDTH / 2 - x1) / (x2 - x1)
        y = _free_y(target, boxes)
        parts.append(_curve(xa, ya, x - 6, y))
        parts.append(f"L{x + NODE_WIDTH + 6:.1f},{y:.1f}")
        xa, ya = x + NODE_WIDTH + 6, y
    parts.append(_curve(xa, ya, x2, y2))
    return " ".join(parts)


def layout(
    products: Sequence[ProductFacts],
    roots: Sequence[str],
    edges: Sequence[tuple[str, str]],
    upstream_steps: Mapping[str, int],
    *,
    max_nodes: int = 400,
) -> Drawing:
    """Place `products` (blast radius and suspected upstream) and route `edges` between them.

    `roots` are the products at column 0 (the root first); `upstream_steps` gives each
    suspected upstream product's distance up to the nearest root. A suspected upstream product
    with no drawn edge gets a dashed edge to the root(s) it feeds. Beyond `max_nodes` the
    farthest columns are left out (`left_out` counts them).
    """
    downstream = [p for p in products if p.role != "upstream"]
    column = columns_of(downstream, roots, edges, upstream_steps)
    ranked = sorted(products, key=lambda p: (abs(column[p.product_id]), p.product_id))
    kept = ranked[:max_nodes]
    nodes = {p.product_id: Node(p, column[p.product_id]) for p in kept}
    drawn_edges = [(u, v) for u, v in dict.fromkeys(edges) if u in nodes and v in nodes and u != v]
    indirect: list[tuple[str, str]] = []
    linked = {u for u, _ in drawn_edges}
    for product, node in nodes.items():
        if node.role == "upstream" and product not in linked:
            targets = [r for r in roots if r in nodes and nodes[r].column == 0] or []
            indirect.extend((product, r) for r in targets[:1])
    neighbours: dict[str, list[str]] = {}
    for u, v in [*drawn_edges, *indirect]:
        neighbours.setdefault(u, []).append(v)
        neighbours.setdefault(v, []).append(u)
    by_column: dict[int, list[Node]] = {}
    for node in nodes.values():
        by_column.setdefault(node.column, []).append(node)
    _order(by_column, neighbours)

    keys = sorted(by_column)
    slot = {index: n for n, index in enumerate(keys)}  # gaps closed (an upstream 2 up only)
    tallest = max((len(v) for v in by_column.values()), default=1)
    pitch_y = NODE_HEIGHT + ROW_GAP
    pitch_x = NODE_WIDTH + COLUMN_GAP
    body = tallest * pitch_y - ROW_GAP
    drawing = Drawing(
        width=int(MARGIN_X * 2 + max(len(keys), 1) * pitch_x - COLUMN_GAP),
        height=int(HEADER_HEIGHT + body + MARGIN_BOTTOM),
        left_out=len(products) - len(kept),
    )
    upstream_columns = sum(1 for k in keys if k < 0)
    for index in keys:
        x = MARGIN_X + slot[index] * pitch_x
        label = _column_label(
            index, upstream_columns, any(n.role == "root" for n in by_column[index])
        )
        drawing.columns.append(Column(index, x, label))
        column_nodes = by_column[index]
        top = HEADER_HEIGHT + (body - (len(column_nodes) * pitch_y - ROW_GAP)) / 2
        for node in column_nodes:
            node.x = x
            node.y = top + node.row * pitch_y
            node.label = shorten(node.product_id, LABEL_CHARS)
            node.sublabel = _sublabel(node.facts, node.column)
            node.tooltip = _tooltip(node.facts, node.column)
    drawing.nodes = sorted(nodes.values(), key=lambda n: (n.column, n.row))
    placed = {c.index: (c.x, by_column[c.index]) for c in drawing.columns}
    dashed = set(indirect)
    drawing.edges = [
        Edge(u, v, _edge_path(nodes[u], nodes[v], placed), indirect=(u, v) in dashed)
        for u, v in [*drawn_edges, *indirect]
    ]
    return drawing
