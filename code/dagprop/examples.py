"""The course's example graphs, built in one place so the chapters, the figures in img/ and the
tests all draw and check the same nodes.

Each function builds the nodes, wraps them in a ``Graph`` and runs one forward and one backward
pass, so values and gradients are filled in; it returns the graph and a dict of the named nodes.
"""

from __future__ import annotations

from .graph import Graph, Input, Param
from .losses import binary_cross_entropy
from .ops import sigmoid, tanh

__all__ = ["fanout", "single_neuron"]


def fanout(x: float = 1.5, w: float = 0.8, b: float = -0.5):
    """A small graph where node ``y`` has fan-out 2 (the course's first backprop figure).

    ``y = w * x`` feeds both ``u = tanh(y)`` and ``v = y * b``; the loss is ``L = u + v``. In the
    backward pass ``y`` receives one gradient from ``u`` and one from ``v`` and adds them:
    dL/dy = dL/du * du/dy + dL/dv * dv/dy.
    """
    xn = Input(x, name="x")
    wn = Param(w, name="w")
    bn = Param(b, name="b")
    y = wn * xn
    y.name = "y"
    u = tanh(y, name="u")
    v = y * bn
    v.name = "v"
    L = u + v
    L.name = "L"
    g = Graph(L)
    g.forward()
    g.backward(L)
    return g, dict(x=xn, w=wn, b=bn, y=y, u=u, v=v, L=L)


def single_neuron(x=(1.5, -0.5), w=(0.5, 0.25), b: float = 0.1, t: float = 1.0):
    """One sigmoid neuron with cross-entropy loss, built from scalar nodes (the course's second and
    third figures): ``s = w0*x0 + w1*x1``, ``u = s + b``, ``p = sigmoid(u)``, ``L = BCE(p, t)``.

    The gradient reaches ``w0`` along the path ``L -> p -> u -> w0*x0 -> w0``.
    """
    xs = [Input(v, name=f"x{i}") for i, v in enumerate(x)]
    ws = [Param(v, name=f"w{i}") for i, v in enumerate(w)]
    bn = Param(b, name="b")
    tn = Input(t, name="t")
    prods = []
    for i, (wi, xi) in enumerate(zip(ws, xs)):
        m = wi * xi
        m.name = f"w{i}x{i}"
        prods.append(m)
    s = prods[0]
    for m in prods[1:]:
        s = s + m
    s.name = "s"
    u = s + bn
    u.name = "u"
    p = sigmoid(u, name="p")
    L = binary_cross_entropy(p, tn, name="L")
    g = Graph(L)
    g.forward()
    g.backward(L)
    nodes = dict(s=s, u=u, p=p, L=L, b=bn, t=tn)
    nodes.update({n.name: n for n in xs + ws + prods})
    return g, nodes
