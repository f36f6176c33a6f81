"""The nodes of a computational DAG.

A graph has three kinds of node, as in the course text:

* ``Input``: a leaf whose value the user sets (data, targets);
* ``Param``: a leaf that ``Graph.sgd`` updates (weights and biases);
* ``Compute``: a node whose value is a function of its parents' values.

A fourth kind, ``Constant``, wraps a Python number or numpy array used as an operand (the ``2`` in
``2 * x``); it never receives a gradient. Every node has ``.value``, ``.grad`` and ``.name``. A
compute node's ``.forward()`` computes its value from its parents' values; its ``.backward()`` adds
(local gradient x its own gradient) into each parent's ``.grad``. Nodes point to their parents
only, never to their children or to themselves, so a graph holds no reference cycle and is freed
by reference counting as soon as it is dropped.
"""

from __future__ import annotations

import numpy as np

from .anomaly import anomaly_enabled, check_finite

__all__ = ["Node", "Input", "Param", "Constant", "Compute", "as_value", "unreached", "zeros_like"]


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


def zeros_like(value):
    """A zero gradient for ``value``: 0.0 for a Python float, else zeros of its shape and dtype
    (never ``0 * value``, which is NaN where the value is infinite or NaN)."""
    if type(value) is float:
        return 0.0
    z = np.zeros_like(value)
    return z if isinstance(value, np.ndarray) else z[()]


def unreached(node) -> bool:
    """True while ``node.grad`` is still the integer 0 that a backward pass starts it at: no
    gradient has reached the node, so its ``backward`` has nothing to send."""
    g = node.grad
    return type(g) is int and g == 0


class Node:
    """A node of the DAG. Subclasses: ``Input``, ``Param``, ``Constant``, ``Compute``."""

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
        return str(self.name) if self.name is not None and self.name != "" else self.op

    def describe(self) -> str:
        """How error messages name this node: ``node 'h1' (op relu)``."""
        named = self.name is not None and self.name != ""
        return f"node {self.label!r} (op {self.op})" if named else f"node of op {self.op!r}"

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
    """A Python number or numpy array used as an operand; wrapped so it can sit in the graph.

    A constant gets no gradient: ``.grad`` always reads 0, and what an op sends it is dropped.
    """

    __slots__ = ()
    kind = "constant"
    op = "const"

    @property
    def grad(self):
        return 0

    @grad.setter
    def grad(self, g):
        pass

    @property
    def label(self) -> str:
        if self.name is not None and self.name != "":
            return str(self.name)
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

    A subclass sets ``op`` and defines ``check`` (validate the parents' shapes when the node is
    built and whenever a leaf of its graph changes shape; raise ``ValueError`` naming op and
    shapes), ``forward`` and ``backward``. ``forward`` and ``backward`` read the shapes they need
    from the values at hand, so calling them by hand after a shape change is right too. The value
    is computed as soon as the node is built, so mistakes surface at the line that made them.

    ``no_grad_to`` lists the positions of parents the op never sends a gradient to (the integer
    labels of ``cross_entropy``), so a backward pass can skip what lies only below them.
    """

    __slots__ = ()
    kind = "compute"
    no_grad_to: tuple = ()

    def __init__(self, *parents: Node, name: str | None = None):
        self.name = name
        self.parents = parents
        self.grad = None
        self.check()
        self.forward()
        if anomaly_enabled():
            check_finite(self, self.value, "value")

    def check(self) -> None:
        """Validate the parents' shapes. The default accepts anything."""

    def forward(self) -> None:  # pragma: no cover - every op overrides it
        raise NotImplementedError

    def backward(self) -> None:  # pragma: no cover - every op overrides it
        raise NotImplementedError
