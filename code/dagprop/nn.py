"""Dense layers and an MLP builder made of dagprop nodes, for chapter 3 and the assignments.

Initialisation follows torch.nn.Linear: weights and biases uniform in [-1/sqrt(fan_in), 1/sqrt(fan_in)],
so a dagprop MLP and a torch MLP can start from the same numbers. Weights are stored (in, out), so
a layer computes ``x @ W + b`` for a batch ``x`` of shape (N, in); a ``torch.nn.Linear`` stores the
transpose, so copy ``W.value.T`` into its ``weight`` and ``b.value`` into its ``bias``.
"""

from __future__ import annotations

import numpy as np

from . import ops
from .graph import Node, Param

__all__ = ["Linear", "MLP", "ACTIVATIONS"]

ACTIVATIONS = {"relu": ops.relu, "tanh": ops.tanh, "sigmoid": ops.sigmoid}


class Linear:
    """``x @ W + b`` with ``W`` of shape (fan_in, fan_out) and ``b`` of shape (fan_out,)."""

    def __init__(self, fan_in: int, fan_out: int, rng: np.random.Generator | None = None,
                 dtype=np.float64, name: str = ""):
        rng = np.random.default_rng(0) if rng is None else rng
        bound = 1 / np.sqrt(fan_in)
        self.W = Param(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype), name=f"W{name}")
        self.b = Param(rng.uniform(-bound, bound, (fan_out,)).astype(dtype), name=f"b{name}")

    def __call__(self, x: Node) -> Node:
        return x @ self.W + self.b

    @property
    def params(self) -> list[Param]:
        return [self.W, self.b]


class MLP:
    """A multilayer perceptron: ``sizes = [n_in, h1, ..., n_out]``, ``activation`` between layers
    and none after the last (it returns logits or raw predictions).

    >>> net = MLP([2, 16, 16, 1], activation="relu", seed=0)
    >>> out = net(dp.Input(X))         # builds the compute nodes, shape (N, 1)
    """

    def __init__(self, sizes: list[int], activation: str = "relu", seed: int = 0,
                 dtype=np.float64):
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes needs at least an input and an output size, got {sizes}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"MLP: unknown activation {activation!r}; choose one of "
                             f"{sorted(ACTIVATIONS)}")
        rng = np.random.default_rng(seed)
        self.sizes, self.activation = list(sizes), activation
        self.layers = [Linear(a, b, rng, dtype, name=str(i + 1))
                       for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))]

    def __call__(self, x: Node) -> Node:
        phi = ACTIVATIONS[self.activation]
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = phi(x)
        return x

    @property
    def params(self) -> list[Param]:
        return [p for layer in self.layers for p in layer.params]

    def __repr__(self):
        return f"MLP({self.sizes}, activation={self.activation!r})"
