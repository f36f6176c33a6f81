"""Draw a dagprop graph with Graphviz: one box per node, edges in the direction of the forward pass."""

from __future__ import annotations

from collections.abc import Iterable

import graphviz
import numpy as np

from .graph import Graph, Node, topological_order

__all__ = ["draw", "path_between", "local_gradients"]

# Inputs grey ellipses, parameters orange boxes, compute nodes blue rounded boxes.
_STYLE = {
    "input": dict(shape="ellipse", style="filled", fillcolor="#e8e8e8"),
    "constant": dict(shape="ellipse", style="filled,dashed", fillcolor="#f6f6f6"),
    "param": dict(shape="box", style="filled", fillcolor="#fdd9a0"),
    "compute": dict(shape="box", style="filled,rounded", fillcolor="#cfe2f3"),
}
_HIGHLIGHT = "#d62728"


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


def draw(obj: Graph | Node | Iterable[Node], highlight_path: tuple[Node, Node] | None = None,
         show_value: bool = True, show_grad: bool = True, grads_known: Iterable[Node] | None = None,
         show_local: bool = False, digits: int = 3, rankdir: str = "BT",
         title: str | None = None) -> graphviz.Digraph:
    """Return a ``graphviz.Digraph`` of a graph (or of everything below a node).

    - ``highlight_path=(w, L)`` draws the nodes and edges on the paths from ``w`` to ``L`` in red,
      the route the gradient dL/dw flows back along.
    - ``grads_known``: if given, only these nodes show their gradient (the others show "?"), which
      lets a sequence of drawings step through the backward pass.
    - ``show_local=True`` labels each edge parent -> child with the local gradient
      d child / d parent (for scalar nodes), computed by the child's own ``backward``.
    - ``rankdir="BT"`` puts inputs at the bottom and the loss at the top.
    """
    if isinstance(obj, Graph):
        nodes = obj.inputs + obj.params + obj.compute
    elif isinstance(obj, Node):
        nodes = topological_order([obj])
    else:
        nodes = topological_order(list(obj))
    hl = path_between(*highlight_path) if highlight_path else set()
    known = None if grads_known is None else {id(n) for n in grads_known}

    dot = graphviz.Digraph(graph_attr=dict(rankdir=rankdir, nodesep="0.3", ranksep="0.35"),
                           node_attr=dict(fontname="Helvetica", fontsize="11", margin="0.08,0.04"),
                           edge_attr=dict(arrowsize="0.7"))
    if title:
        dot.attr(label=title, labelloc="t", fontname="Helvetica")
    ids = {id(n): f"n{i}" for i, n in enumerate(nodes)}
    for n in nodes:
        head = n.label if n.kind != "compute" or not n.name else f"{n.name} = {n.op}"
        lines = [f"<b>{_esc(head)}</b>"]
        if show_value:
            lines.append(f"value {_esc(_fmt(n.value, digits))}")
        if show_grad:
            g = n.grad if known is None or id(n) in known else None
            lines.append(f"grad {_esc(_fmt(g, digits)) if g is not None else '?'}")
        style = dict(_STYLE[n.kind])
        if id(n) in hl:
            style.update(color=_HIGHLIGHT, penwidth="2.2")
        dot.node(ids[id(n)], "<" + "<br/>".join(lines) + ">", **style)
    for n in nodes:
        local = local_gradients(n) if show_local and n.parents else None
        for i, p in enumerate(n.parents):
            if id(p) in ids:
                attrs = dict(color=_HIGHLIGHT, penwidth="2.2") if id(p) in hl and id(n) in hl else {}
                if local is not None:
                    attrs.update(label=_fmt(local[i], digits), fontsize="9", fontcolor="#555555")
                dot.edge(ids[id(p)], ids[id(n)], **attrs)
    return dot


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
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
