"""Random DAGs with fan-out and reused nodes, and small scalar expressions worked by hand:
gradients match torch.autograd and central differences."""

import math

import numpy as np
import pytest
import torch
from engine_helpers import (
    FD_ATOL,
    FD_RTOL,
    TORCH_ATOL,
    TORCH_RTOL,
    central_differences,
    seeds,
)
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import dagprop as dp

# --- random DAGs ------------------------------------------------------------------------------------
#
# A program is a list of steps; each step applies an op to nodes made earlier, picked by index, so
# the same node often feeds several children (fan-out) and sometimes both operands of one op
# (x * x, x + x). Every node that nothing else uses is summed into the loss. The same program runs
# on dagprop nodes, on torch tensors and on plain arrays (for central differences).

LEAF_SHAPES = [(2, 3), (3,), (1, 3), (2, 1), ()]
UNARY_OPS = ["tanh", "sigmoid", "neg", "square", "exp_tanh", "log_shifted", "mean_rows"]
BINARY_OPS = ["add", "sub", "mul", "div_shifted", "self_mul", "self_add"]

DP = {"tanh": dp.tanh, "sigmoid": dp.sigmoid, "exp": dp.exp, "log": dp.log, "sum": dp.sum,
      "mean0": lambda x: dp.mean(x, axis=0, keepdims=True)}
TORCH = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "exp": torch.exp, "log": torch.log,
         "sum": torch.sum, "mean0": lambda x: torch.mean(x, dim=0, keepdim=True)}


def run_program(program, leaves, lib):
    """Evaluate ``program`` on ``leaves`` with the functions in ``lib``; return (loss, nodes)."""
    nodes = list(leaves)
    used = set()
    for op, i, j in program:
        a, b = nodes[i], nodes[j]
        used.update((i, j))
        if op == "tanh":
            out = lib["tanh"](a)
        elif op == "sigmoid":
            out = lib["sigmoid"](a)
        elif op == "neg":
            out = -a
        elif op == "square":
            out = a ** 2
        elif op == "exp_tanh":
            out = lib["exp"](lib["tanh"](a))
        elif op == "log_shifted":
            out = lib["log"](1.5 + lib["tanh"](a))  # the argument stays in [0.5, 2.5]
        elif op == "mean_rows":
            out = lib["mean0"](a) if len(a.shape) == 2 else a * 0.5
        elif op == "add":
            out = a + b
        elif op == "sub":
            out = a - b
        elif op == "mul":
            out = a * b
        elif op == "div_shifted":
            out = a / (1.5 + lib["tanh"](b))  # the divisor stays in [0.5, 2.5]
        elif op == "self_mul":
            out = a * a
        elif op == "self_add":
            out = a + a
        nodes.append(out)
    return sum_of_sinks(nodes, used, lib), nodes


def sum_of_sinks(nodes, used, lib):
    """The loss: the sum of every node that no step used."""
    sinks = [n for k, n in enumerate(nodes) if k not in used]
    loss = lib["sum"](sinks[0])
    for s in sinks[1:]:
        loss = loss + lib["sum"](s)
    return loss


@st.composite
def programs(draw, leaf_shapes=LEAF_SHAPES, unary=UNARY_OPS, binary=BINARY_OPS, max_steps=10):
    """Leaf shapes and a list of steps (op, i, j) that apply ``op`` to earlier nodes i and j."""
    n_leaves = draw(st.integers(1, 3))
    shapes = [draw(st.sampled_from(leaf_shapes)) for _ in range(n_leaves)]
    program = []
    for k in range(draw(st.integers(1, max_steps))):
        n = n_leaves + k
        op = draw(st.sampled_from(unary + binary))
        i = draw(st.integers(0, n - 1))
        j = i if op in unary or op.startswith("self") else draw(st.integers(0, n - 1))
        program.append((op, i, j))
    return shapes, program


def check_program(prog, seed, run, dp_lib, torch_lib):
    """Run a drawn program on dagprop nodes and torch tensors from the same random leaves: every
    node has torch's shape, and loss and leaf gradients match torch and central differences."""
    shapes, program = prog
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(-1.5, 1.5, s) for s in shapes]

    leaves = [dp.Param(a.copy(), name=f"x{i}") for i, a in enumerate(arrays)]
    L, nodes = run(program, leaves, dp_lib)
    assume(all(np.all(np.abs(np.asarray(n.value)) < 1e3) for n in nodes))  # no runaway products
    dp.Graph(L).backward(L)

    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    tL, tnodes = run(program, tensors, torch_lib)
    tL.backward()
    for n, t in zip(nodes, tnodes):
        assert np.shape(n.value) == tuple(t.shape)
    assert float(L.value) == pytest.approx(tL.item(), rel=TORCH_RTOL, abs=TORCH_ATOL)
    for leaf, t in zip(leaves, tensors):
        expected = np.zeros(t.shape) if t.grad is None else t.grad.numpy()
        np.testing.assert_allclose(leaf.grad, expected, rtol=TORCH_RTOL, atol=1e-10)

    def f(arrs):
        return float(run(program, [dp.Param(a.copy()) for a in arrs], dp_lib)[0].value)

    for leaf, num in zip(leaves, central_differences(f, arrays)):
        np.testing.assert_allclose(leaf.grad, num, rtol=FD_RTOL, atol=FD_ATOL * 10)


@settings(max_examples=60)
@given(prog=programs(), seed=seeds)
def test_random_dag_gradients_match_torch_and_central_differences(prog, seed):
    check_program(prog, seed, run_program, DP, TORCH)


@given(prog=programs(), seed=seeds)
def test_random_dag_passes_gradcheck_after_a_rerun_on_new_values(prog, seed):
    shapes, program = prog
    rng = np.random.default_rng(seed)
    leaves = [dp.Param(rng.uniform(-1.5, 1.5, s), name=f"x{i}") for i, s in enumerate(shapes)]
    L, nodes = run_program(program, leaves, DP)
    g = dp.Graph(L)
    for leaf in leaves:
        leaf.value = rng.uniform(-1.5, 1.5, np.shape(leaf.value))
    g.forward()
    assume(all(np.all(np.abs(np.asarray(n.value)) < 1e3) for n in nodes))
    assert dp.gradcheck(g, atol=1e-5 * max(1.0, abs(float(L.value)))).ok


# --- random DAGs that change shapes ---------------------------------------------------------------
#
# The same idea with reductions, softmax, matmul, transpose, reshape and indexing in the mix. An op
# that does not fit its operand's shape falls back to one that does, the same way in both
# libraries, so every drawn program is valid.

SHAPE_LEAVES = [(2, 3), (3,), (3, 2), (2,), (), (2, 2, 3)]
SHAPE_UNARY = ["tanh", "sigmoid", "square", "softmax", "log_softmax0", "sum0k", "mean_last",
               "sum01", "T", "flatten", "index", "slice"]
SHAPE_BINARY = ["add", "sub", "mul", "div_shifted", "matmul"]

DP_SHAPES = {
    "tanh": dp.tanh, "sigmoid": dp.sigmoid, "sum": dp.sum,
    "softmax": lambda a: dp.softmax(a, axis=-1),
    "log_softmax0": lambda a: dp.log_softmax(a, axis=0),
    "sum0k": lambda a: dp.sum(a, axis=0, keepdims=True),
    "mean_last": lambda a: dp.mean(a, axis=-1),
    "sum01": lambda a: dp.sum(a, axis=(0, 1)),
    "index": lambda a: a[np.array([0, 0, -1])],  # repeated and negative indices
    "reverse_axes": lambda a: dp.transpose(a, (2, 1, 0)),
}
TORCH_SHAPES = {
    "tanh": torch.tanh, "sigmoid": torch.sigmoid, "sum": torch.sum,
    "softmax": lambda a: torch.softmax(a, dim=-1),
    "log_softmax0": lambda a: torch.log_softmax(a, dim=0),
    "sum0k": lambda a: torch.sum(a, dim=0, keepdim=True),
    "mean_last": lambda a: torch.mean(a, dim=-1),
    "sum01": lambda a: torch.sum(a, dim=(0, 1)),
    "index": lambda a: a[torch.tensor([0, 0, -1])],
    "reverse_axes": lambda a: a.permute(2, 1, 0),
}


def _broadcastable(sa, sb):
    try:
        np.broadcast_shapes(sa, sb)
        return True
    except ValueError:
        return False


def run_shape_program(program, leaves, lib):
    """Like ``run_program``, with shape-changing ops; returns (loss, nodes)."""
    nodes = list(leaves)
    used = set()
    for op, i, j in program:
        a, b = nodes[i], nodes[j]
        used.update((i, j))
        sa, sb = tuple(a.shape), tuple(b.shape)
        if op in ("softmax", "log_softmax0", "sum0k", "mean_last", "index", "slice") and not sa:
            op = "tanh"  # these need at least one axis
        if op in ("sum01", "T") and len(sa) < 2:
            op = "sigmoid"
        if op == "slice" and sa[0] < 2:
            op = "square"
        if op in ("add", "sub", "mul", "div_shifted") and not _broadcastable(sa, sb):
            b = lib["sum"](b)  # a scalar broadcasts against anything
        if op in ("tanh", "sigmoid", "softmax", "log_softmax0", "sum0k", "mean_last", "sum01",
                  "index"):
            out = lib[op](a)
        elif op == "square":
            out = a * a
        elif op == "T":
            out = a.T if len(sa) == 2 else lib["reverse_axes"](a)
        elif op == "flatten":
            out = a.reshape(-1)
        elif op == "slice":
            out = a[1:]
        elif op == "add":
            out = a + b
        elif op == "sub":
            out = a - b
        elif op == "mul":
            out = a * b
        elif op == "div_shifted":
            out = a / (1.5 + lib["tanh"](b))
        elif op == "matmul":
            if len(sa) >= 1 and len(sb) >= 1 and sa[-1] == (sb[0] if len(sb) == 1 else sb[-2]):
                out = a @ b
            elif len(sa) >= 1:  # a vector made from a itself always fits; b is still used
                out = a @ lib["tanh"](a.reshape(-1))[: sa[-1]] + lib["sum"](b)
            else:
                out = a * b
        nodes.append(out)
    return sum_of_sinks(nodes, used, lib), nodes


def shape_programs():
    return programs(SHAPE_LEAVES, SHAPE_UNARY, SHAPE_BINARY, max_steps=8)


@settings(max_examples=60)
@given(prog=shape_programs(), seed=seeds)
def test_random_dag_with_shape_changing_ops_matches_torch_and_central_differences(prog, seed):
    check_program(prog, seed, run_shape_program, DP_SHAPES, TORCH_SHAPES)


# --- reuse, by hand -----------------------------------------------------------------------------------

def _grad(L, *leaves):
    dp.Graph(L).backward(L)
    return [leaf.grad for leaf in leaves]


def test_x_times_x_counts_both_operands():
    x = dp.Param(np.array([1.5, -2.0]))
    (gx,) = _grad(dp.sum(x * x), x)
    np.testing.assert_array_equal(gx, 2 * x.value)


def test_x_plus_x_counts_both_operands():
    x = dp.Param(np.array([1.5, -2.0]))
    (gx,) = _grad(dp.sum(x + x), x)
    np.testing.assert_array_equal(gx, [2.0, 2.0])


def test_node_with_three_children_sums_their_gradients():
    x = dp.Param(0.7, name="x")
    h = dp.tanh(x, name="h")
    L = h * 2.0 + dp.exp(h) + h * h  # h feeds three children
    (gx,) = _grad(L, x)
    th = math.tanh(0.7)
    assert gx == pytest.approx((2.0 + math.exp(th) + 2 * th) * (1 - th**2), rel=1e-14)


def test_diamond_sends_gradient_along_both_paths():
    #   x -> a = 3x, b = x^2 -> c = a * b  (so c = 3x^3 and dc/dx = 9x^2)
    x = dp.Param(-1.3, name="x")
    (gx,) = _grad((x * 3.0) * (x ** 2), x)
    assert gx == pytest.approx(9 * 1.3**2, rel=1e-14)


def test_gradient_flows_through_a_long_reused_ladder():
    # y_{k+1} = y_k * x + y_k: each rung uses y_k twice, and y_n = y_0 (1 + x)^n.
    x = dp.Param(0.1, name="x")
    y = dp.Param(2.0, name="y0")
    out = y
    for _ in range(30):
        out = out * x + out
    gx, gy = _grad(out, x, y)
    assert out.value == pytest.approx(2.0 * 1.1**30, rel=1e-13)
    assert gx == pytest.approx(2.0 * 30 * 1.1**29, rel=1e-13)
    assert gy == pytest.approx(1.1**30, rel=1e-13)


# --- scalar expressions worked by hand ---------------------------------------------------------------

def test_product_and_square_expression():
    # e = (a b + a^2) b = a b^2 + a^2 b, so de/da = b^2 + 2ab and de/db = 2ab + a^2.
    a, b = dp.Param(3.0, name="a"), dp.Param(-2.0, name="b")
    e = (a * b + a ** 2) * b
    ga, gb = _grad(e, a, b)
    assert e.value == -6.0
    assert (ga, gb) == (-8.0, -3.0)


def test_single_tanh_neuron_expression():
    x1, x2 = dp.Input(1.0, name="x1"), dp.Input(-2.0, name="x2")
    w1, w2, bias = dp.Param(0.5, name="w1"), dp.Param(0.25, name="w2"), dp.Param(0.3, name="bias")
    o = dp.tanh(x1 * w1 + x2 * w2 + bias)
    gw1, gw2, gb, gx1, gx2 = _grad(o, w1, w2, bias, x1, x2)
    slope = 1 - math.tanh(0.3) ** 2  # n = 0.5 - 0.5 + 0.3
    assert o.value == pytest.approx(math.tanh(0.3), rel=1e-15)
    assert gw1 == pytest.approx(slope * 1.0) and gw2 == pytest.approx(slope * -2.0)
    assert gb == pytest.approx(slope) and gx1 == pytest.approx(slope * 0.5)
    assert gx2 == pytest.approx(slope * 0.25)


def test_quotient_and_exponential_expression():
    # f = (a + 2) / (b^2 + 1) - e^(a/2): df/da = 1/(b^2+1) - e^(a/2)/2, df/db = -2b(a+2)/(b^2+1)^2.
    a, b = dp.Param(1.0, name="a"), dp.Param(2.0, name="b")
    f = (a + 2) / (b * b + 1) - dp.exp(a * 0.5)
    ga, gb = _grad(f, a, b)
    assert f.value == pytest.approx(0.6 - math.exp(0.5), rel=1e-15)
    assert ga == pytest.approx(0.2 - 0.5 * math.exp(0.5), rel=1e-14)
    assert gb == pytest.approx(-12 / 25, rel=1e-14)
    assert dp.gradcheck(f).ok  # central differences on Python-float leaves
    assert type(a.value) is float and type(a.grad) is float


def test_numbers_on_the_left_of_an_operator():
    a = dp.Param(4.0, name="a")
    f = 1 - a + 2 / a - (-a) + 3 * a
    (ga,) = _grad(f, a)
    # f = 1 - a + 2/a + a + 3a, f' = -1 - 2/a^2 + 1 + 3
    assert f.value == pytest.approx(1 - 4 + 0.5 + 4 + 12)
    assert ga == pytest.approx(3 - 2 / 16)


def test_sigmoid_and_relu_expression_matches_torch():
    vals = {"a": 0.8, "b": -1.7, "c": 0.4}
    leaves = {k: dp.Param(v, name=k) for k, v in vals.items()}
    a, b, c = leaves.values()
    u = dp.sigmoid(a * b) * c
    f = dp.relu(u + a) * dp.log(c + u * u + 1) + (u / a) ** 3
    dp.Graph(f).backward(f)

    ta, tb, tc = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in vals.values())
    tu = torch.sigmoid(ta * tb) * tc
    tf = torch.relu(tu + ta) * torch.log(tc + tu * tu + 1) + (tu / ta) ** 3
    tf.backward()
    assert f.value == pytest.approx(tf.item(), rel=TORCH_RTOL)
    for leaf, t in zip((a, b, c), (ta, tb, tc)):
        assert leaf.grad == pytest.approx(t.grad.item(), rel=TORCH_RTOL, abs=TORCH_ATOL)


@pytest.mark.parametrize("name", dp.examples.__all__)
def test_the_course_example_graphs_pass_gradcheck(name):
    g, _ = getattr(dp.examples, name)()
    report = dp.gradcheck(g)
    assert report.ok and report.checked >= len(g.params)
