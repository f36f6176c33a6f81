"""Small helpers shared by the hidden tests files (assignments/tests/*_hidden.py).

``need`` and ``switch_off_graphs`` run in the worker, next to the submission; ``assert_close`` and
``Failure`` run in the grader's process, on arrays the worker sent back.
"""

from __future__ import annotations

import difflib

import numpy as np


class Failure(AssertionError):
    """A case that did not pass; the message is shown to the student as it is."""


def need(ns: dict, name: str, what: str = "function"):
    """The object called ``name`` in the submission's namespace, or a clear error naming it."""
    obj = ns.get(name)
    if obj is None:
        defined = [k for k, v in ns.items() if not k.startswith("_") and callable(v)]
        close = difflib.get_close_matches(name, defined, n=1, cutoff=0.6)
        hint = f"; did you rename it to {close[0]!r}?" if close else ""
        raise NameError(f"the notebook defines no {what} named {name!r}{hint} "
                        f"(the grader calls it by this exact name)")
    if not callable(obj):
        raise TypeError(f"{name!r} should be a {what}, but the notebook binds it to a "
                        f"{type(obj).__name__}")
    return obj


def switch_off_graphs(message: str) -> None:
    """In the worker: make dp.Graph and dp.topological_order raise ``message``, so a submission
    cannot let dagprop do what the assignment asks it to write."""
    import dagprop as dp
    from dagprop import graph

    def off(*args, **kwargs):
        raise RuntimeError(message)

    graph.topological_order = dp.topological_order = off
    dp.Graph.__init__ = off


def switch_off_engine(why: str) -> None:
    """In the worker: switch off dagprop's graph loops and every operation it defines (each
    class's forward and backward raise, naming the class and ``why``), so a submission's classes
    must compute values and gradients themselves."""
    import dagprop as dp

    switch_off_graphs(f"dagprop's graphs are switched off while grading: {why}")

    def off(self, *args, **kwargs):
        raise RuntimeError(f"dagprop's own {type(self).__name__} is switched off while grading: "
                           f"{why}")

    todo = list(dp.Compute.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.__module__.startswith("dagprop."):
            cls.forward = cls.backward = off


def assert_close(name: str, got, want, rtol: float = 1e-6, atol: float = 1e-8) -> None:
    """Raise ``Failure`` saying how ``got`` differs from ``want``: shape, non-finite, or the
    worst element."""
    got, want = np.asarray(got), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        raise Failure(f"{name}: shape {got.shape}, expected {want.shape}")
    got = got.astype(np.float64)
    if not np.all(np.isfinite(got)):
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(got))[0]) if got.ndim else ()
        raise Failure(f"{name}: not finite at index {idx} (got {got[idx]})")
    err = np.abs(got - want)
    excess = err - (atol + rtol * np.abs(want))
    if excess.size and excess.max() > 0:
        i = np.unravel_index(int(np.argmax(excess)), err.shape) if err.ndim else ()
        where = f" at index {tuple(int(k) for k in i)}" if err.ndim else ""
        raise Failure(f"{name}: wrong value{where}: got {got[i]:.6g}, expected {want[i]:.6g} "
                      f"(abs error {err[i]:.2e})")
