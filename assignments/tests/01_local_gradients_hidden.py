"""Hidden tests of assignment 01_local_gradients (instructor only: never released).

The four operations asked for (the maximum along an axis, log-sum-exp, layer norm, the Huber
loss) are not in dagprop, and the engine's own operations are switched off while grading, so neither
``importlib.reload(dagprop.ops)`` nor a composition of the engine's nodes can stand in for the
local gradients written by hand. ``cases(rng)`` draws fresh inputs (and shapes) for every grading
run; ``expect(case)`` computes the reference with torch in the grader's process; ``probe(ns, case)``
runs in the worker and calls the submission.
"""

import numpy as np
from coursework_checks import need

ASSIGNMENT = "01_local_gradients"
# gradients are written by hand: no torch (nor sympy, micrograd), none of dagprop's operations
BLOCK_MODULES = ("torch", "sympy", "micrograd", "dagprop.ops", "dagprop.losses", "dagprop.nn",
                 "dagprop.check")
RTOL, ATOL = 1e-7, 1e-10  # float64 by hand agrees with torch to ~1e-14; finite differences do not


def worker_setup():
    """Switch off every operation dagprop defines and its graph loops: a submission's class must
    compute its value and its gradients itself, with numpy."""
    from coursework_checks import switch_off_engine

    switch_off_engine("compute the value and the gradients in your class, with numpy")


# --- the worker side ----------------------------------------------------------------------------

def _probe_op(cls_name, names):
    def probe(ns, case):
        import dagprop as dp

        cls = need(ns, cls_name, "class")
        if not (isinstance(cls, type) and issubclass(cls, dp.Compute)):
            raise TypeError(f"{cls_name} should be a subclass of dp.Compute")
        leaves = [dp.Param(case[k].copy(), name=k) for k in names]
        node = cls(*leaves)
        value = np.array(node.value, dtype=np.float64, copy=True)
        for leaf, k in zip(leaves, names):  # gradients accumulate: start from a non-zero value
            leaf.grad = case["start_" + k].copy()
        node.grad = case["v"].copy()
        node.backward()
        return {"value": value, **{"grad_" + k: leaf.grad for leaf, k in zip(leaves, names)}}
    return probe


# --- the grader side -----------------------------------------------------------------------------

def _expect_op(fn, names):
    def expect(case):
        import torch

        ts = [torch.tensor(case[k], dtype=torch.float64, requires_grad=True) for k in names]
        y = fn(*ts)
        y.backward(torch.tensor(case["v"]))
        return {"value": y.detach().numpy(),
                **{"grad_" + k: case["start_" + k] + t.grad.numpy() for k, t in zip(names, ts)}}
    return expect


def _finish(rng, case, out_shape):
    for k in [k for k in case if k in ("x", "gamma", "beta", "pred", "target")]:
        case["start_" + k] = rng.standard_normal(case[k].shape)
    case["v"] = rng.standard_normal(out_shape)
    return case


def _dims(rng, k, low=1, high=6):
    return tuple(int(n) for n in rng.integers(low, high + 1, k))


def max_cases(rng=None):
    rng = rng if rng is not None else np.random.default_rng(1101)
    n, m, k = _dims(rng, 3, 2, 6)
    cases = [_finish(rng, {"x": rng.standard_normal((n, m))}, (n,)),
             _finish(rng, {"x": rng.standard_normal((k, n, m))}, (k, n)),
             _finish(rng, {"x": rng.standard_normal(m)}, ()),
             _finish(rng, {"x": rng.standard_normal((n, 1))}, (n,))]
    # small integers: most rows have their maximum more than once, and share its gradient
    ties = rng.integers(-2, 2, (n + 2, m + 1)).astype(np.float64)
    ties[0] = 1.0  # one row of equal entries
    cases.append(_finish(rng, {"x": ties}, (n + 2,)))
    return cases


def logsumexp_cases(rng=None):
    rng = rng if rng is not None else np.random.default_rng(1102)
    n, m, k = _dims(rng, 3, 2, 7)
    cases = [_finish(rng, {"x": rng.standard_normal((n, m))}, (n,)),
             _finish(rng, {"x": rng.standard_normal((k, n, m))}, (k, n)),
             _finish(rng, {"x": rng.standard_normal(m)}, ())]
    # values in the thousands: exp overflows (or underflows to log 0) unless the max is taken out
    big = rng.uniform(1000, 3000) + 20 * rng.standard_normal((n, m))
    cases.append(_finish(rng, {"x": big}, (n,)))
    cases.append(_finish(rng, {"x": -big}, (n,)))
    return cases


def layer_norm_cases(rng=None):
    rng = rng if rng is not None else np.random.default_rng(1103)
    n, d, k = _dims(rng, 3, 2, 8)
    cases = []
    for shape in [(n, d), (k, n, d), (1, d)]:  # one row: the gamma, beta gradients are still (d,)
        x = rng.uniform(-3, 3) + rng.uniform(0.5, 4) * rng.standard_normal(shape)
        case = {"x": x, "gamma": 1 + 0.3 * rng.standard_normal(d),
                "beta": rng.standard_normal(d)}
        cases.append(_finish(rng, case, shape))
    return cases


def huber_cases(rng=None):
    rng = rng if rng is not None else np.random.default_rng(1104)
    n, m = _dims(rng, 2, 2, 8)
    cases = []
    for shape, scale in [((n, m), 1.0), ((n,), 3.0), ((n, m, 2), 0.3)]:
        pred = scale * rng.standard_normal(shape)
        target = scale * rng.standard_normal(shape)
        cases.append(_finish(rng, {"pred": pred, "target": target}, ()))
    return cases


def _describe(case):
    keys = [k for k in ("x", "gamma", "beta", "pred", "target") if k in case]
    s = " and ".join(f"{k} of shape {case[k].shape}" for k in keys)
    if "x" in case and abs(case["x"]).max() > 100:
        s += f" (values near {np.mean(case['x']):.0f})"
    if "x" in case and np.all(case["x"] == np.round(case["x"])):
        s += " (with ties)"
    return s


def _torch(name):
    def fn(*xs):
        import torch
        import torch.nn.functional as F

        if name == "max":
            return torch.amax(xs[0], dim=-1)  # splits the gradient evenly between tied maxima
        if name == "logsumexp":
            return torch.logsumexp(xs[0], dim=-1)
        if name == "layer_norm":
            x, gamma, beta = xs
            return F.layer_norm(x, (x.shape[-1],), gamma, beta, eps=1e-5)
        return F.huber_loss(xs[0], xs[1], reduction="mean", delta=1.0)
    return fn


def _question(name, title, points, cls, names, cases):
    return {"points": points, "title": title, "probe": _probe_op(cls, names),
            "expect": _expect_op(_torch(name), names), "describe": _describe, "cases": cases,
            "rtol": RTOL, "atol": ATOL}


QUESTIONS = {
    "max": _question("max", "Max: the largest entry along the last axis, ties shared", 2, "Max",
                     ("x",), max_cases),
    "logsumexp": _question("logsumexp", "LogSumExp: last axis, stable for large inputs", 3,
                           "LogSumExp", ("x",), logsumexp_cases),
    "layer_norm": _question("layer_norm", "LayerNorm: over the last axis, with gamma and beta",
                            3, "LayerNorm", ("x", "gamma", "beta"), layer_norm_cases),
    "huber": _question("huber", "HuberLoss: the mean Huber loss", 2, "HuberLoss",
                       ("pred", "target"), huber_cases),
}
