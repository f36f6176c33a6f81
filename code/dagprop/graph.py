"""Nodes of a computational DAG and the three loops of backpropagation.

A graph has three kinds of node, as in the course text:

* ``Input``: a leaf whose value the user sets (data, targets, constants);
* ``Param``: a leaf that ``Graph.sgd`` updates (weights and biases);
* ``Compute``: a node whose value is a function of its parents' values.

Every node has ``.value``, ``.grad`` and ``.name``. A compute node's ``.forward()`` computes its
value from its parents' values; its ``.backward()`` adds (local gradient x its own gradient) into
each parent's ``.grad``. ``Graph.forward``, ``Graph.backward`` and ``Graph.sgd`` are the loops that
call them. Nodes point to their parents only, never to their children or to themselves, so a graph
holds no reference cycle and is freed by reference counting as soon as it is dropped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import numpy as np

__all__ = [
    "Node", "Input", "Param", "Constant", "Compute", "Graph",
    "topological_order", "detect_anomaly", "as_value",
]


def as_value(x, name: str | None = None):
    """Convert user data to a node value.

    Python numbers become Python floats (fast scalar arithmetic); arrays stay numpy arrays, with
    integer and boolean data converted to float64 and float32 kept as float32 (no silent upcast).
    """
    if isinstance(x, (bool, int, float, np.integer, np.bool_)) and not isinstance(x, np.floating):
        return float(x)
    if isinstance(x, np.float64):
        return float(x)
    if isinstance(x, (np.floating, np.ndarray, list, tuple)):
        arr = np.asarray(x)
        if arr.dtype.kind in "biu":
            arr = arr.astype(np.float64)
        elif arr.dtype.kind != "f":
            raise TypeError(_who(name) + f"value must be numeric, got an array of dtype {arr.dtype}")
        return arr if arr.ndim or isinstance(x, np.ndarray) else arr[()]
    raise TypeError(_who(name) + f"value must be a number or a numpy array, got {type(x).__name__}")


def _who(name):
    return f"node {name!r}: " if name else ""


class Node:
    """A node of the DAG. Subclasses: ``Input``, ``Param``, ``Compute``."""

    __slots__ = ("value", "grad", "name", "parents", "__weakref__")
    kind = "node"
    op = "node"
    __array_ufunc__ = None  # so `ndarray * node` defers to Node.__rmul__ instead of looping over it

    def __init__(self, value, name: str | None = None):
        self.name = name
        self.parents = ()
        self.value = as_value(value, name)
        self.grad = None

    @property
    def shape(self) -> tuple:
        return np.shape(self.value)

    @property
    def dtype(self):
        return np.result_type(self.value)

    @property
    def label(self) -> str:
        """The name if one was given, otherwise the op."""
        return self.name or self.op

    def describe(self) -> str:
        """How error messages name this node: ``node 'h1' (op relu)``."""
        return f"node {self.label!r} (op {self.op})" if self.name else f"node of op {self.op!r}"

    def __repr__(self):
        v = self.value
        shown = f"{v:.4g}" if np.ndim(v) == 0 else f"array{np.shape(v)}"
        return f"{type(self).__name__}({self.label}, value={shown})"


class Input(Node):
    """A leaf whose value is set by the user: data, targets. Setting ``.value`` re-checks it."""

    __slots__ = ("_value",)
    kind = "input"
    op = "input"

    @property
    def value(self):
        return self._value

    @value.setter
    def value(self, v):
        self._value = as_value(v, self.name)


class Constant(Input):
    """A Python number or numpy array used as an operand; wrapped so it can sit in the graph."""

    __slots__ = ()
    kind = "constant"
    op = "const"

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        v = self.value
        return f"{v:.4g}" if np.ndim(v) == 0 else f"const{np.shape(v)}"


class Param(Node):
    """A trainable leaf: ``Graph.sgd`` updates its value with its gradient.

    The value is a copy of what was passed in, so training never changes the caller's array.
    """

    __slots__ = ()
    kind = "param"
    op = "param"

    def __init__(self, value, name: str | None = None):
        super().__init__(np.array(value, copy=True) if isinstance(value, np.ndarray) else value,
                         name)


class Compute(Node):
    """A node whose value is computed from its parents.

    A subclass sets ``op`` and defines ``check`` (validate the parents' shapes when the node is built
    or when input shapes change; raise ``ValueError`` naming op and shapes), ``forward`` and
    ``backward``. The value is computed as soon as the node is built, so mistakes surface at the line
    that made them.
    """

    __slots__ = ("bcast",)
    kind = "compute"

    def __init__(self, *parents: Node, name: str | None = None):
        self.name = name
        self.parents = parents
        self.grad = None
        self.bcast = False  # True when an operand was broadcast: backward then sums grads back
        self.check()
        self.forward()
        if _ANOMALY:
            _check_finite(self, self.value, "value")

    def check(self) -> None:
        """Validate the parents' shapes. The default accepts anything."""

    def forward(self) -> None:  # pragma: no cover - every op overrides it
        raise NotImplementedError

    def backward(self) -> None:  # pragma: no cover - every op overrides it
        raise NotImplementedError


def topological_order(outputs: Iterable[Node]) -> list[Node]:
    """All ancestors of ``outputs`` (themselves included), parents before children.

    Iterative depth-first search with an explicit stack, so a chain a million nodes deep works.
    """
    order: list[Node] = []
    done: set[int] = set()
    for out in outputs:
        stack = [(out, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in done:
                continue
            done.add(id(node))
            stack.append((node, True))
            for p in node.parents:
                if id(p) not in done:
                    stack.append((p, False))
    return order


class Graph:
    """The DAG above one or more output nodes, sorted into ``inputs``, ``params`` and ``compute``.

    ``compute`` is in topological order (every node after its parents), so the forward pass is one
    loop over it and the backward pass one loop over it in reverse.
    """

    def __init__(self, *outputs: Node):
        if not outputs:
            raise TypeError("Graph needs at least one output node, e.g. dp.Graph(loss)")
        for out in outputs:
            if not isinstance(out, Node):
                raise TypeError(
                    f"Graph expects dagprop nodes, got {type(out).__name__}: build the loss from "
                    "dp.Input/dp.Param nodes and pass the loss node, e.g. dp.Graph(L)")
        self.outputs = list(outputs)
        order = topological_order(outputs)
        self.inputs = [n for n in order if isinstance(n, Input)]
        self.params = [n for n in order if isinstance(n, Param)]
        self.compute = [n for n in order if isinstance(n, Compute)]
        self._shapes = self._input_shapes()
        self._ids = None  # ids of all nodes, built the first time backward is given a non-output
        self._below = {}  # id(node) -> the compute nodes below it, for backward from that node

    def __repr__(self):
        return (f"Graph({len(self.inputs)} inputs, {len(self.params)} params, "
                f"{len(self.compute)} compute nodes)")

    @property
    def nodes(self) -> list[Node]:
        return self.inputs + self.params + self.compute

    def _input_shapes(self):
        return [np.shape(x.value) for x in self.inputs]

    def forward(self) -> None:
        """Forward(): every compute node's value from its parents', in topological order."""
        if _ANOMALY or self._input_shapes() != self._shapes:
            return self._forward_checked()
        for c in self.compute:
            c.forward()

    def backward(self, loss: Node, v=None) -> None:
        """Backward(loss): zero every gradient, seed ``loss.grad``, then backpropagate.

        ``v`` seeds a non-scalar output, so the leaves receive the vector-Jacobian product
        ``v^T (d loss / d leaf)``, as torch's ``loss.backward(v)`` does.
        """
        for c in self.compute:
            c.grad = 0
        for c in self.params:
            c.grad = 0
        for c in self.inputs:
            c.grad = 0
        loss.grad = self._seed(loss, v)

        if _ANOMALY or len(self.outputs) > 1 or loss is not self.outputs[0]:
            return self._backward_checked(loss)
        for c in reversed(self.compute):
            c.backward()
        self._leaf_grads_to_shape()

    def sgd(self, eta: float) -> None:
        """SGD(eta): one gradient-descent step on every parameter."""
        for w in self.params:
            w.value -= eta * w.grad

    def zero_grad(self) -> None:
        """Set every gradient to zero (``backward`` already does this first)."""
        for c in self.nodes:
            c.grad = 0 * c.value

    # --- the parts of the loops that are not the seed's three lines -----------------------------

    def _seed(self, loss: Node, v):
        if not any(loss is out for out in self.outputs):
            if self._ids is None:
                self._ids = {id(n) for n in self.nodes}
            if id(loss) not in self._ids:
                raise ValueError(f"backward: {loss.describe()} is not a node of this graph")
        shape = np.shape(loss.value)
        if v is None:
            if shape != ():
                raise ValueError(
                    f"backward: {loss.describe()} has shape {shape}, but a scalar is needed to "
                    "start backpropagation; pass v (same shape) for a vector-Jacobian product, "
                    "or reduce it first, e.g. dp.sum(y)")
            # 1 of the loss's type: a Python float, or a numpy scalar of its dtype (float32 stays)
            return 1.0 if type(loss.value) is float else np.ones_like(loss.value)[()]
        v = as_value(v, "v")
        if np.shape(v) != shape:
            raise ValueError(f"backward: v has shape {np.shape(v)} but {loss.describe()} has "
                             f"shape {shape}; they must match")
        if isinstance(v, np.ndarray):  # a copy in the output's dtype: a float32 graph stays float32
            v = v.astype(np.result_type(loss.value))
        return v

    def _leaf_grads_to_shape(self):
        # A leaf that no gradient reached still holds the integer 0: give it its value's shape.
        # A Python-float leaf gets a Python-float gradient (broadcasting may have made it a 0-d
        # array), so SGD keeps its value a Python float.
        for c in self.params:
            if type(c.grad) is int:
                c.grad = 0 * c.value
            elif type(c.value) is float:
                c.grad = float(c.grad)
        for c in self.inputs:
            if type(c.grad) is int:
                c.grad = 0 * c.value
            elif type(c.value) is float:
                c.grad = float(c.grad)

    def _forward_checked(self):
        # Input shapes changed (a new batch size, say) or anomaly detection is on: re-validate
        # every node's operands, so a wrong shape is reported at the node it breaks.
        for c in self.compute:
            c.check()
            c.forward()
            if _ANOMALY:
                _check_finite(c, c.value, "value")
        self._shapes = self._input_shapes()

    def _backward_checked(self, loss: Node):
        # When ``loss`` is an inner node or one of several outputs, walk only the nodes below it:
        # the others hold the integer 0, which is no gradient to send (and has no shape to
        # reshape or multiply by a matrix). With detect_anomaly, check every gradient sent.
        below = self.compute
        if len(self.outputs) > 1 or loss is not self.outputs[0]:
            below = self._below.get(id(loss))
            if below is None:  # the graph never changes, so each node's list is found once
                below = [n for n in topological_order([loss]) if isinstance(n, Compute)]
                self._below[id(loss)] = below
        for c in reversed(below):
            c.backward()
            if _ANOMALY:
                for p in c.parents:
                    if p.kind != "constant":  # a constant's gradient is never used
                        _check_finite(p, p.grad, f"gradient (sent by {c.describe()})")
        self._leaf_grads_to_shape()


# --- opt-in anomaly detection, named after torch.autograd.detect_anomaly ----------------------

_ANOMALY = False


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Inside this block, building a node, ``Graph.forward`` and ``Graph.backward`` stop at the
    first node whose value or gradient is not finite and raise ``FloatingPointError`` naming it."""
    global _ANOMALY
    old, _ANOMALY = _ANOMALY, True
    try:
        yield
    finally:
        _ANOMALY = old


def _check_finite(node: Node, x, what: str) -> None:
    if x is None or (type(x) is int):
        return
    if not np.all(np.isfinite(x)):
        bad = np.asarray(x)
        first = np.argwhere(~np.isfinite(bad))[0] if bad.ndim else ()
        where = f" at index {tuple(int(i) for i in first)}" if bad.ndim else ""
        parents = ", ".join(f"{p.label} {np.shape(p.value)}" for p in node.parents)
        raise FloatingPointError(f"{node.describe()}: {what} is not finite{where}"
                                 + (f"; parents: {parents}" if parents else ""))
