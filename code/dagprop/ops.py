"""The operations: each compute node's forward and its local gradient, side by side.

Every op is a ``Compute`` subclass with three short methods: ``check`` (are the operand shapes
valid?), ``forward`` (the value) and ``backward`` (add local gradient x ``self.grad`` into each
parent's ``.grad``). Broadcasting is handled in one place: ``unbroadcast`` sums a gradient back to
its operand's shape. Binary ops on Python floats skip it (nothing can be broadcast between
scalars), which keeps graphs of scalar nodes fast.

Arithmetic and elementwise functions are defined here; reductions (sum, mean, softmax,
log_softmax) in ``reductions.py`` and shape operations (index, transpose, reshape) in
``shape_ops.py``; all are importable from here.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .nodes import Compute, Constant, Node, unreached, zeros_like
from .reductions import LogSoftmax, Mean, Softmax, Sum
from .shape_ops import Index, Reshape, Transpose

__all__ = [
    "Add", "Sub", "Mul", "Div", "Neg", "Pow", "Power", "MatMul", "Exp", "Log", "Tanh", "Sigmoid",
    "ReLU", "Sum", "Mean", "Softmax", "LogSoftmax", "Index", "Transpose", "Reshape",
    "exp", "log", "tanh", "sigmoid", "relu", "sum", "mean", "softmax", "log_softmax",
    "transpose", "reshape", "as_node", "unbroadcast", "sigmoid_pair",
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
        if like is not None and isinstance(c.value, (np.ndarray, np.generic)) \
                and c.value.dtype.kind == "f":
            dt = np.result_type(like.value)
            if dt != np.float64 and c.value.dtype != dt:
                c.value = c.value.astype(dt)
        return c
    raise TypeError(f"{op}: unsupported operand of type {type(x).__name__}; "
                    "use a dagprop node, a Python number or a numpy array")


def _keep_float(v, *operands):
    # numpy returns a numpy float64 for Python float operands, and numpy 2 treats that as a
    # strong float64 that upcasts the float32 arrays it meets: give a Python float back.
    return float(v) if all(type(x) is float for x in operands) else v


class _Binary(Compute):
    """Elementwise op of two operands with numpy broadcasting."""

    __slots__ = ()

    def check(self):
        a, b = self.parents
        if type(a.value) is float and type(b.value) is float:  # fast path for scalar graphs
            return
        sa, sb = np.shape(a.value), np.shape(b.value)
        try:
            np.broadcast_shapes(sa, sb)
        except ValueError:
            raise ValueError(
                f"{self.op}: shapes {sa} ({a.label}) and {sb} ({b.label}) cannot be broadcast "
                "together") from None

    def _send(self, ga, gb):
        """Add ``ga`` and ``gb`` into the operands' gradients, each summed back to its operand's
        shape (numpy may have broadcast it)."""
        if unreached(self):  # the integer 0 a backward pass starts at: nothing to send
            return
        a, b = self.parents
        if a.kind != "constant":  # a constant keeps no gradient: sum nothing up for it
            a.grad += unbroadcast(ga, np.shape(a.value))
        if b.kind != "constant":
            b.grad += unbroadcast(gb, np.shape(b.value))


class Add(_Binary):
    __slots__ = ()
    op = "add"

    def forward(self):
        a, b = self.parents
        self.value = a.value + b.value

    def backward(self):
        a, b = self.parents
        g = self.grad
        if type(g) is not float:  # arrays: sum broadcast axes back
            return self._send(g, g)
        a.grad += g
        b.grad += g


class Sub(_Binary):
    __slots__ = ()
    op = "sub"

    def forward(self):
        a, b = self.parents
        self.value = a.value - b.value

    def backward(self):
        a, b = self.parents
        g = self.grad
        if type(g) is not float:  # arrays: sum broadcast axes back
            return self._send(g, -g)
        a.grad += g
        b.grad -= g


class Mul(_Binary):
    __slots__ = ()
    op = "mul"

    def forward(self):
        a, b = self.parents
        self.value = a.value * b.value

    def backward(self):
        a, b = self.parents
        g = self.grad
        if type(g) is not float:  # arrays: sum broadcast axes back
            return self._send(g * b.value, g * a.value)
        a.grad += g * b.value
        b.grad += g * a.value


class Div(_Binary):
    __slots__ = ()
    op = "div"

    def forward(self):
        a, b = self.parents
        # numpy, so 1/0 is inf (caught by detect_anomaly), not an exception
        self.value = _keep_float(np.divide(a.value, b.value), a.value, b.value)

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
    """``x ** p`` for a fixed number ``p`` (``x ** node`` and ``number ** x`` are ``Power``)."""

    __slots__ = ("p",)
    op = "pow"

    def __init__(self, x, p, name=None):
        if not isinstance(p, numbers.Real) or isinstance(p, bool):
            raise TypeError(f"pow: the exponent must be a number, got {type(p).__name__}")
        self.p = float(p)
        super().__init__(x, name=name)

    def forward(self):
        x = self.parents[0].value
        self.value = _keep_float(np.power(x, self.p), x)

    def backward(self):
        x = self.parents[0]
        # p x^(p-1), except that x^0 is constant: its slope is 0 even at x = 0 (not 0 * inf).
        local = self.p * np.power(x.value, self.p - 1) if self.p else zeros_like(x.value)
        x.grad += self.grad * _keep_float(local, x.value)


class Power(_Binary):
    """``x ** y`` where the exponent is a node or an array too: ``2 ** x``, ``x ** y``.

    d/dx = y x^(y-1) (0 where y = 0) and d/dy = x^y log x (0 where x = 0 and y >= 0), as torch
    defines them; the log of a negative base is NaN there too. A constant exponent gets nothing.
    """

    __slots__ = ()
    op = "pow"

    def forward(self):
        a, b = self.parents
        self.value = _keep_float(np.power(a.value, b.value), a.value, b.value)

    def backward(self):
        if unreached(self):
            return
        a, b = self.parents
        x, y, g = a.value, b.value, self.grad
        with np.errstate(divide="ignore", invalid="ignore"):
            ga = g * np.where(y == 0, 0.0, y * np.power(x, y - 1))
            if b.kind == "constant":  # x ** 2.5 or x ** array: no log needed
                a.grad += unbroadcast(ga, np.shape(x))
                return
            gb = g * np.where((x == 0) & (y >= 0), 0.0, self.value * np.log(x))
        self._send(ga, gb)


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
        if unreached(self):  # the integer 0 a backward pass starts at: nothing to send
            return
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
        x = self.parents[0].value
        self.value = _keep_float(np.exp(x), x)

    def backward(self):
        self.parents[0].grad += self.grad * self.value


class Log(Compute):
    __slots__ = ()
    op = "log"

    def forward(self):
        x = self.parents[0].value
        self.value = _keep_float(np.log(x), x)

    def backward(self):
        x = self.parents[0]
        x.grad += self.grad / x.value


class Tanh(Compute):
    __slots__ = ()
    op = "tanh"

    def forward(self):
        x = self.parents[0].value
        self.value = math.tanh(x) if type(x) is float else np.tanh(x)

    def backward(self):
        self.parents[0].grad += self.grad * (1 - self.value * self.value)


def sigmoid_pair(x):
    """``(sigmoid(x), sigmoid(-x))``, the second being 1 - sigmoid(x), each to within a few
    rounding errors on both tails: with e = exp(-|x|) <= 1, sigmoid is 1 / (1 + e) on one side
    and e / (1 + e) on the other, so nothing overflows and nothing is lost to 1 - (almost 1)."""
    if type(x) is float:
        e = math.exp(-abs(x)) if x == x else x  # NaN stays NaN
        r = 1.0 / (1.0 + e)
        return (r, e * r) if x >= 0 else (e * r, r)
    e = np.exp(-np.abs(x))
    r = 1 / (1 + e)
    er = e * r
    pos = x >= 0
    return np.where(pos, r, er)[()], np.where(pos, er, r)[()]


class Sigmoid(Compute):
    """The logistic function 1 / (1 + e^-x); its local gradient is sigmoid(x) sigmoid(-x)."""

    __slots__ = ()
    op = "sigmoid"

    def forward(self):
        self.value = sigmoid_pair(self.parents[0].value)[0]

    def backward(self):
        x = self.parents[0]
        # y (1 - y), with 1 - y = sigmoid(-x) computed from x: for large x, 1 - y would be 0.
        x.grad += self.grad * self.value * sigmoid_pair(x.value)[1]


class ReLU(Compute):
    __slots__ = ()
    op = "relu"

    def forward(self):
        x = self.parents[0].value
        # NaN stays NaN (`x <= 0` is false for it), as with np.maximum
        self.value = (0.0 if x <= 0.0 else x) if type(x) is float else np.maximum(x, 0)

    def backward(self):
        x = self.parents[0]
        x.grad += self.grad * (x.value > 0)


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


def _pow(self, p):
    if isinstance(p, numbers.Real) and not isinstance(p, bool):
        return Pow(self, p)  # a fixed number: one parent, as the course draws x ** 2
    return Power(self, as_node(p, "pow", like=self))


def _rpow(self, base):
    return Power(as_node(base, "pow", like=self), self)


def _iter(self):
    # Without this, Python would iterate through __getitem__ until an IndexError that indexing
    # a node never raises (it reports bad indices as ValueError): list(node) would never end.
    shape = np.shape(self.value)
    if not shape:
        raise TypeError(f"iteration over {self.describe()}, a scalar (0-d) node")
    return (Index(self, i) for i in range(shape[0]))


Node.__add__, Node.__radd__ = _binary(Add, "add")
Node.__sub__, Node.__rsub__ = _binary(Sub, "sub")
Node.__mul__, Node.__rmul__ = _binary(Mul, "mul")
Node.__truediv__, Node.__rtruediv__ = _binary(Div, "div")
Node.__matmul__, Node.__rmatmul__ = _binary(MatMul, "matmul")
Node.__neg__ = lambda self: Neg(self)
Node.__pow__ = _pow
Node.__rpow__ = _rpow
Node.__getitem__ = lambda self, key: Index(self, key)
Node.__iter__ = _iter
Node.T = property(lambda self: Transpose(self))
Node.reshape = lambda self, *shape: Reshape(self, shape[0] if len(shape) == 1 else shape)
