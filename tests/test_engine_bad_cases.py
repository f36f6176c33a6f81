"""Issue 10, crashes and wrong results: each case gave a crash or a wrong number before the fix.

Unreached nodes, shapes that change, the tails of the sigmoid, gradcheck on bad gradients, float32
through Python-float leaves, NaN, and checks that ran only when the graph was built.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from engine_helpers import TORCH_ATOL, TORCH_RTOL, seeds
from hypothesis import given, settings
from test_engine_dags import DP_SHAPES, run_shape_program, shape_programs

import dagprop as dp
from dagprop import ops

pytestmark = pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")


def manual_backward(g, loss, seed=1):
    """Backward as chapter 2 teaches it: every grad = 0, loss.grad = 1, each backward() in reverse."""
    for c in g.nodes:
        c.grad = 0
    loss.grad = seed
    for c in reversed(g.compute):
        c.backward()


# --- 1. nodes that no gradient reaches ------------------------------------------------------------

def _labels_through_an_op():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((4, 3))
    lab = dp.Input(np.array([[0], [2], [1], [1]]), name="lab")
    z = dp.Param(logits, name="z")
    L = dp.cross_entropy(z, lab.reshape(-1))
    return L, z, lab, logits


def test_labels_made_by_an_op_get_no_gradient_and_the_logits_the_right_one():
    L, z, lab, logits = _labels_through_an_op()
    dp.Graph(L).backward(L)
    tz = torch.tensor(logits, requires_grad=True)
    F.cross_entropy(tz, torch.tensor([0, 2, 1, 1])).backward()
    np.testing.assert_allclose(z.grad, tz.grad.numpy(), rtol=TORCH_RTOL, atol=TORCH_ATOL)
    np.testing.assert_array_equal(lab.grad, np.zeros((4, 1)))


def test_the_taught_loop_works_when_labels_are_made_by_an_op():
    L, z, lab, _ = _labels_through_an_op()
    g = dp.Graph(L)
    g.backward(L)
    expected = z.grad.copy()
    manual_backward(g, L)
    np.testing.assert_allclose(z.grad, expected, rtol=1e-15)


def test_the_taught_loop_works_below_an_output_it_does_not_start_from():
    rng = np.random.default_rng(1)
    x = dp.Param(rng.standard_normal((2, 3)), name="x")
    W = dp.Param(rng.standard_normal((3, 4)), name="W")
    side = dp.log_softmax(dp.transpose((x @ W).reshape(4, 2) + np.ones(2), (1, 0)), axis=0)
    side = dp.sum(dp.softmax(side, axis=-1) * np.ones((1, 4)), axis=1)
    L = dp.sum(x * x)
    g = dp.Graph(L, side)  # side's nodes get no gradient from L
    g.backward(L)
    manual_backward(g, L)
    np.testing.assert_allclose(x.grad, 2 * x.value, rtol=1e-15)
    assert np.all(W.grad == 0)  # nothing reached W


@settings(max_examples=30)
@given(prog=shape_programs(), seed=seeds)
def test_the_taught_loop_matches_backward_on_random_graphs_with_a_side_output(prog, seed):
    shapes, program = prog
    rng = np.random.default_rng(seed)
    leaves = [dp.Param(rng.uniform(-1.5, 1.5, s), name=f"x{i}") for i, s in enumerate(shapes)]
    side, nodes = run_shape_program(program, leaves, DP_SHAPES)
    L = dp.sum(leaves[0] * leaves[0])
    g = dp.Graph(L, side)
    g.backward(L)
    expected = [np.copy(p.grad) for p in leaves]
    manual_backward(g, L)
    for p, e in zip(leaves, expected):
        np.testing.assert_allclose(p.grad, e, rtol=1e-15)


UNARY = {
    "exp": dp.exp, "log": lambda a: dp.log(a * a + 1.0), "tanh": dp.tanh, "sigmoid": dp.sigmoid,
    "relu": dp.relu, "neg": lambda a: -a, "pow": lambda a: a ** 3, "sum": lambda a: dp.sum(a, 0),
    "mean": lambda a: dp.mean(a, axis=-1, keepdims=True), "softmax": dp.softmax,
    "log_softmax": lambda a: dp.log_softmax(a, axis=0), "index": lambda a: a[np.array([1, 1])],
    "transpose": lambda a: dp.transpose(a, (1, 0)), "reshape": lambda a: a.reshape(3, 2),
    "matmul": lambda a: a @ np.ones((3, 2)), "add_bcast": lambda a: a + np.ones(3),
    "sub_bcast": lambda a: np.ones((1, 3)) - a, "mul_bcast": lambda a: a * np.ones((4, 1, 3)),
    "div_bcast": lambda a: 2.0 / (a * a + 1.0), "power": lambda a: 2.0 ** a,
    "mse": lambda a: dp.mse_loss(a, np.zeros((2, 3))),
    "bce": lambda a: dp.binary_cross_entropy(dp.sigmoid(a), np.ones((2, 3))),
    "ce": lambda a: dp.cross_entropy(a, np.array([0, 2])),
}


@pytest.mark.parametrize("name", list(UNARY))
def test_every_op_sends_nothing_from_a_gradient_that_is_still_the_integer_zero(name):
    a = dp.Param(np.array([[0.5, -1.0, 2.0], [0.1, 0.3, -0.2]]), name="a")
    out = UNARY[name](a)
    for c in dp.Graph(out).nodes:
        c.grad = 0
    for c in reversed(dp.Graph(out).compute):
        c.backward()  # every node's gradient is the integer 0: no op may fail on it
    assert np.all(np.asarray(a.grad) == 0) and np.shape(a.grad) in ((), (2, 3))


# --- 2. shapes that change ------------------------------------------------------------------------

def test_a_shape_change_before_the_graph_is_built_gives_gradients_of_the_right_shape():
    x = dp.Input(np.ones((1, 3)), name="x")
    b = dp.Param(np.ones((1, 3)), name="b")
    L = dp.sum(x + b)
    x.value = np.ones((2, 3))
    g = dp.Graph(L)
    g.forward()
    g.backward(L)
    np.testing.assert_array_equal(b.grad, [[2.0, 2.0, 2.0]])
    g.sgd(0.5)
    np.testing.assert_array_equal(b.value, [[0.0, 0.0, 0.0]])


def test_a_rank_change_before_the_graph_is_built_reduces_over_the_new_axes():
    x = dp.Param(np.ones(3), name="x")
    L = dp.sum(dp.sum(x, axis=-1) * 2.0)
    x.value = np.ones((2, 3))
    g = dp.Graph(L)
    g.backward(L)
    assert L.value == 12.0
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 2.0))


def test_an_incompatible_shape_before_the_graph_is_built_names_the_op():
    x = dp.Input(np.ones((1, 3)), name="x")
    b = dp.Param(np.ones((1, 3)), name="b")
    L = dp.sum(x + b)
    x.value = np.ones(4)
    with pytest.raises(ValueError, match=r"add: shapes \(4,\) \(x\) and \(1, 3\) \(b\)"):
        dp.Graph(L).forward()


def test_after_a_forward_that_failed_the_right_shape_works_again():
    x = dp.Input(np.ones((2, 3)), name="x")
    W = dp.Param(np.ones((3, 1)), name="W")
    b = dp.Param(np.zeros((1, 1)), name="b")
    L = dp.sum(dp.tanh(x * 2.0 + 1.0) @ W + b)
    g = dp.Graph(L)
    x.value = np.ones((2, 4))
    with pytest.raises(ValueError, match="matmul"):
        g.forward()
    with pytest.raises(ValueError, match="forward"):
        g.backward(L)  # values are not current: a clear error, not numpy's
    x.value = np.ones((2, 3))
    g.forward()
    g.backward(L)
    np.testing.assert_allclose(b.grad, [[2.0]])
    np.testing.assert_allclose(W.grad, np.full((3, 1), 2 * np.tanh(3.0)))


def test_a_param_that_changes_shape_is_checked_again_and_gets_gradients_of_its_shape():
    x = dp.Input(np.ones((2, 3)), name="x")
    b = dp.Param(np.zeros(3), name="b")
    L = dp.sum(x * b)
    g = dp.Graph(L)
    b.value = np.zeros((1, 1))
    g.forward()
    g.backward(L)
    np.testing.assert_array_equal(b.grad, [[6.0]])
    b.value = np.zeros(5)
    with pytest.raises(ValueError, match=r"mul: shapes \(2, 3\) \(x\) and \(5,\) \(b\)"):
        g.forward()


def test_backward_after_a_shape_change_without_forward_says_to_run_forward():
    x = dp.Input(np.ones((1, 3)), name="x")
    L = dp.sum(x * 2.0)
    g = dp.Graph(L)
    x.value = np.ones((2, 3))
    with pytest.raises(ValueError, match=r"node 'x' \(op input\) changed shape from \(1, 3\) to "
                                         r"\(2, 3\) since the last forward pass; call forward"):
        g.backward(L)


def test_a_node_run_by_hand_after_a_reshape_sends_gradients_of_the_new_shapes():
    x = dp.Input(np.ones((1, 3)), name="x")
    b = dp.Param(np.ones((1, 3)), name="b")
    s = x + b
    m = dp.mean(s, axis=0)
    x.value = np.ones((2, 3))
    s.forward()
    m.forward()
    m.grad = np.ones(3)
    s.grad, x.grad, b.grad = 0, 0, 0
    m.backward()
    s.backward()
    np.testing.assert_array_equal(s.grad, np.full((2, 3), 0.5))
    np.testing.assert_array_equal(b.grad, [[1.0, 1.0, 1.0]])
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 0.5))


# --- 3. the sigmoid's tails -----------------------------------------------------------------------

@pytest.mark.parametrize("dtype,lo,hi", [(np.float64, -700, 700), (np.float32, -87, 88)])
def test_sigmoid_is_accurate_on_both_tails(dtype, lo, hi):
    x = np.linspace(lo, hi, 20001).astype(dtype)
    ours = dp.sigmoid(dp.Input(x)).value
    theirs = torch.sigmoid(torch.from_numpy(x)).numpy()
    assert ours.dtype == dtype
    eps = np.finfo(dtype).eps
    rel = np.abs(ours.astype(float) - theirs) / theirs
    assert rel.max() <= 4 * eps, (x[np.argmax(rel)], rel.max())
    # and the complement 1 - sigmoid(x) = sigmoid(-x), which the gradient uses
    _, ours_neg = ops.sigmoid_pair(x)
    theirs_neg = torch.sigmoid(-torch.from_numpy(x)).numpy()
    rel = np.abs(ours_neg.astype(float) - theirs_neg) / theirs_neg
    assert rel.max() <= 4 * eps


def test_scalar_sigmoid_is_accurate_on_both_tails():
    for v in (-700.0, -38.0, -30.0, 0.0, 30.0, 700.0):
        ref = torch.sigmoid(torch.tensor(v, dtype=torch.float64)).item()
        assert dp.sigmoid(dp.Input(v)).value == pytest.approx(ref, rel=1e-15, abs=0)
    assert np.isnan(dp.sigmoid(dp.Input(float("nan"))).value)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x,t", [(-20.0, 1.0), (20.0, 0.0), (-40.0, 1.0), (40.0, 0.0),
                                 (-80.0, 1.0), (80.0, 0.0), (-3.0, 1.0), (2.0, 0.3)])
def test_bce_of_a_sigmoid_keeps_learning_when_confidently_wrong(dtype, x, t):
    xs = np.array([x, -x * 0.5, 0.25], dtype=dtype)
    ts = np.array([t, t, 1.0], dtype=dtype)
    xn = dp.Param(xs, name="x")
    L = dp.binary_cross_entropy(dp.sigmoid(xn), ts)
    dp.Graph(L).backward(L)
    tx, tt = torch.tensor(xs.astype(np.float64)), torch.tensor(ts.astype(np.float64))
    ref = F.binary_cross_entropy_with_logits(tx, tt)
    # d/dx = (sigmoid(x) - t) / N, written so that it does not cancel (torch's sigmoid(x) - t
    # loses digits where sigmoid(x) is near 1)
    grad = ((1 - tt) * torch.sigmoid(tx) - tt * torch.sigmoid(-tx)).numpy() / 3
    tol = 10 * float(np.finfo(dtype).eps)
    assert float(L.value) == pytest.approx(ref.item(), rel=tol)
    np.testing.assert_allclose(xn.grad, grad, rtol=tol)
    assert xn.grad.dtype == dtype


def test_bce_with_logits_matches_torch_in_value_and_both_gradients():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4)) * 30
    t = rng.uniform(0, 1, (3, 4))
    xn, tn = dp.Param(x), dp.Param(t)
    L = dp.binary_cross_entropy_with_logits(xn, tn)
    dp.Graph(L).backward(L)
    tx, tt = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
    ref = F.binary_cross_entropy_with_logits(tx, tt)
    ref.backward()
    assert float(L.value) == pytest.approx(ref.item(), rel=1e-14)
    np.testing.assert_allclose(xn.grad, tx.grad.numpy(), rtol=1e-13, atol=1e-17)
    np.testing.assert_allclose(tn.grad, tt.grad.numpy(), rtol=1e-13)


# --- 4. gradcheck on bad gradients ----------------------------------------------------------------

class _Scaled(ops.Tanh):
    """tanh whose backward sends 10 times the right gradient, with a NaN in the first entry."""

    __slots__ = ()

    def backward(self):
        g = 10 * self.grad * (1 - self.value ** 2)
        g[..., 0] = np.nan
        self.parents[0].grad += g


class _WrongShape(ops.Tanh):
    __slots__ = ()

    def backward(self):
        self.parents[0].grad += np.ones(7)


def test_gradcheck_fails_a_nan_gradient():
    a = dp.Param(np.array([0.5, -1.0, 2.0]), name="a")
    rep = dp.gradcheck(dp.sum(_Scaled(a)), raise_exception=False)
    assert not rep.ok and rep.worst_node == "a"
    assert "gradcheck FAILED" in str(rep)


def test_gradcheck_refuses_a_leaf_outside_the_graph():
    a = dp.Param(np.array([0.5, -1.0]), name="a")
    stray = dp.Param(np.ones(2), name="stray")
    with pytest.raises(ValueError, match="gradcheck: node 'stray' .* is not an input or "
                                         "parameter of the graph"):
        dp.gradcheck(dp.sum(a * a), wrt=[a, stray])


def test_gradcheck_reports_a_gradient_of_the_wrong_shape():
    a = dp.Param(np.array([0.5, -1.0, 2.0]), name="a")
    rep = dp.gradcheck(dp.sum(_WrongShape(a)), raise_exception=False)
    assert not rep.ok
    assert "gradient of node 'a' (op param) has shape (7,), but its value has shape (3,)" in str(rep)


# --- 5. float32 through Python-float leaves ------------------------------------------------------

PY_FLOAT_OPS = {
    "tanh": dp.tanh, "exp": dp.exp, "log": dp.log, "sigmoid": dp.sigmoid, "sum": dp.sum,
    "mean": dp.mean, "pow": lambda s: s ** 2, "div": lambda s: s / 2.0, "rdiv": lambda s: 1.0 / s,
    "rpow": lambda s: 2.0 ** s, "relu": dp.relu,
}


@pytest.mark.parametrize("name", list(PY_FLOAT_OPS))
def test_a_python_float_node_does_not_turn_float32_into_float64(name):
    s = PY_FLOAT_OPS[name](dp.Param(0.5, name="s"))
    assert type(s.value) is float
    x32 = dp.Param(np.array([1.0, 2.0], dtype=np.float32), name="x")
    y = x32 * s
    L = dp.sum(y)
    dp.Graph(L).backward(L)
    assert y.value.dtype == np.float32 and x32.grad.dtype == np.float32


def test_sgd_with_a_numpy_float64_step_keeps_float32_params_float32():
    w = dp.Param(np.float32(1.5), name="w")
    W = dp.Param(np.ones(2, dtype=np.float32), name="W")
    L = w * w + dp.sum(W * W)
    g = dp.Graph(L)
    g.backward(L)
    g.sgd(np.float64(0.1))
    assert np.result_type(w.value) == np.float32 and W.value.dtype == np.float32
    assert float(w.value) == pytest.approx(1.2)
    with pytest.raises(TypeError, match="sgd: the step size eta must be a number"):
        g.sgd("0.1")


# --- 6. NaN and zero gradients --------------------------------------------------------------------

def test_relu_of_nan_is_nan_for_python_floats_as_for_arrays():
    assert np.isnan(dp.relu(dp.Input(float("nan"))).value)
    assert np.isnan(dp.relu(dp.Input(np.array([np.nan]))).value[0])
    x = dp.Input(float("nan"), name="x")
    with dp.detect_anomaly(), pytest.raises(FloatingPointError, match="relu"):
        dp.relu(x)


def test_zero_gradients_are_zero_where_values_are_infinite_or_nan():
    x = dp.Input(np.array([np.inf, np.nan, 1.0]), name="x")
    p = dp.Param(np.array([1.0, 2.0]), name="p")
    s = dp.Param(float("inf"), name="s")
    L = dp.sum(p * p)
    g = dp.Graph(L, x * 2.0, s * 3.0)
    g.backward(L)
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])  # unreached leaves
    assert s.grad == 0.0 and type(s.grad) is float
    g.zero_grad()
    for n in g.inputs + g.params + g.compute:
        assert np.all(np.asarray(n.grad) == 0), n


# --- 7. checks on every pass, and a failed call that changes nothing ------------------------------

def test_bce_checks_the_probability_range_on_every_forward():
    p = dp.Param(np.array([0.2, 0.7]), name="p")
    L = dp.binary_cross_entropy(p, np.array([0.0, 1.0]))
    g = dp.Graph(L)
    p.value = np.array([0.2, 1.5])
    with pytest.raises(ValueError, match=r"binary_cross_entropy: probabilities p must lie in"):
        g.forward()


def test_a_backward_that_fails_leaves_every_gradient_as_it_was():
    x = dp.Param(np.array([1.0, 2.0]), name="x")
    y = x * 3.0
    L = dp.sum(y)
    g = dp.Graph(L, y)
    g.backward(L)
    before = [np.copy(n.grad) for n in g.nodes]
    with pytest.raises(ValueError, match="scalar is needed"):
        g.backward(y)
    with pytest.raises(ValueError, match="v has shape"):
        g.backward(y, np.ones(3))
    for n, b in zip(g.nodes, before):
        np.testing.assert_array_equal(n.grad, b)
