"""Draw a dagprop graph with Graphviz: one box per node, the forward pass as grey arrows from
parents to children, the backward pass (gradients) in red, with arrows pointing from each node back
to its parents, the way gradients travel.

Labels are set large enough to read where the book shows the drawings (14 pt, 18.7 CSS px at
natural size: at least 12 px even where a page shrinks a drawing to two thirds of its width), in a
sans-serif font.
"""

from __future__ import annotations

from collections.abc import Iterable

import graphviz
import numpy as np

from .graph import Graph, Node, topological_order

__all__ = ["draw", "path_between", "local_gradients", "MAX_NODES"]

# Inputs grey boxes (constants dashed), parameters orange boxes, compute nodes blue rounded boxes.
_STYLE = {
    "input": dict(shape="box", style="filled", fillcolor="#e8e8e8"),
    "constant": dict(shape="box", style="filled,dashed", fillcolor="#f6f6f6"),
    "param": dict(shape="box", style="filled", fillcolor="#fdd9a0"),
    "compute": dict(shape="box", style="filled,rounded", fillcolor="#cfe2f3"),
}
_HIGHLIGHT = "#d62728"   # the colour of gradients: highlighted routes, backward arrows, "grad" lines
_FORWARD = "#555555"
_FONT = "Helvetica"      # Graphviz writes "Helvetica,sans-Serif": a sans-serif font everywhere
_NODE_PT, _EDGE_PT, _TITLE_PT = "14", "14", "14"

# Above this many nodes a drawing is unreadable and slow (8,500 nodes: a 10 MB SVG, 24 s of dot),
# so draw() keeps the nodes nearest the output unless asked for everything.
MAX_NODES = 150


def _fmt(x, digits: int) -> str:
    """A value or gradient, rounded; arrays shown whole when small, else by shape."""
    if x is None:
        return "–"
    a = np.asarray(x)
    if a.ndim == 0:
        return f"{float(a):.{digits}g}"
    if a.size <= 4:
        return np.array2string(np.round(a.astype(float), digits), separator=", ",
                               suppress_small=True).replace("\n", "")
    return f"{a.dtype}{list(a.shape)}"


def path_between(source: Node, target: Node) -> set[int]:
    """Ids of every node on some forward path from ``source`` to ``target`` (both included)."""
    order = topological_order([target])
    on_path = {id(source)} if any(n is source for n in order) else set()
    for n in order:  # parents come first, so one pass suffices
        if any(id(p) in on_path for p in n.parents):
            on_path.add(id(n))
    ancestors_of_target = {id(n) for n in order}
    return on_path & ancestors_of_target


def _nearest_the_output(nodes: list[Node], keep: int) -> list[Node]:
    """The ``keep`` nodes with the fewest edges between them and an output (a node without
    children among ``nodes``), breadth first from the outputs; returned in the order given."""
    ids = {id(n) for n in nodes}
    has_child = {id(p) for n in nodes for p in n.parents if id(p) in ids}
    frontier = [n for n in reversed(nodes) if id(n) not in has_child]
    kept: dict[int, Node] = {}
    while frontier and len(kept) < keep:
        nxt = []
        for n in frontier:
            if id(n) in kept or len(kept) >= keep:
                continue
            kept[id(n)] = n
            nxt.extend(p for p in n.parents if id(p) in ids and id(p) not in kept)
        frontier = nxt
    return [n for n in nodes if id(n) in kept]


def draw(obj: Graph | Node | Iterable[Node], highlight_path: tuple[Node, Node] | None = None,
         show_value: bool = True, show_grad: bool = True, grads_known: Iterable[Node] | None = None,
         show_local: bool = False, grad_edges: bool | None = None, digits: int = 3,
         rankdir: str = "BT", title: str | None = None,
         max_nodes: int | None = MAX_NODES) -> graphviz.Digraph:
    """Return a ``graphviz.Digraph`` of a graph (or of everything below a node).

    - ``highlight_path=(w, L)`` draws the nodes on the paths from ``w`` to ``L`` in red, and the
      edges between them as red arrows pointing down from ``L`` towards ``w``: the route the
      gradient dL/dw flows back along.
    - ``grad_edges=True`` adds the backward pass: for every edge, a dashed red arrow from the child
      back to its parent. It is on by default when ``show_local`` is.
    - ``show_local=True`` labels each backward arrow child -> parent with the local gradient
      d child / d parent (for scalar nodes), computed by the child's own ``backward``: the factor
      the gradient is multiplied by on its way down that edge.
    - ``grads_known``: if given, only these nodes show their gradient (the others show "?"), which
      lets a sequence of drawings step through the backward pass.
    - ``rankdir="BT"`` puts inputs at the bottom and the loss at the top.
    - ``max_nodes``: larger graphs are cut to the nodes nearest the output, with a note saying how
      many were left out; ``max_nodes=None`` draws everything (slow beyond a few thousand nodes).
    """
    if isinstance(obj, Graph):
        nodes = topological_order(obj.outputs)
    elif isinstance(obj, Node):
        nodes = topological_order([obj])
    else:
        nodes = topological_order(list(obj))
    if max_nodes is not None and max_nodes < 1:
        raise ValueError(f"draw: max_nodes must be a positive number or None, got {max_nodes}")
    left_out = 0
    if max_nodes is not None and len(nodes) > max_nodes:
        left_out = len(nodes) - max_nodes
        nodes = _nearest_the_output(nodes, max_nodes)
    if grad_edges is None:
        grad_edges = show_local
    hl = path_between(*highlight_path) if highlight_path else set()
    known = None if grads_known is None else {id(n) for n in grads_known}

    dot = graphviz.Digraph(graph_attr=dict(rankdir=rankdir, nodesep="0.18", ranksep="0.45",
                                           fontname=_FONT, fontsize=_TITLE_PT),
                           node_attr=dict(fontname=_FONT, fontsize=_NODE_PT, margin="0.08,0.04"),
                           edge_attr=dict(arrowsize="0.8", color=_FORWARD, fontname=_FONT,
                                          fontsize=_EDGE_PT))
    notes = [_esc(str(title))] if title else []
    if left_out:
        notes.append(f"{len(nodes):,} nodes nearest the output drawn, {left_out:,} more below "
                     "left out (max_nodes=None draws them all)")
    if notes:
        dot.attr(label="\n".join(notes), labelloc="t")
    ids = {id(n): f"n{i}" for i, n in enumerate(nodes)}
    for n in nodes:
        lines = [f"<b>{_esc(_head(n))}</b>"]
        if show_value:
            lines.append(f"value {_esc(_fmt(n.value, digits))}")
        if show_grad:
            g = n.grad if known is None or id(n) in known else None
            shown = _esc(_fmt(g, digits)) if g is not None else "?"
            lines.append(f'<font color="{_HIGHLIGHT}">grad {shown}</font>')
        style = dict(_STYLE.get(n.kind, _STYLE["compute"]))
        if id(n) in hl:
            style.update(color=_HIGHLIGHT, penwidth="2.2")
        dot.node(ids[id(n)], "<" + "<br/>".join(lines) + ">", **style)
    for n in nodes:
        local = local_gradients(n) if show_local and n.parents else None
        for i, p in enumerate(n.parents):
            if id(p) not in ids:
                continue
            on_route = id(p) in hl and id(n) in hl
            # dir="back" keeps the edge parent -> child for the layout but puts the arrowhead at
            # the parent: the arrow points the way the gradient travels.
            attrs = dict(color=_HIGHLIGHT, penwidth="2.2", dir="back") if on_route else {}
            if not grad_edges and local is not None:
                attrs.update(label=_fmt(local[i], digits), fontcolor=_FORWARD)
            dot.edge(ids[id(p)], ids[id(n)], **attrs)
            # A constant gets no gradient, so no gradient arrow goes back to it.
            if grad_edges and not on_route and p.kind != "constant":
                back = dict(color=_HIGHLIGHT, style="dashed", dir="back", constraint="false")
                if local is not None:
                    back.update(label=_factor(local[i], digits), fontcolor=_HIGHLIGHT)
                dot.edge(ids[id(p)], ids[id(n)], **back)
    return dot


def _factor(x, digits: int) -> str:
    """A local gradient as the factor the gradient is multiplied by: ×0.8, ×(−0.5)."""
    text = _fmt(x, digits)
    return f"×({'−' + text[1:]})" if text.startswith("-") else f"×{text}"


def _head(n: Node) -> str:
    """The first line of a node's box: its name (or op), and the op of a named compute node."""
    name = n.name
    if name is not None and not isinstance(name, str):
        name = str(name)  # a number or any object the caller used as a name
    if n.kind == "compute" and name:
        return f"{name} = {n.op}"
    return name or str(n.label)


def local_gradients(node: Node) -> list | None:
    """The local gradients d node / d parent of a scalar compute node, one per parent, found by
    running the node's own ``backward`` with ``node.grad = 1``. Gradients are left as they were.
    None when a value is not a scalar."""
    if any(np.ndim(x.value) for x in (node, *node.parents)):
        return None
    saved = [(x, x.grad) for x in (node, *node.parents)]
    try:
        for p in node.parents:
            p.grad = 0
        node.grad = 1.0
        node.backward()
        # A node used twice as a parent (x * x) receives both terms; report the sum on each edge.
        return [p.grad for p in node.parents]
    finally:
        for x, g in saved:
            x.grad = g


def _esc(s: str) -> str:
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
