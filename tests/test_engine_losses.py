"""The losses match torch.nn.functional in value and gradient (float64)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from engine_helpers import (
    TORCH_ATOL,
    TORCH_RTOL,
    check_against_torch_and_differences,
    seeds,
)
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import dagprop as dp

loss_shapes = array_shapes(min_dims=1, max_dims=3, max_side=5)


@given(shape=loss_shapes, seed=seeds)
def test_mse_loss_matches_torch_in_prediction_and_target(shape, seed):
    rng = np.random.default_rng(seed)
    check_against_torch_and_differences(dp.mse_loss, F.mse_loss, rng.standard_normal(shape),
                                        rng.standard_normal(shape), seed=seed)


@given(shape=loss_shapes, seed=seeds, hard_labels=st.booleans())
def test_binary_cross_entropy_matches_torch_in_p_and_t(shape, seed, hard_labels):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.95, shape)
    t = rng.integers(0, 2, shape).astype(float) if hard_labels else rng.uniform(0, 1, shape)
    check_against_torch_and_differences(dp.binary_cross_entropy, F.binary_cross_entropy, p, t,
                                        seed=seed)


@pytest.mark.filterwarnings("error")  # and no RuntimeWarning about log(0)
def test_binary_cross_entropy_at_probabilities_0_and_1_is_finite_like_torch():
    p = np.array([0.0, 1.0, 0.0, 1.0])
    t = np.array([0.0, 1.0, 1.0, 0.0])  # two perfect answers, two certain mistakes
    pn, tn = dp.Param(p), dp.Param(t)
    L = dp.binary_cross_entropy(pn, tn)
    dp.Graph(L).backward(L)
    tp = torch.tensor(p, requires_grad=True)
    tt = torch.tensor(t, requires_grad=True)
    ref = F.binary_cross_entropy(tp, tt)
    ref.backward()
    assert L.value == pytest.approx(ref.item(), rel=1e-12)  # each log clamped at -100
    assert L.value == pytest.approx(50.0)
    np.testing.assert_allclose(pn.grad, tp.grad.numpy(), rtol=TORCH_RTOL)
    # d/dt of the clamped loss: (log(1 - p) - log(p)) / N with both logs clamped at -100.
    # (torch leaves these logs unclamped here and reports +-inf.)
    np.testing.assert_allclose(tn.grad, [25.0, -25.0, 25.0, -25.0])


@given(n=st.integers(1, 6), classes=st.integers(2, 5), seed=seeds)
def test_cross_entropy_with_integer_labels_matches_torch(n, classes, seed):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, classes)) * 3
    labels = rng.integers(0, classes, n)  # int64, as make_moons and friends return them
    check_against_torch_and_differences(
        lambda z: dp.cross_entropy(z, labels),
        lambda z: F.cross_entropy(z, torch.from_numpy(labels)), logits, seed=seed)


def test_cross_entropy_labels_as_an_input_node_get_zero_gradient():
    logits = dp.Param(np.array([[2.0, -1.0, 0.5], [0.0, 0.3, 0.1]]))
    y = dp.Input(np.array([2, 0]), name="y")
    L = dp.cross_entropy(logits, y)
    dp.Graph(L).backward(L)
    ref = F.cross_entropy(torch.tensor(logits.value), torch.tensor([2, 0]))
    assert L.value == pytest.approx(ref.item(), rel=TORCH_RTOL)
    np.testing.assert_array_equal(y.grad, [0.0, 0.0])


def test_cross_entropy_follows_new_label_values_on_rerun():
    # Training on minibatches of one size changes the labels but not their shape.
    rng = np.random.default_rng(0)
    z = dp.Param(rng.standard_normal((4, 3)))
    y = dp.Input(np.array([0, 1, 2, 0]))
    L = dp.cross_entropy(z, y)
    g = dp.Graph(L)
    y.value = np.array([2, 2, 1, 1])
    g.forward()
    g.backward(L)
    tz = torch.tensor(z.value, requires_grad=True)
    ref = F.cross_entropy(tz, torch.tensor([2, 2, 1, 1]))
    ref.backward()
    assert L.value == pytest.approx(ref.item(), rel=TORCH_RTOL)
    np.testing.assert_allclose(z.grad, tz.grad.numpy(), rtol=TORCH_RTOL, atol=TORCH_ATOL)


def test_cross_entropy_of_large_logits_is_finite():
    L = dp.cross_entropy(dp.Param(np.array([[1000.0, -1000.0], [0.0, 800.0]])), np.array([1, 1]))
    assert L.value == pytest.approx(1000.0)


def test_each_loss_returns_a_scalar_mean_over_the_batch():
    pred = dp.Param(np.ones((5, 1)) * 0.5)
    target = np.zeros((5, 1))
    for L in (dp.mse_loss(pred, target), dp.binary_cross_entropy(pred, target),
              dp.cross_entropy(dp.Param(np.zeros((5, 3))), np.zeros(5, dtype=np.int64))):
        assert np.shape(L.value) == ()
    assert dp.mse_loss(pred, target).value == pytest.approx(0.25)
    assert dp.cross_entropy(dp.Param(np.zeros((5, 3))), np.zeros(5, dtype=np.int64)).value == \
        pytest.approx(np.log(3))
