"""Loss functions, with torch.nn.functional's meaning (mean over the batch).

Each loss is one compute node whose backward is the simplified gradient of the whole expression,
which is both faster and numerically safer than chaining log, exp and mean nodes. Targets must have
exactly the prediction's shape: a loss never broadcasts (N, 1) against (N,) into an (N, N) matrix.
"""

from __future__ import annotations

import numpy as np

from .nodes import Compute
from .ops import Sigmoid, as_node, sigmoid_pair

__all__ = ["MSELoss", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "mse_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy"]


class _PairLoss(Compute):
    """A loss of a prediction and a target of the same shape."""

    __slots__ = ()

    def check(self):
        pred, target = self.parents
        sp, st = np.shape(pred.value), np.shape(target.value)
        if sp != st:
            raise ValueError(
                f"{self.op}: prediction {pred.label} has shape {sp} but target {target.label} has "
                f"shape {st}; they must match (reshape one of them, e.g. t.reshape({sp}))")


class MSELoss(_PairLoss):
    """mean((pred - target)^2)"""

    __slots__ = ()
    op = "mse_loss"

    def forward(self):
        pred, target = self.parents
        self.value = np.mean(np.square(pred.value - target.value))

    def backward(self):
        pred, target = self.parents
        g = self.grad * 2 / np.size(pred.value) * (pred.value - target.value)
        pred.grad += g
        target.grad -= g


def _clamp_floor(dtype) -> float:
    # torch keeps p (1 - p) >= 1e-12 in BCE's gradient; in float16 that would round to 0 (and give
    # 0/0 = NaN), so never go below the dtype's smallest normal number.
    return max(1e-12, float(np.finfo(dtype).tiny))


def _logit_terms(x, t):
    """For logits x and targets t: the per-element loss -(t log s + (1 - t) log(1 - s)) with
    s = sigmoid(x), and s - t, both accurate on both tails (nothing is rounded to 1 first)."""
    s, s_neg = sigmoid_pair(x)                      # sigmoid(x) and 1 - sigmoid(x)
    with np.errstate(over="ignore"):
        soft = np.log1p(np.exp(-np.abs(x)))         # log(1 + e^-|x|), the shared part of both logs
    loss = soft + t * np.maximum(-x, 0) + (1 - t) * np.maximum(x, 0)
    return loss, (1 - t) * s - t * s_neg, s, s_neg


class BCELoss(_PairLoss):
    """mean(-(t log p + (1 - t) log(1 - p))), with each log clamped at -100 as torch does.

    When ``p`` is a ``sigmoid`` node, the loss and the gradient it sends are computed from the
    sigmoid's input (its logits), so they stay right where p itself has rounded to 0 or 1: a
    confidently wrong prediction keeps a gradient of about 1, not 0.
    """

    __slots__ = ()
    op = "binary_cross_entropy"

    def _logits(self):
        p = self.parents[0]
        return p.parents[0].value if isinstance(p, Sigmoid) else None

    def forward(self):
        p, t = (n.value for n in self.parents)
        x = self._logits()
        if x is not None:
            self.value = np.mean(_logit_terms(x, t)[0])
            return
        if np.any((p < 0) | (p > 1)):  # checked on every pass: values change between passes
            raise ValueError(f"{self.op}: probabilities {self.parents[0].label} must lie in [0, 1];"
                             " apply dp.sigmoid to logits first")
        with np.errstate(divide="ignore"):  # log(0) = -inf, clamped to -100 on purpose
            logp = np.maximum(np.log(p), -100)
            log1mp = np.maximum(np.log1p(-p), -100)
        self.value = -np.mean(t * logp + (1 - t) * log1mp)

    def backward(self):
        pn, tn = self.parents
        p, t = pn.value, tn.value
        scale = self.grad / np.size(p)
        x = self._logits()
        if x is not None:
            # dL/dp = (p - t) / (p (1 - p)), every factor computed from the logits; the sigmoid
            # node then multiplies by the same p (1 - p), so dL/dx = p - t to a few roundings.
            # Only 0 must be kept out of the division: p (1 - p) is accurate down to the tiniest
            # normal number (torch's 1e-12 floor would cut the gradient off at |x| = 28).
            _, p_minus_t, s, s_neg = _logit_terms(x, t)
            floor = np.finfo(np.result_type(p)).tiny
            pn.grad += scale * p_minus_t / np.maximum(s * s_neg, floor)
            tn.grad -= scale * x  # log(1 - p) - log(p) = -x
            return
        pn.grad += scale * (p - t) / np.maximum(p * (1 - p), _clamp_floor(np.result_type(p)))
        with np.errstate(divide="ignore"):
            tn.grad += scale * (np.maximum(np.log1p(-p), -100) - np.maximum(np.log(p), -100))


class BCEWithLogitsLoss(_PairLoss):
    """mean(-(t log s + (1 - t) log(1 - s))) with s = sigmoid(x), from the logits ``x``, as
    torch.nn.functional.binary_cross_entropy_with_logits: exact for any x, no clamping."""

    __slots__ = ()
    op = "binary_cross_entropy_with_logits"

    def forward(self):
        x, t = (n.value for n in self.parents)
        self.value = np.mean(_logit_terms(x, t)[0])

    def backward(self):
        xn, tn = self.parents
        x, t = xn.value, tn.value
        scale = self.grad / np.size(x)
        xn.grad += scale * _logit_terms(x, t)[1]
        tn.grad -= scale * x


class CrossEntropyLoss(Compute):
    """mean over the batch of -log softmax(logits)[i, labels[i]], for logits (N, C), labels (N,)."""

    __slots__ = ("_idx",)
    op = "cross_entropy"
    no_grad_to = (1,)  # integer class labels get no gradient, as in torch

    def check(self):
        logits, labels = self.parents
        sl, sy = np.shape(logits.value), np.shape(labels.value)
        if len(sl) != 2 or sy != sl[:1]:
            raise ValueError(f"{self.op}: expected logits of shape (N, C) and labels of shape (N,),"
                             f" got {sl} ({logits.label}) and {sy} ({labels.label})")

    def _index_labels(self):
        # Read the labels on every forward pass: a new minibatch of the same size changes them.
        logits, labels = self.parents
        n, c = np.shape(logits.value)
        y = np.asarray(labels.value)
        bad = (y != np.round(y)) | (y < 0) | (y >= c)
        if np.any(bad):
            i = int(np.argmax(bad))
            raise ValueError(f"{self.op}: labels {labels.label} must be integers in [0, {c}), "
                             f"got {y[i]:g} at position {i}")
        self._idx = (np.arange(n), y.astype(np.intp))

    def forward(self):
        self._index_labels()
        x = self.parents[0].value
        m = np.max(x, axis=1, keepdims=True)
        logp = x - m - np.log(np.sum(np.exp(x - m), axis=1, keepdims=True))
        self.value = -np.mean(logp[self._idx])

    def backward(self):
        logits, labels = self.parents
        x = logits.value
        e = np.exp(x - np.max(x, axis=1, keepdims=True))
        g = e / np.sum(e, axis=1, keepdims=True)
        g[self._idx] -= 1
        logits.grad += g * (self.grad / x.shape[0])
        # Integer class labels get no gradient (labels.grad stays zero), as in torch.


def mse_loss(pred, target, name=None):
    """Mean squared error, as torch.nn.functional.mse_loss."""
    pred = as_node(pred, "mse_loss")
    return MSELoss(pred, as_node(target, "mse_loss", like=pred), name=name)


def binary_cross_entropy(p, t, name=None):
    """Binary cross-entropy of probabilities ``p`` and targets ``t`` in [0, 1], averaged."""
    p = as_node(p, "binary_cross_entropy")
    return BCELoss(p, as_node(t, "binary_cross_entropy", like=p), name=name)


def binary_cross_entropy_with_logits(x, t, name=None):
    """Binary cross-entropy of sigmoid(x) and targets ``t`` in [0, 1], averaged, computed from the
    logits ``x`` (torch.nn.functional.binary_cross_entropy_with_logits)."""
    x = as_node(x, "binary_cross_entropy_with_logits")
    return BCEWithLogitsLoss(x, as_node(t, "binary_cross_entropy_with_logits", like=x), name=name)


def cross_entropy(logits, labels, name=None):
    """Softmax cross-entropy of logits (N, C) and integer labels (N,), averaged over N."""
    return CrossEntropyLoss(as_node(logits, "cross_entropy"), as_node(labels, "cross_entropy"),
                            name=name)
