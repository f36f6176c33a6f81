"""Hidden tests of assignment 01_local_gradients (instructor only: never released).

The four operations asked for (an elementwise maximum, log-sum-exp, layer norm, the Huber loss)
are not in dagprop, and the engine's own operations are switched off while grading, so neither
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
    import dagprop as dp
    from coursework_checks import switch_off_graphs

    switch_off_graphs("dagprop's graphs are switched off while grading: compute the value and "
                      "the gradients in your class, with numpy")

    def off(self, *args, **kwargs):
        raise RuntimeError(f"dagprop's own {type(self).__name__} is switched off while grading: "
                           "compute the value and the gradients in your class, with numpy")

    todo = list(dp.Compute.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.__module__.startswith("dagprop."):
            cls.forward = cls.backward = off


# --- the worker side ----------------------------------------------------------------------------

def _probe_op(cls_name, names):
    def probe(ns, case):
        import dagprop as dp

        names_here = [k for k in names if k in case]
        cls = need(ns, cls_name, "class")
        if not (isinstance(cls, type) and issubclass(cls, dp.Compute)):
            raise TypeError(f"{cls_name} should be a subclass of dp.Compute")
        leaves = [dp.Param(case[k].copy(), name=k) for k in names_here]
        operands = leaves * 2 if "same" in case else leaves  # max(x, x): one parent, used twice
        node = cls(*operands)
        value = np.array(node.value, dtype=np.float64, copy=True)
        for leaf, k in zip(leaves, names_here):  # gradients accumulate: start from non-zero
            leaf.grad = case["start_" + k].copy()
        node.grad = case["v"].copy()
        node.backward()
        return {"value": value, **{"grad_" + k: leaf.grad for leaf, k in zip(leaves, names_here)}}
    return probe


# --- the grader side -----------------------------------------------------------------------------

def _expect_op(fn, names):
    def expect(case):
        import torch

        here = [k for k in names if k in case]
        ts = [torch.tensor(case[k], dtype=torch.float64, requires_grad=True) for k in here]
        y = fn(*(ts * 2 if "same" in case else ts))
        y.backward(torch.tensor(case["v"]))
        return {"value": y.detach().numpy(),
                **{"grad_" + k: case["start_" + k] + t.grad.numpy() for k, t in zip(here, ts)}}
    return expect


def _finish(rng, case, out_shape):
    for k in [k for k in case if k in ("x", "a", "b", "gamma", "beta", "pred", "target")]:
        case["start_" + k] = rng.standard_normal(case[k].shape)
    case["v"] = rng.standard_normal(out_shape)
    return case


def _dims(rng, k, low=1, high=6):
    return tuple(int(n) for n in rng.integers(low, high + 1, k))


def maximum_cases(rng=None):
    rng = rng if rng is not None else np.random.default_rng(1101)
    n, m, k = _dims(rng, 3, 2, 6)
    cases = []
    for sa, sb in [((n, m), (n, m)), ((n, 1), (1, m)), ((m,), (n, m)), ((k, n, m), (n, 1))]:
        a, b = rng.standard_normal(sa), rng.standard_normal(sb)
        cases.append(_finish(rng, {"a": a, "b": b}, np.broadcast_shapes(sa, sb)))
    a = rng.standard_normal((n, m))  # ties: the gradient is split evenly between the two
    b = np.where(rng.random((n, m)) < 0.5, a, rng.standard_normal((n, m)))
    cases.append(_finish(rng, {"a": a, "b": b}, (n, m)))
    cases.append(_finish(rng, {"a": rng.standard_normal((m, n)), "same": np.array(1)}, (m, n)))
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
    keys = [k for k in ("a", "b", "x", "gamma", "beta", "pred", "target") if k in case]
    s = " and ".join(f"{k} of shape {case[k].shape}" for k in keys)
    if "x" in case and abs(case["x"]).max() > 100:
        s += f" (values near {np.mean(case['x']):.0f})"
    if "b" in case and case["a"].shape == case["b"].shape and np.any(case["a"] == case["b"]):
        s += " (with ties)"
    return s + (" (one parent used twice)" if "same" in case else "")


def _torch(name):
    def fn(*xs):
        import torch
        import torch.nn.functional as F

        if name == "maximum":
            return torch.maximum(*xs)
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
    "maximum": _question("maximum", "Maximum: elementwise maximum, with broadcasting and ties",
                         2, "Maximum", ("a", "b"), maximum_cases),
    "logsumexp": _question("logsumexp", "LogSumExp: last axis, stable for large inputs", 3,
                           "LogSumExp", ("x",), logsumexp_cases),
    "layer_norm": _question("layer_norm", "LayerNorm: over the last axis, with gamma and beta",
                            3, "LayerNorm", ("x", "gamma", "beta"), layer_norm_cases),
    "huber": _question("huber", "HuberLoss: the mean Huber loss", 2, "HuberLoss",
                       ("pred", "target"), huber_cases),
}
