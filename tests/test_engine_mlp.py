"""dp.nn.MLP agrees with the same network in torch (weights copied into torch.nn.Linear):
outputs, losses, gradients and one SGD step, for each activation and each loss."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from engine_helpers import TORCH_ATOL, TORCH_RTOL

import dagprop as dp

TORCH_ACT = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid}


def torch_copy(net: dp.nn.MLP) -> torch.nn.Sequential:
    """The same network in torch. dagprop stores W as (in, out); torch.nn.Linear as (out, in)."""
    layers = []
    for k, layer in enumerate(net.layers):
        fan_in, fan_out = layer.W.value.shape
        lin = torch.nn.Linear(fan_in, fan_out, dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(layer.W.value.T.copy()))
            lin.bias.copy_(torch.from_numpy(layer.b.value.copy()))
        layers.append(lin)
        if k < len(net.layers) - 1:
            layers.append(TORCH_ACT[net.activation]())
    return torch.nn.Sequential(*layers)


def _data(loss, n, rng):
    x = rng.standard_normal((n, 3))
    if loss == "mse":
        return x, rng.standard_normal((n, 2)), 2
    if loss == "bce":
        return x, rng.integers(0, 2, (n, 1)).astype(np.float64), 1
    return x, rng.integers(0, 3, n), 3


def _losses(loss, out, tout, target):
    if loss == "mse":
        return dp.mse_loss(out, target), F.mse_loss(tout, torch.from_numpy(target))
    if loss == "bce":
        return (dp.binary_cross_entropy(dp.sigmoid(out), target),
                F.binary_cross_entropy(torch.sigmoid(tout), torch.from_numpy(target)))
    return dp.cross_entropy(out, target), F.cross_entropy(tout, torch.from_numpy(target))


LOSSES = ["mse", "bce", "cross_entropy"]
ACTIVATIONS = ["relu", "tanh", "sigmoid"]


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_mlp_matches_torch_in_output_loss_gradients_and_sgd_step(activation, loss):
    rng = np.random.default_rng([ACTIVATIONS.index(activation), LOSSES.index(loss)])
    xv, target, n_out = _data(loss, 7, rng)
    net = dp.nn.MLP([3, 5, 4, n_out], activation=activation, seed=int(rng.integers(1000)))
    tnet = torch_copy(net)

    x = dp.Input(xv, name="x")
    out = net(x)
    tx = torch.tensor(xv, requires_grad=True)
    tout = tnet(tx)
    L, tL = _losses(loss, out, tout, target)
    g = dp.Graph(L)
    g.backward(L)
    tL.backward()

    np.testing.assert_allclose(out.value, tout.detach().numpy(), rtol=TORCH_RTOL, atol=TORCH_ATOL)
    assert float(L.value) == pytest.approx(tL.item(), rel=TORCH_RTOL)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=TORCH_RTOL, atol=TORCH_ATOL)
    tlin = [m for m in tnet if isinstance(m, torch.nn.Linear)]
    for layer, lin in zip(net.layers, tlin):
        np.testing.assert_allclose(layer.W.grad, lin.weight.grad.numpy().T, rtol=TORCH_RTOL,
                                   atol=TORCH_ATOL)
        np.testing.assert_allclose(layer.b.grad, lin.bias.grad.numpy(), rtol=TORCH_RTOL,
                                   atol=TORCH_ATOL)

    g.sgd(0.05)
    torch.optim.SGD(tnet.parameters(), lr=0.05).step()
    for layer, lin in zip(net.layers, tlin):
        np.testing.assert_allclose(layer.W.value, lin.weight.detach().numpy().T, rtol=1e-14,
                                   atol=1e-15)
        np.testing.assert_allclose(layer.b.value, lin.bias.detach().numpy(), rtol=1e-14,
                                   atol=1e-15)


def test_mlp_params_are_stored_in_out_with_torch_style_uniform_init():
    net = dp.nn.MLP([2, 16, 8, 1], activation="relu", seed=3)
    shapes = [p.value.shape for p in net.params]
    assert shapes == [(2, 16), (16,), (16, 8), (8,), (8, 1), (1,)]
    assert [p.kind for p in net.params] == ["param"] * 6
    for layer in net.layers:
        bound = 1 / np.sqrt(layer.W.value.shape[0])
        for p in (layer.W, layer.b):
            assert np.all(np.abs(p.value) <= bound)
            assert np.abs(p.value).max() > 0.5 * bound  # spread over the interval, not all tiny


def test_mlp_init_is_determined_by_the_seed():
    a, b, c = (dp.nn.MLP([3, 4, 2], seed=s) for s in (1, 1, 2))
    for p, q in zip(a.params, b.params):
        np.testing.assert_array_equal(p.value, q.value)
    assert not np.array_equal(a.params[0].value, c.params[0].value)


def test_mlp_graph_contains_exactly_the_mlp_params():
    net = dp.nn.MLP([2, 3, 1], activation="tanh")
    L = dp.mse_loss(net(dp.Input(np.ones((4, 2)))), np.zeros((4, 1)))
    g = dp.Graph(L)
    assert {id(p) for p in g.params} == {id(p) for p in net.params}


def test_mlp_training_with_sgd_fits_the_moons():
    X, y = dp.data.make_moons(100, noise=0.1, seed=0)
    net = dp.nn.MLP([2, 16, 16, 2], activation="tanh", seed=0)
    x = dp.Input(X, name="x")
    logits = net(x)
    L = dp.cross_entropy(logits, y)
    g = dp.Graph(L)
    first = float(L.value)
    for _ in range(300):
        g.forward()
        g.backward(L)
        g.sgd(0.5)
    g.forward()
    accuracy = np.mean(np.argmax(logits.value, axis=1) == y)
    assert float(L.value) < 0.5 * first
    assert accuracy >= 0.95
