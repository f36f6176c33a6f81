"""dp.draw: a graphviz.Digraph showing every node's name or op, value and gradient, with the
path of a gradient highlighted, that Graphviz's dot renders."""

import importlib
import re

import graphviz
import numpy as np
import pytest

import dagprop as dp

HIGHLIGHT = 'penwidth=2.2'   # the highlighted route: thick red outlines and arrows
GRAD = '<font color="#d62728">grad '


def _example():
    """L = sum(tanh(x @ W) * s) + q ** 2, and a second output that W feeds but L does not."""
    x = dp.Input(np.array([[0.5, -1.0]]), name="x")
    W = dp.Param(np.array([[0.1], [-0.2]]), name="W")
    s = dp.Param(2.0, name="s")
    q = dp.Param(3.0, name="q")
    h = dp.tanh(x @ W, name="h")
    L = dp.sum(h * s, name="Lh") + q ** 2
    side = dp.exp(W, name="side")
    g = dp.Graph(L, side)
    g.backward(L)
    return g, {"x": x, "W": W, "s": s, "q": q, "h": h, "L": L, "side": side}


def _node_lines(dot):
    """{node id: its source line} and the edges as (tail, head, attributes)."""
    nodes, edges = {}, []
    for line in dot.body:
        m = re.match(r"\s*(\w+) -> (\w+)(.*)", line)
        if m:
            edges.append(m.groups())
            continue
        m = re.match(r"\s*(n\d+) \[", line)
        if m:
            nodes[m.group(1)] = line
    return nodes, edges


def _id_of(nodes, head):
    found = [k for k, line in nodes.items() if f"<b>{head}</b>" in line]
    assert len(found) == 1, (head, found)
    return found[0]


def test_draw_shows_each_node_name_or_op_value_and_grad():
    g, n = _example()
    dot = dp.draw(g)
    assert isinstance(dot, graphviz.Digraph)
    nodes, edges = _node_lines(dot)
    assert len(nodes) == len(g.nodes)
    assert "value [[ 0.5, -1. ]]" in nodes[_id_of(nodes, "x")]
    assert "value [[ 0.1], [-0.2]]" in nodes[_id_of(nodes, "W")]
    w_grad = np.array2string(np.round(n["W"].grad, 3), separator=", ").replace("\n", "")
    assert f"{GRAD}{w_grad}" in nodes[_id_of(nodes, "W")]
    assert f"value 3<br/>{GRAD}6</font>" in nodes[_id_of(nodes, "q")]  # dL/dq = 2q
    assert f"value 2<br/>{GRAD}" in nodes[_id_of(nodes, "s")]
    assert f"value [[{np.tanh(0.25):.3f}]]" in nodes[_id_of(nodes, "h = tanh")]
    assert f"value {float(n['L'].value):.3g}" in nodes[_id_of(nodes, "add")]
    assert f"{GRAD}1</font>>" in nodes[_id_of(nodes, "add")]  # the loss, seeded with 1
    for op in ("matmul", "mul", "pow", "Lh = sum", "side = exp"):
        _id_of(nodes, op)
    assert len(edges) == sum(len(c.parents) for c in g.compute)


def test_highlight_path_marks_exactly_the_nodes_and_edges_from_w_to_the_loss():
    g, n = _example()
    dot = dp.draw(g, highlight_path=(n["W"], n["L"]))
    nodes, edges = _node_lines(dot)
    marked = {k for k, line in nodes.items() if HIGHLIGHT in line}
    expected = {_id_of(nodes, h) for h in ("W", "matmul", "h = tanh", "mul", "Lh = sum", "add")}
    assert marked == expected  # not x, s, q, q ** 2, nor side (W feeds it, but not L)
    marked_edges = {(a, b) for a, b, attrs in edges if HIGHLIGHT in attrs}
    assert marked_edges == {(a, b) for a, b, _ in edges if a in expected and b in expected}
    assert len(marked_edges) == 5
    # The route is drawn the way the gradient travels: arrowheads at the parent's end.
    assert all("dir=back" in attrs for a, b, attrs in edges if (a, b) in marked_edges)
    assert not any("dir=back" in attrs for a, b, attrs in edges if (a, b) not in marked_edges)


def test_draw_can_hide_values_and_show_only_known_gradients():
    g, n = _example()
    nodes, _ = _node_lines(dp.draw(g, show_value=False, grads_known=[n["L"], n["q"]]))
    assert not any("value" in line for line in nodes.values())
    assert f"{GRAD}6" in nodes[_id_of(nodes, "q")]
    assert f"{GRAD}?" in nodes[_id_of(nodes, "W")]
    nodes, _ = _node_lines(dp.draw(g, show_grad=False))
    assert not any("grad" in line for line in nodes.values())


def test_draw_of_a_node_draws_everything_below_it():
    _, n = _example()
    nodes, _ = _node_lines(dp.draw(n["h"]))
    assert len(nodes) == 4  # x, W, matmul, h


def test_show_local_labels_edges_with_local_gradients():
    a, b = dp.Param(3.0, name="a"), dp.Param(-2.0, name="b")
    c = a * b
    dp.Graph(c).backward(c)
    grads = (a.grad, b.grad)
    dot = dp.draw(c, show_local=True)
    nodes, edges = _node_lines(dot)
    # Each edge has a plain forward arrow and a dashed backward arrow labelled "x local gradient".
    assert len(edges) == 4
    back = [(a_, attrs) for a_, _, attrs in edges if "style=dashed" in attrs]
    assert all("dir=back" in attrs and "#d62728" in attrs for _, attrs in back)
    labels = {a_: re.search(r'label="?(×[^" \]]+)', attrs).group(1) for a_, attrs in back}
    assert labels[_id_of(nodes, "a")] == "×(−2)"  # d(ab)/da = b, a negative factor in brackets
    assert labels[_id_of(nodes, "b")] == "×3"
    assert (a.grad, b.grad) == grads  # drawing leaves the gradients alone


@pytest.mark.parametrize("kwargs", [{}, {"show_local": True}], ids=["plain", "local"])
def test_dot_renders_the_drawing_to_svg(kwargs):
    g, n = _example()
    svg = dp.draw(g, highlight_path=(n["W"], n["L"]), **kwargs).pipe(format="svg").decode()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert svg.count('class="node"') == len(g.nodes)
    assert "#d62728" in svg


def test_grad_edges_point_from_each_node_back_to_its_parents():
    g, _ = _example()
    nodes, edges = _node_lines(dp.draw(g, grad_edges=True))
    forward = [(a, b) for a, b, attrs in edges if "style=dashed" not in attrs]
    back = [(a, b) for a, b, attrs in edges if "style=dashed" in attrs]
    assert sorted(forward) == sorted(back)  # one backward arrow along every edge
    assert all("dir=back" in attrs and "constraint=false" in attrs
               for _, _, attrs in edges if "style=dashed" in attrs)
    assert len(forward) == sum(len(c.parents) for c in g.compute)


@pytest.mark.parametrize("name", [7, 2.5, ("layer", 1)], ids=["int", "float", "tuple"])
def test_draw_accepts_names_that_are_not_strings(name):
    """A name the caller chose, e.g. a layer number, used to crash the drawing."""
    p = dp.Param(2.0, name=name)
    q = dp.tanh(p, name=name)
    dp.Graph(q).backward(q)
    svg = dp.draw(q).pipe(format="svg").decode()
    assert svg.count('class="node"') == 2
    assert f"{name} = tanh".replace("'", "&#39;") in svg or f"{name} = tanh" in svg


def _chain(n):
    """x -> tanh -> tanh ... : n nodes, the output on top."""
    node = dp.Input(0.5, name="x")
    for _ in range(n - 1):
        node = dp.tanh(node)
    node.name = "top"
    return node


def test_large_graphs_are_cut_to_the_nodes_nearest_the_output():
    """8,500 nodes used to give a 10 MB SVG after 24 s of dot; now the top of the graph is drawn,
    with a note of how many nodes were left out."""
    top = _chain(8_500)
    dot = dp.draw(top)
    nodes, edges = _node_lines(dot)
    assert len(nodes) == importlib.import_module("dagprop.draw").MAX_NODES <= 200
    assert "top = tanh" in "".join(nodes.values())   # the output is kept
    assert "<b>x</b>" not in "".join(nodes.values())   # the far end is not
    assert any("left out" in line and "8,3" in line for line in dot.body)
    svg = dot.pipe(format="svg")
    assert len(svg) < 1_000_000


def test_max_nodes_none_draws_everything_and_bad_values_are_refused():
    top = _chain(300)
    nodes, _ = _node_lines(dp.draw(top, max_nodes=None))
    assert len(nodes) == 300
    nodes, _ = _node_lines(dp.draw(top, max_nodes=10))
    assert len(nodes) == 10
    with pytest.raises(ValueError, match="max_nodes"):
        dp.draw(top, max_nodes=0)


def test_no_gradient_arrow_goes_back_to_a_constant():
    x = dp.Param(1.5, name="x")
    y = 2.0 * x  # the Python number becomes a Constant node
    g = dp.Graph(y)
    g.backward(y)
    _, edges = _node_lines(dp.draw(g, show_local=True))
    assert len([e for e in edges if "style=dashed" in e[2]]) == 1  # back to x only
