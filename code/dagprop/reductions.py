"""Reductions and normalisations along axes: sum, mean, softmax, log_softmax.

Each reads its axes against the shape of the value at hand, in ``forward`` and in ``backward``
alike, so a node stays right when its operand changes rank. ``check`` only turns a bad axis into
a ``ValueError`` naming the op, the axis and the shape (numpy's own errors name none of them).
"""

from __future__ import annotations

import numbers

import numpy as np

from .nodes import Compute, unreached

__all__ = ["Sum", "Mean", "Softmax", "LogSoftmax", "normalize_axes"]


def normalize_axes(axis, ndim: int, op: str, node) -> tuple:
    """``axis`` (None, an int or a sequence of ints) as a sorted tuple of non-negative axes of an
    array with ``ndim`` axes; ``ValueError`` naming ``op``, the axis and the shape otherwise."""
    shape = np.shape(node.value)
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if _is_int(axis) else tuple(axis) if isinstance(axis, (tuple, list)) else None
    if axes is None or not all(_is_int(ax) for ax in axes):
        raise ValueError(f"{op}: axis must be None, an integer or a tuple of integers, got "
                         f"{axis!r} (for {node.label} of shape {shape})")
    for ax in axes:
        if not -ndim <= ax < ndim:
            raise ValueError(f"{op}: axis {ax} is out of range for {node.label} of shape {shape}")
    norm = tuple(sorted(int(ax) % ndim for ax in axes))
    if len(set(norm)) != len(norm):
        raise ValueError(f"{op}: axis {tuple(axes)} names an axis twice, for {node.label} of "
                         f"shape {shape}")
    return norm


def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _keep_float(v, x):
    # numpy returns a numpy float64 for a Python float; give a Python float back (see ops.py).
    return float(v) if type(x) is float else v


class _Reduce(Compute):
    __slots__ = ("axis", "keepdims")

    def __init__(self, x, axis=None, keepdims=False, name=None):
        self.axis, self.keepdims = axis, keepdims
        super().__init__(x, name=name)

    def check(self):
        x = self.parents[0]
        normalize_axes(self.axis, np.ndim(x.value), self.op, x)

    def _axes(self):
        x = self.parents[0]
        return None if self.axis is None else normalize_axes(self.axis, np.ndim(x.value),
                                                             self.op, x)

    def _spread(self, g):
        """Broadcast the output gradient back over the reduced axes."""
        x = self.parents[0]
        if not self.keepdims and self.axis is not None:
            g = np.expand_dims(g, self._axes())
        # In x's float dtype even when the seed was the integer 1 (``loss.grad = 1``), so that
        # float gradients can later be added into it in place.
        return np.broadcast_to(g, np.shape(x.value)).astype(np.result_type(x.value), copy=False)


class Sum(_Reduce):
    __slots__ = ()
    op = "sum"

    def forward(self):
        x = self.parents[0].value
        self.value = _keep_float(np.sum(x, axis=self._axes(), keepdims=self.keepdims), x)

    def backward(self):
        if unreached(self):  # the integer 0 a backward pass starts at: nothing to send
            return
        self.parents[0].grad += self._spread(self.grad)


class Mean(_Reduce):
    __slots__ = ()
    op = "mean"

    def forward(self):
        x = self.parents[0].value
        self.value = _keep_float(np.mean(x, axis=self._axes(), keepdims=self.keepdims), x)

    def backward(self):
        if unreached(self):
            return
        x = self.parents[0]
        n = np.size(x.value) // max(np.size(self.value), 1)
        x.grad += self._spread(self.grad) / max(n, 1)


class _AlongAxis(Compute):
    __slots__ = ("axis",)

    def __init__(self, x, axis=-1, name=None):
        self.axis = axis
        super().__init__(x, name=name)

    def check(self):
        x = self.parents[0]
        nd = np.ndim(x.value)
        if not _is_int(self.axis):
            raise ValueError(f"{self.op}: axis must be one integer, got {self.axis!r} (for "
                             f"{x.label} of shape {np.shape(x.value)}); {self.op} normalises "
                             "along one axis, as torch's dim does")
        if nd == 0 or not -nd <= self.axis < nd:
            raise ValueError(f"{self.op}: axis {self.axis} is out of range for {x.label} of "
                             f"shape {np.shape(x.value)}")


def _softmax(x, axis):
    if np.size(x) == 0:  # nothing to normalise: an empty result, as torch gives
        return np.array(x, copy=True)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


class Softmax(_AlongAxis):
    """Every output depends on every input along ``axis``: backward sums the full Jacobian."""

    __slots__ = ()
    op = "softmax"

    def forward(self):
        self.value = _softmax(self.parents[0].value, self.axis)

    def backward(self):
        y, g = self.value, self.grad
        # J^T g with J = diag(y) - y y^T, without forming J.
        self.parents[0].grad += y * (g - np.sum(g * y, axis=self.axis, keepdims=True))


class LogSoftmax(_AlongAxis):
    __slots__ = ()
    op = "log_softmax"

    def forward(self):
        x = self.parents[0].value
        if np.size(x) == 0:
            self.value = np.array(x, copy=True)
            return
        m = np.max(x, axis=self.axis, keepdims=True)
        self.value = x - m - np.log(np.sum(np.exp(x - m), axis=self.axis, keepdims=True))

    def backward(self):
        if unreached(self):  # the integer 0 a backward pass starts at: nothing to send
            return
        g = self.grad
        self.parents[0].grad += g - np.exp(self.value) * np.sum(g, axis=self.axis, keepdims=True)
