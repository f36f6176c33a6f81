"""Opt-in anomaly detection, named after ``torch.autograd.detect_anomaly``.

Inside ``with dp.detect_anomaly():``, building a node, ``Graph.forward`` and ``Graph.backward``
stop at the first node whose value or gradient is not finite and raise ``FloatingPointError``
naming it. The switch is a context variable, as torch's is per thread: turning it on in one thread
(or one asyncio task) leaves every other thread as it was.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import numpy as np

__all__ = ["detect_anomaly", "anomaly_enabled", "check_finite"]

_ANOMALY = contextvars.ContextVar("dagprop_detect_anomaly", default=False)


def anomaly_enabled() -> bool:
    """True inside ``detect_anomaly()`` (in this thread)."""
    return _ANOMALY.get()


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Inside this block, building a node, ``Graph.forward`` and ``Graph.backward`` stop at the
    first node whose value or gradient is not finite and raise ``FloatingPointError`` naming it."""
    token = _ANOMALY.set(True)
    try:
        yield
    finally:
        _ANOMALY.reset(token)


def check_finite(node, x, what: str) -> None:
    """Raise ``FloatingPointError`` naming ``node`` if ``x`` (its value or a gradient) holds a NaN
    or an infinity. The integer 0 that backward starts a gradient at is fine."""
    if x is None or type(x) is int:
        return
    if not np.all(np.isfinite(x)):
        bad = np.asarray(x)
        first = np.argwhere(~np.isfinite(bad))[0] if bad.ndim else ()
        where = f" at index {tuple(int(i) for i in first)}" if bad.ndim else ""
        parents = ", ".join(f"{p.label} {np.shape(p.value)}" for p in node.parents)
        raise FloatingPointError(f"{node.describe()}: {what} is not finite{where}"
                                 + (f"; parents: {parents}" if parents else ""))
