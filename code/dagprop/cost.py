"""Count the work of a training step instead of timing it: multiply-adds per node, from shapes.

    import dagprop as dp
    g = dp.Graph(loss)
    dp.cost.count(g)
    # {'nodes': V, 'edges': E, 'params': ..., 'values': ...,
    #  'forward_macs': ..., 'backward_macs': ..., 'sgd_macs': ...}

The counting model (chapter 2 explains it):

* ``A @ B`` with ``A`` of shape (n, k) and ``B`` of shape (k, m) costs n*k*m multiply-adds forward.
  Backward forms two products of the same size, ``G @ B.T`` for ``A`` and ``A.T @ G`` for ``B``:
  2*n*k*m. Stacked (batched) products multiply both by the number of matrices in the stack.
* Every other operation costs one operation per element of its largest operand forward (a sum,
  a product, a tanh each count as one), and backward one multiply-add per element for each edge
  along which it sends a gradient (``parent.grad += grad * local``); edges to parents that get
  no gradient (``no_grad_to``, such as integer class labels) cost nothing backward.
* SGD costs one multiply-add per parameter element.

Counts depend only on the shapes stored in the nodes, so they are the same on every machine.
"""

from __future__ import annotations

import math

import numpy as np

from .graph import Graph
from .nodes import Node

__all__ = ["count", "node_macs"]


def _matmul_macs(sa: tuple, sb: tuple) -> int:
    """Multiply-adds of one ``a @ b`` (numpy's rules: 1-D operands are promoted, batch axes
    broadcast)."""
    a2 = (1,) + sa if len(sa) == 1 else sa
    b2 = sb + (1,) if len(sb) == 1 else sb
    n, k = a2[-2], a2[-1]
    m = b2[-1]
    batch = math.prod(np.broadcast_shapes(a2[:-2], b2[:-2]))
    return batch * n * k * m


def node_macs(node: Node) -> tuple[int, int]:
    """``(forward, backward)`` multiply-adds of one compute node, from its operands' shapes.

    A leaf (input or parameter) does no work: ``(0, 0)``.
    """
    if not node.parents:
        return 0, 0
    if node.op == "matmul":
        a, b = node.parents
        f = _matmul_macs(np.shape(a.value), np.shape(b.value))
        return f, 2 * f
    out = int(np.size(node.value))
    sizes = [int(np.size(p.value)) for p in node.parents]
    forward = max([out] + sizes)
    # No gradient is sent to the parents the op skips (integer class labels, for instance).
    backward = sum(max(out, s) for i, s in enumerate(sizes) if i not in node.no_grad_to)
    return forward, backward


def count(graph: Graph | Node) -> dict:
    """The work of one forward pass, one backward pass and one SGD step of ``graph``.

    Returns a dict with
    ``nodes`` (V), ``edges`` (E, one per parent of every compute node),
    ``params`` (number of parameter elements), ``values`` (numbers stored by the forward pass,
    one per element of every node's value), ``forward_macs``, ``backward_macs`` and ``sgd_macs``.
    """
    if isinstance(graph, Node):
        graph = Graph(graph)
    if not isinstance(graph, Graph):
        raise TypeError(f"count expects a dp.Graph or a node, got {type(graph).__name__}")
    forward = backward = 0
    for c in graph.compute:
        f, b = node_macs(c)
        forward += f
        backward += b
    params = sum(int(np.size(p.value)) for p in graph.params)
    return dict(
        nodes=len(graph.nodes),
        edges=sum(len(c.parents) for c in graph.compute),
        params=params,
        values=sum(int(np.size(n.value)) for n in graph.nodes),
        forward_macs=forward,
        backward_macs=backward,
        sgd_macs=params,
    )
