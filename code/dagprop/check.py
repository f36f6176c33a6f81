"""Gradient checking by central differences: compare backpropagated gradients with
(f(x + eps) - f(x - eps)) / (2 eps), one element at a time."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .graph import Graph
from .nodes import Node

__all__ = ["gradcheck", "GradcheckReport", "GradcheckError", "numerical_grad"]


class GradcheckError(AssertionError):
    """Raised by ``gradcheck`` when a gradient does not match; ``.report`` holds the details."""

    def __init__(self, report: GradcheckReport):
        super().__init__(str(report))
        self.report = report


@dataclass
class GradcheckReport:
    """The outcome of a gradient check: ``ok``, and the worst element found."""

    ok: bool
    checked: int
    worst_node: str = ""
    worst_index: tuple = ()
    analytic: float = 0.0
    numeric: float = 0.0
    abs_err: float = 0.0
    rel_err: float = 0.0
    per_node: dict = field(default_factory=dict)
    problem: str = ""  # a failure that is not a mismatch of numbers, e.g. a gradient's shape

    def __str__(self):
        head = "gradcheck passed" if self.ok else "gradcheck FAILED"
        if self.problem:
            return f"{head}: {self.problem}"
        s = (f"{head}: {self.checked} elements checked; worst mismatch at {self.worst_node}"
             f"{list(self.worst_index)}: backprop {self.analytic:.6g}, central difference "
             f"{self.numeric:.6g} (abs err {self.abs_err:.2e}, rel err {self.rel_err:.2e})")
        return s


def _objective(out: Node, v):
    val = np.asarray(out.value, dtype=np.float64)
    return float(val) if v is None else float(np.sum(np.asarray(v, np.float64) * val))


def numerical_grad(graph: Graph, out: Node, leaf: Node, v=None, eps: float = 1e-6) -> np.ndarray:
    """Central-difference estimate of d(out)/d(leaf) (or of the VJP with ``v``), in float64."""
    x = leaf.value
    scalar = np.ndim(x) == 0
    # np.asarray first: a Python float is 'weak' in numpy 2 and would be perturbed in float32.
    base = np.array(x, dtype=np.result_type(np.asarray(x), np.float32), copy=True)
    grad = np.zeros(np.shape(x), dtype=np.float64)
    for idx in np.ndindex(*np.shape(x)):
        old = base[idx]
        for sign in (+1, -1):
            base[idx] = old + sign * eps
            leaf.value = base[()] if scalar else base.copy()
            graph.forward()
            f = _objective(out, v)
            grad[idx] += sign * f / (2 * eps)
        base[idx] = old
    leaf.value = x
    graph.forward()
    return grad


def gradcheck(graph: Graph | Node, wrt: list[Node] | None = None, output: Node | None = None,
              v=None, eps: float | None = None, atol: float | None = None,
              rtol: float | None = None, raise_exception: bool = True) -> GradcheckReport:
    """Check the backpropagated gradients of ``output`` (default: the graph's first output)
    with respect to ``wrt`` (default: every parameter and non-constant input).

    Passes when ``|backprop - numeric| <= atol + rtol * |numeric|`` for every element. Defaults
    suit float64 (eps 1e-6, atol 1e-5, rtol 1e-4); float32 graphs get eps 1e-3 and looser
    tolerances (atol 1e-2, rtol 1e-2), since differences of nearby float32 numbers lose digits.
    Raises ``GradcheckError`` on failure unless ``raise_exception=False``; returns the report.
    """
    g = graph if isinstance(graph, Graph) else Graph(graph)
    out = output or g.outputs[0]
    if wrt is None:
        # Integer class labels have no gradient, and nudging them by eps makes them invalid.
        labels = {id(c.parents[1]) for c in g.compute if c.op == "cross_entropy"}
        wrt = g.params + [x for x in g.inputs if x.kind == "input" and id(x) not in labels]
    f32 = any(np.result_type(n.value) == np.float32 for n in wrt + [out])
    eps = eps if eps is not None else (1e-3 if f32 else 1e-6)
    atol = atol if atol is not None else (1e-2 if f32 else 1e-5)
    rtol = rtol if rtol is not None else (1e-2 if f32 else 1e-4)

    known = {id(n) for n in g.inputs + g.params}
    for n in wrt:
        if id(n) not in known:
            raise ValueError(f"gradcheck: {n.describe()} is not an input or parameter of the graph "
                             f"of {out.describe()}, so it has no gradient to check")

    g.forward()
    g.backward(out, v)
    analytic = {id(n): np.array(n.grad, dtype=np.float64) for n in wrt}
    rep = GradcheckReport(ok=True, checked=0)
    worst = -1.0
    for n in wrt:
        ana = analytic[id(n)]
        if ana.shape != np.shape(n.value):
            rep.worst_node = n.label
            rep.problem = (f"the gradient of {n.describe()} has shape {ana.shape}, but its value "
                           f"has shape {np.shape(n.value)}")
            worst = np.inf
            break
        num = numerical_grad(g, out, n, v, eps)
        err = np.abs(ana - num)
        # NaN compares false with everything, so a NaN gradient would look perfect: count it as
        # an infinite excess instead.
        excess = np.where(np.isnan(err), np.inf, err - (atol + rtol * np.abs(num)))
        rep.checked += num.size
        rep.per_node[n.label] = float(np.max(err)) if err.size else 0.0
        if err.size and excess.max() > worst:
            i = np.unravel_index(int(np.argmax(excess)), err.shape) if err.ndim else ()
            worst = float(excess.max())
            rep.worst_node, rep.worst_index = n.label, tuple(int(k) for k in i)
            rep.analytic, rep.numeric = float(ana[i]), float(num[i])
            rep.abs_err = float(err[i])
            rep.rel_err = float(err[i] / max(abs(num[i]), 1e-12))
    rep.ok = worst <= 0
    g.backward(out, v)  # leave the backprop gradients in place for the caller
    if not rep.ok and raise_exception:
        raise GradcheckError(rep)
    return rep
