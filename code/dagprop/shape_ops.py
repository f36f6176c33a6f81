"""Operations that move values without arithmetic: indexing, transpose, reshape.

Their backward passes put each gradient entry back where its value came from, so they read the
operand's shape at backward time rather than remembering it.
"""

from __future__ import annotations

import numpy as np

from .nodes import Compute, unreached

__all__ = ["Index", "Transpose", "Reshape"]


class Index(Compute):
    """``x[key]`` for basic and integer-array indexing; repeated indices accumulate gradient."""

    __slots__ = ("key",)
    op = "index"

    def __init__(self, x, key, name=None):
        self.key = key
        super().__init__(x, name=name)

    def check(self):
        x = self.parents[0]
        try:
            np.empty(np.shape(x.value), dtype=np.bool_)[self.key]
        except (IndexError, TypeError) as e:
            raise ValueError(f"index: {self.key!r} is not a valid index for {x.label} of shape "
                             f"{np.shape(x.value)}: {e}") from None

    def forward(self):
        self.value = np.asarray(self.parents[0].value)[self.key]

    def backward(self):
        x = self.parents[0]
        g = np.zeros(np.shape(x.value), dtype=np.result_type(self.grad, x.value))
        np.add.at(g, self.key, self.grad)
        x.grad += g


class Transpose(Compute):
    __slots__ = ("axes",)
    op = "transpose"

    def __init__(self, x, axes=None, name=None):
        self.axes = axes
        super().__init__(x, name=name)

    def check(self):
        x = self.parents[0]
        nd = np.ndim(x.value)
        if self.axes is not None and sorted(ax % nd if -nd <= ax < nd else ax
                                            for ax in self.axes) != list(range(nd)):
            raise ValueError(f"transpose: axes {tuple(self.axes)} are not a permutation of the "
                             f"{nd} axes of {x.label} of shape {np.shape(x.value)}")

    def forward(self):
        self.value = np.transpose(self.parents[0].value, self.axes)

    def backward(self):
        if unreached(self):  # the integer 0 a backward pass starts at: nothing to send
            return
        # The inverse permutation; axes may be negative, so normalise them first.
        nd = np.ndim(self.value)
        inv = None if self.axes is None else np.argsort([ax % nd for ax in self.axes])
        self.parents[0].grad += np.transpose(self.grad, inv)


class Reshape(Compute):
    __slots__ = ("newshape",)
    op = "reshape"

    def __init__(self, x, shape, name=None):
        self.newshape = tuple(shape) if not isinstance(shape, int) else (shape,)
        super().__init__(x, name=name)

    def check(self):
        x = self.parents[0]
        try:
            np.empty(np.shape(x.value), dtype=np.bool_).reshape(self.newshape)
        except (ValueError, TypeError):
            raise ValueError(f"reshape: cannot reshape {x.label} of shape {np.shape(x.value)} "
                             f"into {self.newshape}") from None

    def forward(self):
        self.value = np.reshape(self.parents[0].value, self.newshape)

    def backward(self):
        if unreached(self):  # the integer 0 a backward pass starts at: nothing to send
            return
        x = self.parents[0]
        x.grad += np.reshape(self.grad, np.shape(x.value))
