"""Every op's value and gradient match torch.autograd and central differences (float64)."""

import numpy as np
import pytest
import torch
from engine_helpers import away_from_zero, check_against_torch_and_differences, seeds
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import dagprop as dp

two_broadcastable_shapes = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                                         max_side=4)
shapes = array_shapes(min_dims=0, max_dims=3, max_side=4)
nonscalar_shapes = array_shapes(min_dims=1, max_dims=3, max_side=4)

# --- elementwise binary ops with broadcasting ---------------------------------------------------

BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / b, lambda a, b: a / b),
}


@pytest.mark.parametrize("op", sorted(BINARY))
@given(shapes=two_broadcastable_shapes, seed=seeds)
def test_binary_op_gradients_match_torch_with_broadcasting(op, shapes, seed):
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    a = rng.standard_normal(sa)
    b = away_from_zero(rng, sb, 0.5, 2.0)  # away from 0, where a / b has its pole
    build, ref = BINARY[op]
    check_against_torch_and_differences(build, ref, a, b, seed=seed)


def test_broadcast_gradient_sums_back_to_each_operand_shape():
    a = dp.Param(np.ones((2, 1, 3)))
    b = dp.Param(np.ones(3))
    L = dp.sum(a * b)
    dp.Graph(L).backward(L)
    assert a.grad.shape == (2, 1, 3) and b.grad.shape == (3,)
    np.testing.assert_array_equal(b.grad, np.full(3, 2.0))


CONSTANT_OPERANDS = {
    "node + number": (lambda a: a + 2.5, lambda a: a + 2.5),
    "number + node": (lambda a: 2.5 + a, lambda a: 2.5 + a),
    "number - node": (lambda a: 2.5 - a, lambda a: 2.5 - a),
    "node - array": (lambda a: a - np.arange(3.0), lambda a: a - torch.arange(3.0).double()),
    "array * node": (lambda a: np.arange(3.0) * a, lambda a: torch.arange(3.0).double() * a),
    "number / node": (lambda a: 3.0 / a, lambda a: 3.0 / a),
    "node / number": (lambda a: a / 4.0, lambda a: a / 4.0),
    "array @ node": (lambda a: np.ones((4, 2)) @ a, lambda a: torch.ones(4, 2).double() @ a),
}


@pytest.mark.parametrize("case", sorted(CONSTANT_OPERANDS))
def test_numbers_and_arrays_mix_with_nodes_on_either_side(case):
    rng = np.random.default_rng(1)
    build, ref = CONSTANT_OPERANDS[case]
    check_against_torch_and_differences(build, ref, away_from_zero(rng, (2, 3)), seed=1)


# --- matmul: 1-D, 2-D, batched and broadcast batches ---------------------------------------------

# Operand shapes as patterns: n, k, m, b, c are sizes drawn at random (1 to 4), "1" stays 1.
MATMUL_PATTERNS = [
    ("k", "k"),  # dot product, a scalar
    ("k", "km"),  # vector @ matrix
    ("nk", "k"),  # matrix @ vector
    ("nk", "km"),
    ("bnk", "bkm"),  # a batch of matrices
    ("bnk", "km"),  # a batch times one matrix
    ("nk", "bkm"),
    ("1nk", "bkm"),  # batch axis broadcast
    ("c1nk", "bkm"),  # two batch axes, both broadcast
    ("k", "bkm"),
    ("bnk", "k"),
]


@pytest.mark.parametrize("pa,pb", MATMUL_PATTERNS, ids=[f"{a}@{b}" for a, b in MATMUL_PATTERNS])
@given(sizes=st.fixed_dictionaries({c: st.integers(1, 4) for c in "nkmbc"}), seed=seeds)
def test_matmul_gradients_match_torch_for_vectors_matrices_and_batches(pa, pb, sizes, seed):
    rng = np.random.default_rng(seed)
    sizes["1"] = 1
    sa, sb = (tuple(sizes[c] for c in p) for p in (pa, pb))
    check_against_torch_and_differences(lambda a, b: a @ b, lambda a, b: a @ b,
                                        rng.standard_normal(sa), rng.standard_normal(sb),
                                        seed=seed)


# --- elementwise functions -----------------------------------------------------------------------

def _inputs_for(name, rng, shape):
    if name == "log":
        return rng.uniform(0.2, 3.0, shape)  # away from the pole at 0
    if name == "relu":
        return away_from_zero(rng, shape, 0.05, 2.0)  # away from the kink at 0
    if name == "exp":
        return rng.uniform(-3, 3, shape)
    return rng.standard_normal(shape) * 2


UNARY = {
    "neg": (lambda a: -a, lambda a: -a),
    "exp": (dp.exp, torch.exp),
    "log": (dp.log, torch.log),
    "tanh": (dp.tanh, torch.tanh),
    "sigmoid": (dp.sigmoid, torch.sigmoid),
    "relu": (dp.relu, torch.relu),
}


@pytest.mark.parametrize("op", sorted(UNARY))
@given(shape=shapes, seed=seeds)
def test_elementwise_function_gradients_match_torch(op, shape, seed):
    rng = np.random.default_rng(seed)
    build, ref = UNARY[op]
    check_against_torch_and_differences(build, ref, _inputs_for(op, rng, shape), seed=seed)


@pytest.mark.parametrize("p", [2, 3, -1, 0.5, 1.5, -2.5, 0])
@given(shape=shapes, seed=seeds)
def test_power_by_a_number_gradient_matches_torch(p, shape, seed):
    rng = np.random.default_rng(seed)
    # Integer powers on both signs; fractional powers need a positive base.
    x = away_from_zero(rng, shape, 0.3, 2.0) if float(p).is_integer() else rng.uniform(0.3, 2, shape)
    check_against_torch_and_differences(lambda a: a ** p, lambda a: a ** p, x, seed=seed)


def test_relu_passes_gradient_only_where_input_is_positive():
    x = dp.Param(np.array([-2.0, -0.1, 0.3, 4.0]))
    L = dp.sum(dp.relu(x) * np.array([1.0, 2.0, 3.0, 4.0]))
    dp.Graph(L).backward(L)
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 3.0, 4.0])


def test_sigmoid_is_finite_and_saturates_for_large_inputs():
    x = dp.Param(np.array([-800.0, 0.0, 800.0]))
    y = dp.sigmoid(x)
    np.testing.assert_array_equal(y.value, [0.0, 0.5, 1.0])


# --- reductions and normalisations -----------------------------------------------------------------

@st.composite
def shape_and_axis(draw, tuples=True):
    shape = draw(nonscalar_shapes)
    nd = len(shape)
    choice = draw(st.sampled_from(["none", "int", "tuple"] if tuples else ["int"]))
    if choice == "none":
        axis = None
    elif choice == "int":
        axis = draw(st.integers(-nd, nd - 1))
    else:
        axes = draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True))
        axis = tuple(a - nd if draw(st.booleans()) else a for a in axes)  # some negative
    return shape, axis


def _torch_axis(axis, nd):
    return tuple(range(nd)) if axis is None else axis


@pytest.mark.parametrize("op", ["sum", "mean"])
@given(shape_axis=shape_and_axis(), keepdims=st.booleans(), seed=seeds)
def test_sum_and_mean_gradients_match_torch_for_every_axis_form(op, shape_axis, keepdims, seed):
    shape, axis = shape_axis
    rng = np.random.default_rng(seed)
    dp_fn = getattr(dp, op)
    t_fn = getattr(torch, op)
    out, _ = check_against_torch_and_differences(
        lambda a: dp_fn(a, axis=axis, keepdims=keepdims),
        lambda a: t_fn(a, dim=_torch_axis(axis, len(shape)), keepdim=keepdims),
        rng.standard_normal(shape), seed=seed)
    assert np.shape(out.value) == np.shape(getattr(np, op)(np.zeros(shape), axis=axis,
                                                               keepdims=keepdims))


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@given(shape_axis=shape_and_axis(tuples=False), seed=seeds)
def test_softmax_and_log_softmax_gradients_match_torch_along_any_axis(op, shape_axis, seed):
    shape, axis = shape_axis
    rng = np.random.default_rng(seed)
    dp_fn = getattr(dp, op)
    t_fn = getattr(torch, op)
    check_against_torch_and_differences(lambda a: dp_fn(a, axis=axis),
                                        lambda a: t_fn(a, dim=axis),
                                        rng.standard_normal(shape) * 3, seed=seed)


def test_softmax_of_large_logits_is_finite_and_sums_to_one():
    y = dp.softmax(dp.Input(np.array([[1000.0, 0.0, -1000.0], [5.0, 5.0, 5.0]])))
    assert np.all(np.isfinite(y.value))
    np.testing.assert_allclose(y.value.sum(axis=-1), 1.0, rtol=1e-15)
    z = dp.log_softmax(dp.Input(np.array([1000.0, 0.0])))
    np.testing.assert_allclose(z.value, [0.0, -1000.0])


# --- indexing and shape ops ------------------------------------------------------------------------

INDEX_KEYS = {
    "slice": (slice(1, 3),),
    "int": 2,
    "negative int": -1,
    "reversed step": (1, slice(None, None, -2)),
    "repeated integer indices": np.array([0, 0, 3, 1, 0]),
    "repeated index pairs": (np.array([0, 0, 2, 0]), np.array([1, 1, 4, 1])),
    "slice and repeated columns": (slice(None), np.array([4, 4, 0])),
    "list with repeats": [1, 1, 2],
    "boolean mask": None,  # built from the data below
    "ellipsis": (Ellipsis, 1),
}


def _torch_key(key):
    if isinstance(key, np.ndarray):
        return torch.from_numpy(key)
    if isinstance(key, tuple):
        return tuple(_torch_key(k) for k in key)
    return key


@pytest.mark.parametrize("case", list(INDEX_KEYS))
def test_indexing_gradient_matches_torch_and_accumulates_repeated_indices(case):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 5))
    key = x > 0.2 if case == "boolean mask" else INDEX_KEYS[case]
    if case == "reversed step":  # torch has no negative steps: flip instead
        ref = (lambda a: a[1].flip(0)[::2])
    else:
        ref = (lambda a: a[_torch_key(key)])
    check_against_torch_and_differences(lambda a: a[key], ref, x, seed=3)


def test_repeated_index_counts_each_use():
    x = dp.Param(np.zeros(3))
    L = dp.sum(x[np.array([2, 2, 2, 0])])
    dp.Graph(L).backward(L)
    np.testing.assert_array_equal(x.grad, [1.0, 0.0, 3.0])


TRANSPOSES = {
    ".T of a matrix": ((3, 4), lambda a: a.T, lambda a: a.T),
    "transpose reverses axes": ((2, 3, 4), dp.transpose, lambda a: a.permute(2, 1, 0)),
    "axes permutation": ((2, 3, 4), lambda a: dp.transpose(a, (1, 2, 0)),
                         lambda a: a.permute(1, 2, 0)),
    "negative axes": ((2, 3, 4), lambda a: dp.transpose(a, (0, -1, 1)),
                      lambda a: a.permute(0, 2, 1)),
}


@pytest.mark.parametrize("case", list(TRANSPOSES))
def test_transpose_gradient_matches_torch(case):
    shape, build, ref = TRANSPOSES[case]
    check_against_torch_and_differences(build, ref, np.random.default_rng(4).standard_normal(shape),
                                        seed=4)


RESHAPES = {
    "method with -1": (lambda a: a.reshape(2, -1), lambda a: a.reshape(2, -1)),
    "method with a tuple": (lambda a: a.reshape((4, 3)), lambda a: a.reshape(4, 3)),
    "function": (lambda a: dp.reshape(a, (3, 2, 2)), lambda a: a.reshape(3, 2, 2)),
    "flatten": (lambda a: dp.reshape(a, -1), lambda a: a.reshape(-1)),
}


@pytest.mark.parametrize("case", list(RESHAPES))
def test_reshape_gradient_matches_torch(case):
    build, ref = RESHAPES[case]
    check_against_torch_and_differences(build, ref,
                                        np.random.default_rng(5).standard_normal((2, 6)), seed=5)


def test_power_zero_has_zero_gradient_even_at_zero_like_torch():
    x = dp.Param(np.array([0.0, 2.0]))
    L = dp.sum(x ** 0)
    dp.Graph(L).backward(L)
    t = torch.tensor([0.0, 2.0], dtype=torch.float64, requires_grad=True)
    (t ** 0).sum().backward()
    np.testing.assert_array_equal(x.grad, t.grad.numpy())
