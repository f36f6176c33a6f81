"""The three loops of backpropagation: ``Graph.forward``, ``Graph.backward`` and ``Graph.sgd``.

A ``Graph`` sorts the DAG above its output nodes into ``inputs``, ``constants``, ``params`` and
``compute`` (topological order). The loops are the course's pseudocode; everything else a real
engine must do (re-check shapes after a leaf changed shape, anomaly detection, a loss that is an
inner node, leaves that no gradient reaches) lives in the helpers below them.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable

import numpy as np

from .anomaly import anomaly_enabled, check_finite, detect_anomaly
from .nodes import Compute, Constant, Input, Node, Param, as_value, unreached, zeros_like

__all__ = [
    "Node", "Input", "Param", "Constant", "Compute", "Graph",
    "topological_order", "detect_anomaly", "as_value", "unreached",
]

# How many loss nodes' lists of compute nodes a Graph keeps for backward(loss) (see _below).
BELOW_CACHE_SIZE = 8


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
    """The DAG above one or more output nodes, sorted into ``inputs`` (what the user made),
    ``constants`` (numbers used as operands), ``params`` and ``compute``.

    ``compute`` is in topological order (every node after its parents), so the forward pass is one
    loop over it and the backward pass one loop over it in reverse. Building a Graph runs one
    forward pass that checks every node, so values are current and shapes valid from the start.
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
        self.inputs = [n for n in order if isinstance(n, Input) and not isinstance(n, Constant)]
        self.constants = [n for n in order if isinstance(n, Constant)]
        self.params = [n for n in order if isinstance(n, Param)]
        self.compute = [n for n in order if isinstance(n, Compute)]
        self._leaves = self.inputs + self.params + self.constants
        self._graded = self.params + self.inputs
        self._shapes = None  # leaf shapes at the last forward pass that checked every node
        self._ids = None     # ids of all nodes, built the first time backward gets a non-output
        self._below = {}     # id(loss) -> compute nodes a gradient from loss reaches (see _below)
        self._all_reached = len(outputs) == 1 and not any(c.no_grad_to for c in self.compute)
        self.forward()

    def __repr__(self):
        k = len(self.constants)
        consts = f"{k} constant{'s' * (k != 1)}, " if k else ""
        return (f"Graph({len(self.inputs)} inputs, {consts}{len(self.params)} params, "
                f"{len(self.compute)} compute nodes)")

    @property
    def nodes(self) -> list[Node]:
        return self.inputs + self.constants + self.params + self.compute

    # --- the three loops ------------------------------------------------------------------------

    def forward(self) -> None:
        """Forward(): every compute node's value from its parents', in topological order.

        ``_forward_order()`` is ``compute``; after a leaf changed shape, and inside
        ``detect_anomaly()``, it also checks each node's operands and value as the loop goes.
        """
        for c in self._forward_order():
            c.forward()

    def backward(self, loss: Node, v=None) -> None:
        """Backward(loss): zero every gradient, seed ``loss.grad``, then backpropagate.

        ``v`` seeds a non-scalar output, so the leaves receive the vector-Jacobian product
        ``v^T (d loss / d leaf)``, as torch's ``loss.backward(v)`` does. ``_backward_order(loss)``
        is ``compute`` reversed, without the nodes no gradient from ``loss`` can reach.
        """
        seed = self._seed(loss, v)  # checked before anything changes: a failed call changes nothing
        for c in self.compute:
            c.grad = 0
        for c in self.params:
            c.grad = 0
        for c in self.inputs:
            c.grad = 0
        loss.grad = seed

        for c in self._backward_order(loss):
            c.backward()
        self._leaf_grads_to_shape()

    def sgd(self, eta: float) -> None:
        """SGD(eta): one gradient-descent step on every parameter."""
        eta = _step_size(eta)  # a Python float, so a float32 parameter stays float32
        for w in self.params:
            w.value -= eta * w.grad

    def zero_grad(self) -> None:
        """Set every gradient to zero of its node's shape (``backward`` already starts from zero)."""
        for c in self.inputs + self.params + self.compute:
            c.grad = zeros_like(c.value)

    # --- what the loops need besides the pseudocode ---------------------------------------------

    def _leaf_shapes(self) -> list:
        # A Python float has no .shape; None stands for it (getattr is much faster than np.shape).
        return [getattr(x.value, "shape", None) for x in self._leaves]

    def _forward_order(self):
        shapes = self._leaf_shapes()
        if shapes == self._shapes and not anomaly_enabled():
            return self.compute
        return self._checked_forward(shapes, anomaly_enabled())

    def _checked_forward(self, shapes, anomaly: bool):
        # Each node's operands are validated before the loop runs its forward, so a wrong shape is
        # reported at the node it breaks; with anomaly detection, each value is checked after.
        # The graph counts as checked only once every node has passed: after a failure, the next
        # forward checks everything again.
        self._shapes = None
        for c in self.compute:
            c.check()
            yield c
            if anomaly:
                check_finite(c, c.value, "value")
        self._shapes = shapes

    def _seed(self, loss: Node, v):
        # The checks of backward, and the gradient of loss with respect to itself: 1, or v.
        if not any(loss is out for out in self.outputs):
            if self._ids is None:
                self._ids = {id(n) for n in self.nodes}
            if id(loss) not in self._ids:
                raise ValueError(f"backward: {loss.describe()} is not a node of this graph")
        self._check_values_are_current()
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

    def _check_values_are_current(self):
        # Values computed for other leaf shapes would give gradients of the wrong shape.
        if self._shapes is None:
            raise ValueError("backward: the last forward pass failed, so the values are not "
                             "current; fix the error and call forward() first")
        shapes = self._leaf_shapes()
        if shapes != self._shapes:
            k = next(i for i, (a, b) in enumerate(zip(shapes, self._shapes)) if a != b)
            def show(s):
                return "()" if s is None else str(s)
            raise ValueError(
                f"backward: {self._leaves[k].describe()} changed shape from "
                f"{show(self._shapes[k])} to {show(shapes[k])} since the last forward pass; "
                "call forward() first")

    def _backward_order(self, loss: Node):
        below = self._below_of(loss)
        if anomaly_enabled():
            return _checked_backward(below)
        return reversed(below)

    def _below_of(self, loss: Node) -> list[Compute]:
        # The compute nodes that a gradient from loss reaches, in topological order: all of
        # `compute` for the usual single loss (the same list, no copy), fewer for an inner node,
        # one output of several, or a graph with nodes that only feed integer labels. Kept for
        # the last BELOW_CACHE_SIZE loss nodes, so backward(node, v) over many nodes stays bounded.
        if self._all_reached and loss is self.outputs[0]:
            return self.compute  # the usual case, known without a search
        key = id(loss)
        below = self._below.pop(key, None)
        if below is None:
            below = self._reached_from(loss)
            while len(self._below) >= BELOW_CACHE_SIZE:
                del self._below[next(iter(self._below))]  # the least recently used
        self._below[key] = below
        return below

    def _reached_from(self, loss: Node) -> list[Compute]:
        reached = {id(loss)}
        below = []
        for c in reversed(self.compute):
            if id(c) in reached:
                below.append(c)
                skip = c.no_grad_to
                reached.update(id(p) for i, p in enumerate(c.parents) if i not in skip)
        if len(below) == len(self.compute):
            return self.compute
        below.reverse()
        return below

    def _leaf_grads_to_shape(self):
        # A leaf that no gradient reached still holds the integer 0: give it zeros of its value's
        # shape. A Python-float leaf gets a Python-float gradient (broadcasting may have made it
        # a 0-d array), so SGD keeps its value a Python float.
        for c in self._graded:  # params + inputs
            g = c.grad
            if type(g) is int and g == 0:  # unreached(c), inlined: there may be many leaves
                c.grad = zeros_like(c.value)
            elif type(c.value) is float:
                c.grad = float(g)


def _checked_backward(below):
    # detect_anomaly: after each node's backward (run by the loop), check what it sent.
    for c in reversed(below):
        yield c
        for p in c.parents:
            if p.kind != "constant":  # a constant keeps no gradient
                check_finite(p, p.grad, f"gradient (sent by {c.describe()})")


def _step_size(eta) -> float:
    if type(eta) is float:
        return eta
    if isinstance(eta, np.ndarray) and eta.ndim == 0:
        eta = eta[()]
    if not isinstance(eta, numbers.Real) or isinstance(eta, bool):
        raise TypeError(f"sgd: the step size eta must be a number, got {type(eta).__name__}")
    return float(eta)
