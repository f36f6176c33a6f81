"""Shared checks for the engine tests: the same computation in dagprop, in torch.autograd and by
central differences, compared in float64."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import strategies as st

import dagprop as dp

# float64 everywhere. dagprop and torch evaluate the same formulas, so values and gradients agree
# to a few ulps; central differences (eps 1e-6) are accurate to about 1e-9 relative on these
# smooth functions, so 1e-5 / 1e-6 leaves room without hiding a wrong derivative.
TORCH_RTOL, TORCH_ATOL = 1e-7, 1e-12
FD_EPS, FD_RTOL, FD_ATOL = 1e-6, 1e-5, 1e-6

seeds = st.integers(min_value=0, max_value=2**32 - 1)

# The example every chapter starts from. It must run exactly as written here
# (test_engine_graph runs it in-process, test_engine_without_torch in a subprocess without torch).
CONTRACT_EXAMPLE = '''
import numpy as np
import dagprop as dp

x = dp.Input(np.array([[0.5, -1.0]]), name="x")      # input node: value set by the user
t = dp.Input(np.array([[1.0]]), name="t")
W = dp.Param(np.array([[0.1], [-0.2]]), name="W")    # parameter node: updated by SGD
b = dp.Param(np.zeros(1), name="b")
p = dp.sigmoid(x @ W + b)        # compute nodes; values are computed as the nodes are built
L = dp.binary_cross_entropy(p, t)                    # scalar loss (mean over the batch)

g = dp.Graph(L)      # g.inputs, g.params, g.compute (topological order, found without recursion)
g.forward()          # for c in g.compute: c.forward()
g.backward(L)        # zero every grad; L.grad = 1; for c in reversed(g.compute): c.backward()
g.sgd(0.1)           # for w in g.params: w.value -= 0.1 * w.grad
x.value = np.array([[2.0, 0.0]])
g.forward()          # the same graph re-runs on new input values
'''


def central_differences(f, arrays: list[np.ndarray], eps: float = FD_EPS) -> list[np.ndarray]:
    """d f / d arrays[i] for a scalar function ``f(list of arrays)``, one element at a time."""
    arrays = [np.array(a, dtype=np.float64, copy=True) for a in arrays]
    grads = []
    for a in arrays:
        grad = np.zeros_like(a)
        for idx in np.ndindex(*a.shape):
            old = a[idx]
            a[idx] = old + eps
            up = f(arrays)
            a[idx] = old - eps
            down = f(arrays)
            a[idx] = old
            grad[idx] = (up - down) / (2 * eps)
        grads.append(grad)
    return grads


def vjp_objective(build, v):
    """The scalar sum(v * build(...)) as a function of plain arrays, on a freshly built graph."""
    def f(arrays):
        out = build(*[dp.Param(a.copy()) for a in arrays])
        return float(np.sum(np.asarray(v) * np.asarray(out.value)))
    return f


def check_against_torch_and_differences(build, torch_fn, *arrays, seed: int = 0):
    """Build ``build(*params)`` in dagprop and ``torch_fn(*tensors)`` in torch on the same float64
    arrays, backpropagate the same random ``v`` (the plain seed 1 for a scalar output), and check
    values and gradients against torch and against central differences.

    Returns the dagprop output node and the parameter leaves, for further checks.
    """
    rng = np.random.default_rng(seed)
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    leaves = [dp.Param(a.copy(), name=f"a{i}") for i, a in enumerate(arrays)]
    out = build(*leaves)
    shape = np.shape(out.value)
    v = rng.standard_normal(shape) if shape else None

    g = dp.Graph(out)
    g.backward(out, v)

    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    tout = torch_fn(*tensors)
    tout.backward(None if v is None else torch.tensor(v))

    np.testing.assert_allclose(out.value, tout.detach().numpy(), rtol=TORCH_RTOL,
                               atol=TORCH_ATOL, err_msg="value differs from torch")
    for leaf, t in zip(leaves, tensors):
        assert np.shape(leaf.grad) == np.shape(leaf.value), "gradient must have the leaf's shape"
        expected = np.zeros(t.shape) if t.grad is None else t.grad.numpy()
        np.testing.assert_allclose(leaf.grad, expected, rtol=TORCH_RTOL, atol=TORCH_ATOL,
                                   err_msg=f"gradient of {leaf.name} differs from torch")

    numeric = central_differences(vjp_objective(build, 1.0 if v is None else v), arrays)
    for leaf, num in zip(leaves, numeric):
        np.testing.assert_allclose(leaf.grad, num, rtol=FD_RTOL, atol=FD_ATOL,
                                   err_msg=f"gradient of {leaf.name} differs from central "
                                           "differences")
    return out, leaves


def away_from_zero(rng, shape, low=0.2, high=2.0):
    """Random numbers with |x| in [low, high] and random signs (for kinks and poles at 0)."""
    return rng.uniform(low, high, shape) * rng.choice([-1.0, 1.0], shape)
