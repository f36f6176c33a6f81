"""Issue 10, contract gaps and messages, and loops that read like the course's pseudocode.

Each test failed before the fix: powers with nodes as exponents, clear errors for bad axes,
iteration over a node, float16 BCE, constants kept apart from inputs, a bounded cache, anomaly
detection per thread, and Graph.forward / backward / sgd as short as the pseudocode.
"""

import inspect
import re
import threading

import numpy as np
import pytest
import torch
from engine_helpers import TORCH_ATOL, TORCH_RTOL

import dagprop as dp

pytestmark = pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")


# --- powers with a node as exponent ---------------------------------------------------------------

@pytest.mark.parametrize("case", ["number ** node", "node ** node", "node ** 0-d array",
                                  "node ** array", "node ** broadcast node"])
def test_powers_with_a_node_or_an_array_as_exponent_match_torch(case):
    rng = np.random.default_rng(0)
    xv, yv = rng.uniform(0.5, 2.0, (2, 3)), rng.uniform(-1.5, 1.5, (2, 3))
    x, y = dp.Param(xv, name="x"), dp.Param(yv, name="y")
    tx, ty = torch.tensor(xv, requires_grad=True), torch.tensor(yv, requires_grad=True)
    if case == "number ** node":
        out, tout = 2.0 ** y, 2.0 ** ty
    elif case == "node ** node":
        out, tout = x ** y, tx ** ty
    elif case == "node ** 0-d array":
        out, tout = x ** np.array(2.0), tx ** torch.tensor(2.0, dtype=torch.float64)
    elif case == "node ** array":
        out, tout = x ** np.array([1.0, 2.0, 0.0]), tx ** torch.tensor([1.0, 2.0, 0.0],
                                                                       dtype=torch.float64)
    else:
        y1 = dp.Param(yv[:1], name="y1")
        ty1 = torch.tensor(yv[:1], requires_grad=True)
        out, tout = x ** y1, tx ** ty1
        y, ty = y1, ty1
    L = dp.sum(out * np.arange(6.0).reshape(2, 3))
    dp.Graph(L).backward(L)
    (tout * torch.arange(6.0, dtype=torch.float64).reshape(2, 3)).sum().backward()
    np.testing.assert_allclose(out.value, tout.detach().numpy(), rtol=TORCH_RTOL)
    used = {id(n) for n in dp.Graph(L).params}
    for node, t in ((x, tx), (y, ty)):
        if id(node) not in used:
            continue
        expected = np.zeros(t.shape) if t.grad is None else t.grad.numpy()
        np.testing.assert_allclose(node.grad, expected, rtol=TORCH_RTOL, atol=TORCH_ATOL)


def test_power_at_a_zero_base_has_torchs_exponent_gradient():
    x = dp.Param(np.array([0.0, 0.0, 2.0]), name="x")
    y = dp.Param(np.array([2.0, 0.0, 3.0]), name="y")
    L = dp.sum(x ** y)
    dp.Graph(L).backward(L)
    tx = torch.tensor([0.0, 0.0, 2.0], dtype=torch.float64, requires_grad=True)
    ty = torch.tensor([2.0, 0.0, 3.0], dtype=torch.float64, requires_grad=True)
    (tx ** ty).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy())
    np.testing.assert_allclose(y.grad, ty.grad.numpy())


def test_a_python_float_power_stays_a_python_float_with_both_gradients():
    a, b = dp.Param(1.5, name="a"), dp.Param(2.0, name="b")
    L = a ** b + 3.0 ** a
    dp.Graph(L).backward(L)
    assert type(L.value) is float and type(a.grad) is float and type(b.grad) is float
    assert a.grad == pytest.approx(2.0 * 1.5 + np.log(3.0) * 3.0 ** 1.5, rel=1e-14)
    assert b.grad == pytest.approx(1.5 ** 2.0 * np.log(1.5), rel=1e-14)


# --- axes -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("build,pattern", [
    (lambda a: dp.sum(a, axis=(0, 0)), r"sum: axis \(0, 0\) names an axis twice, for a of shape "
                                       r"\(2, 3\)"),
    (lambda a: dp.mean(a, axis=(1, -1)), r"mean: axis \(1, -1\) names an axis twice"),
    (lambda a: dp.sum(a, axis=1.0), r"sum: axis must be None, an integer or a tuple of integers, "
                                    r"got 1.0 \(for a of shape \(2, 3\)\)"),
    (lambda a: dp.softmax(a, axis=None), r"softmax: axis must be one integer, got None \(for a "
                                         r"of shape \(2, 3\)\)"),
    (lambda a: dp.log_softmax(a, axis=(0, 1)), r"log_softmax: axis must be one integer"),
], ids=["sum twice", "mean twice", "float axis", "softmax None", "log_softmax tuple"])
def test_bad_axes_are_value_errors_naming_the_op_the_axis_and_the_shape(build, pattern):
    with pytest.raises(ValueError, match=pattern):
        build(dp.Input(np.ones((2, 3)), name="a"))


@pytest.mark.parametrize("fn,tfn", [(dp.softmax, torch.softmax),
                                    (dp.log_softmax, torch.log_softmax)])
def test_softmax_along_an_empty_axis_is_empty_as_in_torch(fn, tfn):
    x = dp.Param(np.ones((3, 0)), name="x")
    y = fn(x, axis=-1)
    assert y.value.shape == tuple(tfn(torch.ones(3, 0), dim=-1).shape) == (3, 0)
    L = dp.sum(y)
    dp.Graph(L).backward(L)
    assert x.grad.shape == (3, 0)


# --- iteration ------------------------------------------------------------------------------------

def test_list_of_a_node_gives_its_rows_and_stops():
    x = dp.Param(np.arange(6.0).reshape(3, 2), name="x")
    rows = list(x)
    assert len(rows) == 3
    np.testing.assert_array_equal(rows[2].value, [4.0, 5.0])
    L = rows[0][1] + rows[2][0] * 2.0
    dp.Graph(L).backward(L)
    np.testing.assert_array_equal(x.grad, [[0.0, 1.0], [0.0, 0.0], [2.0, 0.0]])
    with pytest.raises(TypeError, match="iteration over .* scalar"):
        list(dp.Input(1.0))


# --- float16 BCE ----------------------------------------------------------------------------------

def test_float16_bce_at_a_certain_probability_has_a_finite_gradient():
    p = dp.Param(np.array([0.0, 1.0, 0.5], dtype=np.float16), name="p")
    L = dp.binary_cross_entropy(p, np.array([1.0, 0.0, 1.0], dtype=np.float16))
    dp.Graph(L).backward(L)
    assert p.grad.dtype == np.float16
    assert np.all(np.isfinite(p.grad)), p.grad
    assert p.grad[0] < 0 < p.grad[1]


# --- nn's docstring -------------------------------------------------------------------------------

def test_the_nn_docstring_names_only_what_exists():
    for cls, attr in re.findall(r"``(Linear|MLP)\.(\w+)", dp.nn.__doc__):
        assert hasattr(getattr(dp.nn, cls), attr), f"dp.nn.{cls}.{attr} does not exist"
    assert "copy_to_torch" not in dp.nn.__doc__


# --- constants ------------------------------------------------------------------------------------

def test_constants_are_kept_apart_from_inputs_and_get_no_gradient():
    x = dp.Input(np.array([1.0, 2.0]), name="x")
    w = dp.Param(0.5, name="w")
    L = dp.sum((x * 2.0 + np.ones(2)) * w) + 3.0
    g = dp.Graph(L)
    assert [n.name for n in g.inputs] == ["x"]
    assert len(g.constants) == 3 and all(c.kind == "constant" for c in g.constants)
    assert len(g.nodes) == len(g.inputs) + len(g.constants) + len(g.params) + len(g.compute)
    assert repr(g) == "Graph(1 inputs, 3 constants, 1 params, 5 compute nodes)"
    g.backward(L)
    assert all(c.grad == 0 for c in g.constants)
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])
    assert w.grad == pytest.approx(2 * 3.0 + 2.0)
    rep = dp.gradcheck(g)
    assert set(rep.per_node) == {"x", "w"}


# --- the cache behind backward(node, v) -----------------------------------------------------------

def test_backward_from_many_inner_nodes_keeps_a_bounded_cache():
    x = dp.Param(np.ones(4), name="x")
    chain = [x]
    for _ in range(200):
        chain.append(dp.tanh(chain[-1]))
    g = dp.Graph(chain[-1])
    for node in chain[1:]:
        g.backward(node, np.ones(4))
    assert len(g._below) <= 8
    g.backward(chain[1], np.ones(4))
    np.testing.assert_allclose(x.grad, 1 - np.tanh(1.0) ** 2)


# --- detect_anomaly -------------------------------------------------------------------------------

def test_detect_anomaly_is_per_thread():
    x = dp.Input(np.array([-1.0]), name="x")
    seen = {}

    def other_thread():
        seen["log"] = dp.log(x).value[0]  # anomaly detection is off in this thread

    with dp.detect_anomaly():
        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
        with pytest.raises(FloatingPointError):
            dp.log(x)
    assert np.isnan(seen["log"])

    def turn_on_elsewhere():
        with dp.detect_anomaly():
            started.set()
            release.wait(5)

    started, release = threading.Event(), threading.Event()
    t = threading.Thread(target=turn_on_elsewhere)
    t.start()
    started.wait(5)
    try:
        assert np.isnan(dp.log(x).value[0])  # still off here while the other thread has it on
    finally:
        release.set()
        t.join()


# --- the three loops ------------------------------------------------------------------------------

def _code_lines(fn):
    """The statements of a function: no signature, docstring, comments or blank lines."""
    src = inspect.getsource(fn)
    body = src.split('"""')[2] if '"""' in src else src.split(":", 1)[1]
    lines = [ln.split("#")[0].rstrip() for ln in body.splitlines()]
    return [ln.strip() for ln in lines if ln.strip()]


def test_the_three_loops_read_like_the_pseudocode():
    forward = _code_lines(dp.Graph.forward)
    backward = _code_lines(dp.Graph.backward)
    sgd = _code_lines(dp.Graph.sgd)
    assert len(forward) <= 2 and forward[-1] == "c.forward()"
    assert len(sgd) <= 3 and sgd[-2:] == ["for w in self.params:", "w.value -= eta * w.grad"]
    assert len(backward) <= 12
    for line in ("for c in self.compute:", "for c in self.params:", "for c in self.inputs:",
                 "c.grad = 0", "c.backward()"):
        assert line in backward, line
    for name in ("forward", "backward", "sgd"):  # no branches: special cases live in helpers
        body = _code_lines(getattr(dp.Graph, name))
        assert not any(ln.startswith(("if ", "return", "elif", "else")) for ln in body), body


def test_leaf_gradients_are_shaped_in_one_loop():
    lines = _code_lines(dp.Graph._leaf_grads_to_shape)
    assert sum(ln.startswith("for ") for ln in lines) == 1
