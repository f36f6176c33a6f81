"""Graph, forward, backward and sgd: the contract a user of dagprop relies on."""

import gc
import math
import weakref

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from engine_helpers import CONTRACT_EXAMPLE, TORCH_ATOL, TORCH_RTOL

import dagprop as dp


def _sigmoid(z):
    return 1 / (1 + math.exp(-z))


def test_contract_example_runs_verbatim_and_computes_the_right_numbers():
    ns = {}
    exec(CONTRACT_EXAMPLE, ns)  # noqa: S102 - the text also runs in a torch-free subprocess
    x, t, W, b, p, L, g = (ns[k] for k in ("x", "t", "W", "b", "p", "L", "g"))

    assert {id(n) for n in g.inputs} == {id(x), id(t)}
    assert {id(n) for n in g.params} == {id(W), id(b)}
    assert g.compute[-1] is L and g.compute[-2] is p

    # By hand: z = 0.5 * 0.1 + (-1) * (-0.2) = 0.25, p = sigmoid(z), L = -log p (t = 1), and
    # dL/dz = p - t, so dL/dW = (p - t) x^T and dL/db = p - t.
    p0 = _sigmoid(0.25)
    np.testing.assert_allclose(W.grad, [[(p0 - 1) * 0.5], [(p0 - 1) * -1.0]], rtol=1e-12)
    np.testing.assert_allclose(b.grad, [p0 - 1], rtol=1e-12)
    W1 = np.array([[0.1], [-0.2]]) - 0.1 * W.grad
    b1 = -0.1 * b.grad
    np.testing.assert_allclose(W.value, W1, rtol=1e-15)
    # After the re-run on x = [2, 0]: p = sigmoid(2 W[0] + b), L = -log p.
    p1 = _sigmoid(2 * W1[0, 0] + b1[0])
    np.testing.assert_allclose(p.value, [[p1]], rtol=1e-12)
    assert float(L.value) == pytest.approx(-math.log(p1), rel=1e-12)


def test_compute_list_is_topological_with_each_node_once():
    x = dp.Input(np.ones(3), name="x")
    a = dp.tanh(x)
    b = a * a + x  # fan-out of a and of x
    L = dp.sum(b * a)
    g = dp.Graph(L)
    pos = {id(n): i for i, n in enumerate(g.nodes)}
    assert len(pos) == len(g.nodes) == len(g.inputs) + len(g.params) + len(g.compute)
    for c in g.compute:
        for par in c.parents:
            assert pos[id(par)] < pos[id(c)], f"{c} comes before its parent {par}"
    assert all(n.kind == "compute" for n in g.compute)


# --- static re-run -----------------------------------------------------------------------------

def _mlp_loss(x, t, W1, b1, W2):
    h = dp.tanh(x @ W1 + b1)
    return dp.mse_loss(h @ W2, t)


def _fresh(x_val, t_val, params):
    """The same computation built from scratch on new values."""
    leaves = [dp.Param(p.value) for p in params]
    L = _mlp_loss(dp.Input(x_val), dp.Input(t_val), *leaves)
    dp.Graph(L).backward(L)
    return L, leaves


def test_rerun_on_new_input_values_matches_a_freshly_built_graph():
    rng = np.random.default_rng(0)
    x, t = dp.Input(rng.standard_normal((5, 3))), dp.Input(rng.standard_normal((5, 1)))
    params = [dp.Param(rng.standard_normal(s)) for s in ((3, 4), (4,), (4, 1))]
    L = _mlp_loss(x, t, *params)
    g = dp.Graph(L)
    for _ in range(3):
        x.value, t.value = rng.standard_normal((5, 3)), rng.standard_normal((5, 1))
        g.forward()
        g.backward(L)
        L_ref, ref = _fresh(x.value, t.value, params)
        assert L.value == pytest.approx(L_ref.value, rel=1e-14)
        for p, q in zip(params, ref):
            np.testing.assert_allclose(p.grad, q.grad, rtol=1e-13, atol=1e-15)


def test_rerun_with_a_new_batch_size_matches_a_freshly_built_graph():
    rng = np.random.default_rng(1)
    x, t = dp.Input(rng.standard_normal((5, 3))), dp.Input(rng.standard_normal((5, 1)))
    params = [dp.Param(rng.standard_normal(s)) for s in ((3, 4), (4,), (4, 1))]
    L = _mlp_loss(x, t, *params)
    g = dp.Graph(L)
    for n in (8, 1, 5):
        x.value, t.value = rng.standard_normal((n, 3)), rng.standard_normal((n, 1))
        g.forward()
        g.backward(L)
        L_ref, ref = _fresh(x.value, t.value, params)
        assert L.value == pytest.approx(L_ref.value, rel=1e-14)
        for p, q in zip(params, ref):
            np.testing.assert_allclose(p.grad, q.grad, rtol=1e-13, atol=1e-15)
            assert p.grad.shape == p.value.shape


def test_rerun_after_sgd_uses_the_updated_parameters():
    w = dp.Param(np.array([1.0, -2.0]), name="w")
    L = dp.sum(w * w)
    g = dp.Graph(L)
    g.backward(L)
    g.sgd(0.25)  # w <- w - 0.25 * 2w = w / 2
    g.forward()
    assert L.value == pytest.approx(0.25 * 5.0)


# --- sgd and gradient zeroing -----------------------------------------------------------------------

def test_sgd_subtracts_exactly_eta_times_the_gradient_from_every_param():
    rng = np.random.default_rng(2)
    W, b, s = dp.Param(rng.standard_normal((3, 2))), dp.Param(rng.standard_normal(2)), dp.Param(0.7)
    x = dp.Input(rng.standard_normal((4, 3)))
    L = dp.mean(dp.tanh(x @ W + b) * s)
    g = dp.Graph(L)
    g.backward(L)
    before = [(np.copy(w.value), np.copy(w.grad)) for w in (W, b, s)]
    x_before = x.value.copy()
    g.sgd(0.3)
    for w, (v0, g0) in zip((W, b, s), before):
        np.testing.assert_array_equal(w.value, v0 - 0.3 * g0)
    np.testing.assert_array_equal(x.value, x_before)  # inputs are not trained
    assert type(s.value) is float


def test_sgd_never_changes_the_array_a_param_was_made_from():
    w0 = np.array([1.0, 2.0])
    w = dp.Param(w0, name="w")
    L = dp.sum(w * w)
    g = dp.Graph(L)
    g.backward(L)
    g.sgd(0.1)
    np.testing.assert_array_equal(w0, [1.0, 2.0])
    np.testing.assert_allclose(w.value, [0.8, 1.6])


def test_backward_twice_gives_the_same_gradients_not_double():
    x = dp.Param(np.array([0.3, -1.2, 2.0]), name="x")
    y = dp.tanh(x) * x + x * x  # x reaches the loss along four paths
    L = dp.sum(y)
    g = dp.Graph(L)
    g.backward(L)
    first = x.grad.copy()
    g.backward(L)
    np.testing.assert_array_equal(x.grad, first)
    th = np.tanh(x.value)
    np.testing.assert_allclose(first, (1 - th**2) * x.value + th + 2 * x.value, rtol=1e-14)


def test_the_course_pseudocode_run_by_hand_gives_the_same_gradients_as_backward():
    # Backward(loss) as the course writes it, with the integer seed `loss.grad = 1`.
    W = dp.Param(np.array([[0.1, 0.2], [-0.2, 0.3]]), name="W")
    x = dp.Input(np.array([[1.0, -1.0]]), name="x")
    L = dp.sum(W) + dp.mean(x @ W * W) + dp.sum(dp.tanh(W).T.reshape(-1)[::2])
    g = dp.Graph(L)
    compute, params, inputs = g.compute, g.params, g.inputs
    for c in compute:
        c.grad = 0
    for c in params:
        c.grad = 0
    for c in inputs:
        c.grad = 0
    L.grad = 1
    for c in reversed(compute):
        c.backward()
    by_hand = W.grad.copy()
    g.backward(L)
    np.testing.assert_allclose(by_hand, W.grad, rtol=1e-15)
    assert by_hand.dtype == np.float64


def test_leaf_that_gets_no_gradient_gets_zeros_of_its_shape():
    x = dp.Input(np.ones((2, 3)), name="x")
    unused = dp.Param(np.ones(4), name="unused")
    L = dp.sum(x)
    g = dp.Graph(L, unused * 2.0)
    g.backward(L)
    np.testing.assert_array_equal(unused.grad, np.zeros(4))
    np.testing.assert_array_equal(x.grad, np.ones((2, 3)))


# --- vector-Jacobian products, as in the course's torch examples -------------------------------

def test_backward_of_x_dot_x_gives_two_x():
    x = dp.Param(np.arange(4.0), name="x")
    y = x.T @ x  # a 1-D transpose is the identity, as in torch
    dp.Graph(y).backward(y)
    np.testing.assert_array_equal(x.grad, 2 * x.value)


def test_backward_with_v_gives_v_times_the_jacobian():
    rng = np.random.default_rng(3)
    x = dp.Param(rng.random(4), name="x")
    y = x[:2]
    v = rng.random(2)
    dp.Graph(y).backward(y, v)
    J = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])
    np.testing.assert_array_equal(x.grad, v @ J)


def test_backward_with_v_from_an_inner_node_matches_torch():
    rng = np.random.default_rng(4)
    xv, Wv, Vv = rng.standard_normal((3, 2)), rng.standard_normal((2, 4)), rng.standard_normal((4, 2))
    x, W, V = dp.Param(xv), dp.Param(Wv), dp.Param(Vv)
    h = dp.tanh(x @ W, name="h")
    logits = h @ V + 1.0  # the graph's output has no reduction on top
    g = dp.Graph(logits)
    v = rng.standard_normal((3, 4))
    g.backward(h, v)

    tx, tW = torch.tensor(xv, requires_grad=True), torch.tensor(Wv, requires_grad=True)
    th = torch.tanh(tx @ tW)
    gx, gW = torch.autograd.grad(th, (tx, tW), torch.tensor(v))
    np.testing.assert_allclose(x.grad, gx.numpy(), rtol=TORCH_RTOL, atol=TORCH_ATOL)
    np.testing.assert_allclose(W.grad, gW.numpy(), rtol=TORCH_RTOL, atol=TORCH_ATOL)
    np.testing.assert_array_equal(V.grad, np.zeros((4, 2)))  # V lies above h


def test_graph_with_two_outputs_backpropagates_the_chosen_one():
    rng = np.random.default_rng(5)
    x = dp.Param(rng.standard_normal((2, 3)), name="x")
    W = dp.Param(rng.standard_normal((3, 3)), name="W")
    L1 = dp.sum(x * x)
    out2 = (x @ W).reshape(-1)
    g = dp.Graph(L1, out2)
    g.backward(L1)
    np.testing.assert_allclose(x.grad, 2 * x.value)
    v = rng.standard_normal(6)
    g.backward(out2, v)
    np.testing.assert_allclose(x.grad, v.reshape(2, 3) @ W.value.T, rtol=1e-14)
    np.testing.assert_allclose(W.grad, x.value.T @ v.reshape(2, 3), rtol=1e-14)
    g.backward(L1)  # and back again: nothing from out2 is left over
    np.testing.assert_allclose(x.grad, 2 * x.value)
    np.testing.assert_array_equal(W.grad, np.zeros((3, 3)))


# --- a million nodes, no recursion, no reference cycles ------------------------------------------

@pytest.mark.million
def test_million_node_chain_backpropagates_without_recursion_and_frees_without_gc():
    n = 1_000_000
    x = dp.Param(0.5, name="x")
    c = dp.Input(1.0000001, name="c")  # every link multiplies by the same c: fan-out of a million
    y = x
    for _ in range(n):
        y = y * c
    g = dp.Graph(y)
    assert len(g.compute) == n
    g.forward()
    g.backward(y)
    # y = x c^n, so dy/dx = c^n and dy/dc = n x c^(n-1); rounding grows like n * 1e-16.
    assert y.value == pytest.approx(0.5 * 1.0000001**n, rel=1e-8)
    assert x.grad == pytest.approx(1.0000001**n, rel=1e-8)
    assert c.grad == pytest.approx(n * 0.5 * 1.0000001 ** (n - 1), rel=1e-8)

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        first = weakref.ref(g.compute[0])
        del g, y
        assert first() is None, "dropping the graph must free its nodes without the cycle collector"
    finally:
        if was_enabled:
            gc.enable()


def test_a_dropped_graph_is_freed_at_once_without_the_cycle_collector():
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        rng = np.random.default_rng(6)
        x = dp.Input(rng.standard_normal((4, 2)), name="x")
        net = dp.nn.MLP([2, 3, 1], activation="tanh")
        out = net(x)
        L = dp.mse_loss(out, np.zeros((4, 1)))
        g = dp.Graph(L)
        g.forward()
        g.backward(L)
        g.sgd(0.1)
        dp.gradcheck(g)
        dp.draw(g, highlight_path=(net.params[0], L), show_local=True)
        refs = [weakref.ref(n) for n in g.nodes]
        del x, net, out, L, g
        alive = [r() for r in refs if r() is not None]
        assert not alive, f"still alive after del: {alive}"
    finally:
        if was_enabled:
            gc.enable()


# --- dtypes --------------------------------------------------------------------------------------

def test_float32_graph_stays_float32_in_values_and_gradients():
    rng = np.random.default_rng(7)
    x = dp.Input(rng.standard_normal((4, 3)).astype(np.float32), name="x")
    W = dp.Param(rng.standard_normal((3, 3)).astype(np.float32), name="W")
    h = dp.tanh(x @ W + np.ones(3))  # a float64 array constant
    h = dp.sigmoid(h * 2.0) / np.float64(3.0) - 0.5  # Python and numpy float64 numbers
    h = dp.relu(h + 0.1) ** 2 + dp.exp(-h) + dp.log(h * h + 1.0)
    h = h.T.reshape(4, 3)[np.array([0, 0, 2, 3])] @ np.eye(3) + 1
    s = dp.softmax(h) + dp.log_softmax(h, axis=0) + dp.mean(h, axis=0) + dp.sum(h, axis=1)[:, None]
    pr = dp.sigmoid(h[:, :1])
    losses = [dp.mse_loss(s, np.zeros((4, 3))), dp.binary_cross_entropy(pr, np.ones((4, 1))),
              dp.cross_entropy(h, np.array([0, 2, 1, 0]))]
    L = losses[0] + losses[1] + losses[2]
    g = dp.Graph(L)
    g.forward()
    g.backward(L)
    for n in g.params + [x] + g.compute:
        assert np.result_type(n.value) == np.float32, f"value of {n} is {np.result_type(n.value)}"
        assert np.result_type(n.grad) == np.float32, f"grad of {n} is {np.result_type(n.grad)}"
    # and the numbers are right: float32 agrees with the same graph in float64 to float32 accuracy
    rep = dp.gradcheck(L, wrt=[W], raise_exception=False)
    assert rep.ok, rep


def test_float32_vector_jacobian_product_with_a_float64_v_stays_float32():
    x = dp.Param(np.array([0.5, -1.0, 2.0], dtype=np.float32), name="x")
    y = dp.tanh(x) * 2.0
    v = np.array([1.0, 2.0, 3.0])  # float64, as np.array makes it
    dp.Graph(y).backward(y, v)
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, v * 2 * (1 - np.tanh(x.value.astype(float)) ** 2),
                               rtol=1e-6)
    np.testing.assert_array_equal(v, [1.0, 2.0, 3.0])  # the caller's v is left alone


def test_float32_mlp_trains_in_float32():
    net = dp.nn.MLP([2, 4, 1], activation="relu", seed=0, dtype=np.float32)
    x = dp.Input(np.ones((3, 2), dtype=np.float32))
    L = dp.mse_loss(net(x), np.zeros((3, 1)))
    g = dp.Graph(L)
    g.backward(L)
    g.sgd(0.1)
    g.forward()
    for p in net.params:
        assert p.value.dtype == np.float32 and p.grad.dtype == np.float32
    assert np.result_type(L.value) == np.float32


@pytest.mark.parametrize("data", [np.array([1, 2, 3]), [1, 2, 3], np.array([True, False, True])],
                         ids=["int array", "list of ints", "bool array"])
def test_integer_and_boolean_data_become_float64(data):
    for node in (dp.Input(data), dp.Param(data)):
        assert isinstance(node.value, np.ndarray) and node.value.dtype == np.float64
    np.testing.assert_array_equal(dp.Input(data).value, np.asarray(data, dtype=np.float64))


@pytest.mark.parametrize("number", [3, 2.5, np.int64(4), np.float64(1.5), True])
def test_scalars_become_python_floats(number):
    for node in (dp.Input(number), dp.Param(number)):
        assert type(node.value) is float and node.value == float(number)


def test_python_float_graph_gives_python_float_gradients():
    a, b = dp.Param(2.0), dp.Param(-3.0)
    L = a * b + a
    dp.Graph(L).backward(L)
    assert type(L.value) is float and type(a.grad) is float and type(b.grad) is float
    assert (a.grad, b.grad) == (-2.0, 2.0)


def test_loss_gradient_is_seeded_with_a_scalar_one_of_the_loss_dtype():
    for dtype in (np.float32, np.float64):
        L = dp.mean(dp.Param(np.ones(3, dtype=dtype)))
        dp.Graph(L).backward(L)
        assert type(L.grad) is dtype and L.grad == 1  # a numpy scalar, not a 0-d array
    L = dp.Param(2.0) * 3.0
    dp.Graph(L).backward(L)
    assert type(L.grad) is float and L.grad == 1.0


def test_float32_scalar_stays_float32():
    node = dp.Input(np.float32(1.5))
    assert np.result_type(node.value) == np.float32


def test_bce_of_float32_probabilities_matches_torch_float32():
    rng = np.random.default_rng(8)
    p = rng.uniform(0.1, 0.9, (6, 1)).astype(np.float32)
    t = rng.integers(0, 2, (6, 1)).astype(np.float64)
    pn = dp.Param(p)
    L = dp.binary_cross_entropy(pn, t)
    dp.Graph(L).backward(L)
    tp = torch.tensor(p, requires_grad=True)
    ref = F.binary_cross_entropy(tp, torch.tensor(t, dtype=torch.float32))
    ref.backward()
    assert np.result_type(L.value) == np.float32
    assert float(L.value) == pytest.approx(ref.item(), rel=1e-6)
    np.testing.assert_allclose(pn.grad, tp.grad.numpy(), rtol=1e-5)
