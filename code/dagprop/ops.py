"""The operations: each compute node's forward and its local gradient, side by side.

Every op is a ``Compute`` subclass with three short methods: ``check`` (are the operand shapes
valid?), ``forward`` (the value) and ``backward`` (add local gradient x ``self.grad`` into each
parent's ``.grad``). Broadcasting is handled in one place: ``unbroadcast`` sums a gradient back to
its operand's shape, and binary ops call it only when ``check`` found that an operand was broadcast.
"""

from __future__ import annotations

import numbers

import numpy as np

from .graph import Compute, Constant, Node

__all__ = [
    "Add", "Sub", "Mul", "Div", "Neg", "Pow", "MatMul", "Exp", "Log", "Tanh", "Sigmoid", "ReLU",
    "Sum", "Mean", "Softmax", "LogSoftmax", "Index", "Transpose", "Reshape",
    "exp", "log", "tanh", "sigmoid", "relu", "sum", "mean", "softmax", "log_softmax",
    "transpose", "reshape", "as_node", "unbroadcast",
]


# --- shared mechanisms ----------------------------------------------------------------------

def unbroadcast(g, shape: tuple):
    """Sum ``g`` over the axes that numpy broadcasting added or stretched to reach ``g.shape``
    from ``shape``, so the gradient of an operand has the operand's shape."""
    gshape = np.shape(g)
    if gshape == shape:
        return g
    lead = len(gshape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and gshape[lead + i] != 1)
    return np.sum(g, axis=axes).reshape(shape)


def as_node(x, op: str = "op", like: Node | None = None) -> Node:
    """Return ``x`` if it is a node; wrap a Python number or numpy array as a ``Constant``.

    A float array next to a float32 node is cast to float32, so constants never upcast a graph.
    """
    if isinstance(x, Node):
        return x
    if isinstance(x, (numbers.Number, np.ndarray, np.generic)) and not isinstance(x, complex):
        c = Constant(x)
        if like is not None and isinstance(c.value, np.ndarray) and c.value.dtype.kind == "f":
            dt = np.result_type(like.value)
            if dt == np.float32 and c.value.dtype != np.float32:
                c.value = c.value.astype(np.float32)
        return c
    raise TypeError(f"{op}: unsupported operand of type {type(x).__name__}; "
                    "use a dagprop node, a Python number or a numpy array")


class _Binary(Compute):
    """Elementwise op of two operands with numpy broadcasting."""

    __slots__ = ()

    def check(self):
        a, b = self.parents
        if type(a.value) is float and type(b.value) is float:  # fast path for scalar graphs
            self.bcast = False
            return
        sa, sb = np.shape(a.value), np.shape(b.value)
        try:
            out = np.broadcast_shapes(sa, sb)
        except ValueError:
            raise ValueError(
                f"{self.op}: shapes {sa} ({a.label}) and {sb} ({b.label}) cannot be broadcast "
                "together") from None
        self.bcast = sa != out or sb != out

    def _send(self, ga, gb):
        a, b = self.parents
        if self.bcast:
            ga = unbroadcast(ga, np.shape(a.value))
            gb = unbroadcast(gb, np.shape(b.value))
        a.grad += ga
        b.grad += gb


class Add(_Binary):
    __slots__ = ()
    op = "add"

    def forward(self):
        a, b = self.parents
        self.value = a.value + b.value

    def backward(self):
        a, b = self.parents
        if self.bcast:
            return self._send(self.grad, self.grad)
        a.grad += self.grad
        b.grad += self.grad


class Sub(_Binary):
    __slots__ = ()
    op = "sub"

    def forward(self):
        a, b = self.parents
        self.value = a.value - b.value

    def backward(self):
        self._send(self.grad, -self.grad)


class Mul(_Binary):
    __slots__ = ()
    op = "mul"

    def forward(self):
        a, b = self.parents
        self.value = a.value * b.value

    def backward(self):
        a, b = self.parents
        g = self.grad
        if self.bcast:
            return self._send(g * b.value, g * a.value)
        a.grad += g * b.value
        b.grad += g * a.value


class Div(_Binary):
    __slots__ = ()
    op = "div"

    def forward(self):
        a, b = self.parents
        self.value = np.divide(a.value, b.value)  # numpy, so 1/0 is inf (with anomaly check) not an exception

    def backward(self):
        a, b = self.parents
        g = self.grad / b.value
        self._send(g, -g * self.value)


class Neg(Compute):
    __slots__ = ()
    op = "neg"

    def forward(self):
        self.value = -self.parents[0].value

    def backward(self):
        self.parents[0].grad -= self.grad


class Pow(Compute):
    """``x ** p`` for a fixed number ``p``."""

    __slots__ = ("p",)
    op = "pow"

    def __init__(self, x, p, name=None):
        if not isinstance(p, numbers.Real) or isinstance(p, bool):
            raise TypeError(f"pow: the exponent must be a Python number, got {type(p).__name__}")
        self.p = float(p)
        super().__init__(x, name=name)

    def forward(self):
        self.value = np.power(self.parents[0].value, self.p)

    def backward(self):
        x = self.parents[0]
        # p x^(p-1), except that x^0 is constant: its slope is 0 even at x = 0 (not 0 * inf).
        local = self.p * np.power(x.value, self.p - 1) if self.p else 0 * x.value
        x.grad += self.grad * local


class MatMul(Compute):
    """``a @ b`` for 1-D and 2-D operands, and stacks of matrices with broadcast batch axes."""

    __slots__ = ()
    op = "matmul"

    def check(self):
        a, b = self.parents
        sa, sb = np.shape(a.value), np.shape(b.value)
        if len(sa) == 0 or len(sb) == 0:
            raise ValueError(f"matmul: operands must have at least one axis, got shapes {sa} "
                             f"({a.label}) and {sb} ({b.label}); use * for scalars")
        ka = sa[-1]
        kb = sb[0] if len(sb) == 1 else sb[-2]
        if ka != kb:
            raise ValueError(f"matmul: shapes {sa} ({a.label}) and {sb} ({b.label}) are not "
                             f"aligned: {ka} (last axis of {a.label}) != {kb} "
                             f"({'first' if len(sb) == 1 else 'second-to-last'} axis of {b.label})")
        try:
            np.broadcast_shapes(sa[:-2], sb[:-2])
        except ValueError:
            raise ValueError(f"matmul: batch axes of shapes {sa} and {sb} cannot be broadcast") from None

    def forward(self):
        a, b = self.parents
        self.value = a.value @ b.value

    def backward(self):
        a, b = self.parents
        av, bv, g = a.value, b.value, self.grad
        if av.ndim == 2 and bv.ndim == 2:  # the common case: no reshaping needed
            a.grad += g @ bv.T
            b.grad += av.T @ g
            return
        # Promote 1-D operands to matrices, as numpy's matmul does, then undo it.
        a2 = av[None, :] if av.ndim == 1 else av
        b2 = bv[:, None] if bv.ndim == 1 else bv
        g2 = g
        if bv.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        if av.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        ga = unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(av.shape)
        gb = unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(bv.shape)
        a.grad += ga
        b.grad += gb


# --- elementwise functions: forward and local gradient -----------------------------------------

class Exp(Compute):
    __slots__ = ()
    op = "exp"

    def forward(self):
        self.value = np.exp(self.parents[0].value)

    def backward(self):
        self.parents[0].grad += self.grad * self.value


class Log(Compute):
    __slots__ = ()
    op = "log"

    def forward(self):
        self.value = np.log(self.parents[0].value)

    def backward(self):
        x = self.parents[0]
        x.grad += self.grad / x.value


class Tanh(Compute):
    __slots__ = ()
    op = "tanh"

    def forward(self):
        self.value = np.tanh(self.parents[0].value)

    def backward(self):
        self.parents[0].grad += self.grad * (1 - self.value * self.value)


class Sigmoid(Compute):
    __slots__ = ()
    op = "sigmoid"

    def forward(self):
        # 1 / (1 + e^-x) written with tanh: exact, and no overflow warning for large |x|.
        x = self.parents[0].value
        self.value = 0.5 * (np.tanh(0.5 * x) + 1)

    def backward(self):
        y = self.value
        self.parents[0].grad += self.grad * y * (1 - y)


class ReLU(Compute):
    __slots__ = ()
    op = "relu"

    def forward(self):
        x = self.parents[0].value
        self.value = (x if x > 0.0 else 0.0) if type(x) is float else np.maximum(x, 0)

    def backward(self):
        x = self.parents[0]
        x.grad += self.grad * (x.value > 0)


# --- reductions and normalisations -------------------------------------------------------------

def _axes(axis, ndim, op, node):
    """Normalise ``axis`` (None, int or tuple) to a tuple of non-negative axes, checking range."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    for ax in axes:
        if not -ndim <= ax < ndim:
            raise ValueError(f"{op}: axis {ax} is out of range for {node.label} of shape "
                             f"{np.shape(node.value)}")
    return tuple(sorted(ax % ndim for ax in axes))


class _Reduce(Compute):
    __slots__ = ("axis", "keepdims", "_axes")

    def __init__(self, x, axis=None, keepdims=False, name=None):
        self.axis, self.keepdims = axis, keepdims
        super().__init__(x, name=name)

    def check(self):
        x = self.parents[0]
        self._axes = _axes(self.axis, np.ndim(x.value), self.op, x)

    def _spread(self, g):
        """Broadcast the output gradient back over the reduced axes."""
        x = self.parents[0]
        if not self.keepdims:
            g = np.expand_dims(g, self._axes)
        # In x's float dtype even when the seed was the integer 1 (``loss.grad = 1``), so that
        # float gradients can later be added into it in place.
        return np.broadcast_to(g, np.shape(x.value)).astype(np.result_type(x.value), copy=False)


class Sum(_Reduce):
    __slots__ = ()
    op = "sum"

    def forward(self):
        self.value = np.sum(self.parents[0].value, axis=self._axes, keepdims=self.keepdims)

    def backward(self):
        self.parents[0].grad += self._spread(self.grad)


class Mean(_Reduce):
    __slots__ = ()
    op = "mean"

    def forward(self):
        self.value = np.mean(self.parents[0].value, axis=self._axes, keepdims=self.keepdims)

    def backward(self):
        x = self.parents[0]
        n = np.size(x.value) // max(np.size(self.value), 1)
        x.grad += self._spread(self.grad) / n


class _AlongAxis(Compute):
    __slots__ = ("axis",)

    def __init__(self, x, axis=-1, name=None):
        self.axis = axis
        super().__init__(x, name=name)

    def check(self):
        x = self.parents[0]
        nd = np.ndim(x.value)
        if nd == 0 or not -nd <= self.axis < nd:
            raise ValueError(f"{self.op}: axis {self.axis} is out of range for {x.label} of "
                             f"shape {np.shape(x.value)}")


def _softmax(x, axis):
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
        m = np.max(x, axis=self.axis, keepdims=True)
        self.value = x - m - np.log(np.sum(np.exp(x - m), axis=self.axis, keepdims=True))

    def backward(self):
        g = self.grad
        self.parents[0].grad += g - np.exp(self.value) * np.sum(g, axis=self.axis, keepdims=True)


# --- shape ops ---------------------------------------------------------------------------------

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
        except ValueError:
            raise ValueError(f"reshape: cannot reshape {x.label} of shape {np.shape(x.value)} "
                             f"into {self.newshape}") from None

    def forward(self):
        self.value = np.reshape(self.parents[0].value, self.newshape)

    def backward(self):
        x = self.parents[0]
        x.grad += np.reshape(self.grad, np.shape(x.value))


# --- the functions users call -------------------------------------------------------------------

def exp(x, name=None):
    """Elementwise e^x."""
    return Exp(as_node(x, "exp"), name=name)


def log(x, name=None):
    """Elementwise natural logarithm."""
    return Log(as_node(x, "log"), name=name)


def tanh(x, name=None):
    """Elementwise hyperbolic tangent."""
    return Tanh(as_node(x, "tanh"), name=name)


def sigmoid(x, name=None):
    """Elementwise logistic function 1 / (1 + e^-x)."""
    return Sigmoid(as_node(x, "sigmoid"), name=name)


def relu(x, name=None):
    """Elementwise max(x, 0)."""
    return ReLU(as_node(x, "relu"), name=name)


def sum(x, axis=None, keepdims=False, name=None):  # noqa: A001 - mirrors numpy/torch
    """Sum over ``axis`` (all axes when None)."""
    return Sum(as_node(x, "sum"), axis=axis, keepdims=keepdims, name=name)


def mean(x, axis=None, keepdims=False, name=None):
    """Mean over ``axis`` (all axes when None)."""
    return Mean(as_node(x, "mean"), axis=axis, keepdims=keepdims, name=name)


def softmax(x, axis=-1, name=None):
    """exp(x) normalised to sum to one along ``axis``."""
    return Softmax(as_node(x, "softmax"), axis=axis, name=name)


def log_softmax(x, axis=-1, name=None):
    """log(softmax(x)), computed stably."""
    return LogSoftmax(as_node(x, "log_softmax"), axis=axis, name=name)


def transpose(x, axes=None, name=None):
    """Permute axes (reverse them when None)."""
    return Transpose(as_node(x, "transpose"), axes=axes, name=name)


def reshape(x, shape, name=None):
    """The same values in a new shape."""
    return Reshape(as_node(x, "reshape"), shape, name=name)


# --- operators on nodes ------------------------------------------------------------------------

def _binary(cls, op):
    def left(self, other):
        return cls(self, as_node(other, op, like=self))

    def right(self, other):
        return cls(as_node(other, op, like=self), self)

    return left, right


Node.__add__, Node.__radd__ = _binary(Add, "add")
Node.__sub__, Node.__rsub__ = _binary(Sub, "sub")
Node.__mul__, Node.__rmul__ = _binary(Mul, "mul")
Node.__truediv__, Node.__rtruediv__ = _binary(Div, "div")
Node.__matmul__, Node.__rmatmul__ = _binary(MatMul, "matmul")
Node.__neg__ = lambda self: Neg(self)
Node.__pow__ = lambda self, p: Pow(self, p)
Node.__getitem__ = lambda self, key: Index(self, key)
Node.T = property(lambda self: Transpose(self))
Node.reshape = lambda self, *shape: Reshape(self, shape[0] if len(shape) == 1 else shape)


def _rpow(self, other):
    raise TypeError("pow: only a Python number exponent is supported (node ** 2.0); "
                    "for number ** node write dp.exp(node * log(number))")


Node.__rpow__ = _rpow
