"""Hidden tests of assignment 01_local_gradients (instructor only: never released).

Each question: ``cases()`` draws the grader's inputs, ``expect(case)`` computes the reference with
torch in the grader's process, ``probe(ns, case)`` runs in the worker and calls the submission.
The grader compares the probe's arrays with the reference.
"""

import numpy as np
from coursework_checks import need

ASSIGNMENT = "01_local_gradients"
BLOCK_MODULES = ("torch",)  # gradients are written by hand here
OPS = ("Mul", "Tanh", "Sigmoid", "MatMul", "Softmax")


def worker_setup():
    """Switch dagprop's own versions of the five ops off, so a class cannot borrow them."""
    from dagprop import ops

    for name in OPS:
        def off(self, _name=name):
            raise RuntimeError(f"dagprop's own {_name} is switched off while grading: compute "
                               "the value and the gradient in your class with numpy")
        cls = getattr(ops, name)
        cls.forward = cls.backward = off


# --- the worker side ----------------------------------------------------------------------------

def _probe_op(cls_name):
    def probe(ns, case):
        import dagprop as dp

        cls = need(ns, cls_name, "class")
        if not (isinstance(cls, type) and issubclass(cls, dp.Compute)):
            raise TypeError(f"{cls_name} should be a subclass of dp.Compute")
        names = [k for k in ("a", "b") if k in case]
        leaves = [dp.Param(case[k].copy(), name=k) for k in names]
        operands = leaves * 2 if "same" in case else leaves  # x * x: one parent, used twice
        node = cls(*operands)
        value = np.array(node.value, dtype=np.float64, copy=True)
        for leaf, k in zip(leaves, names):  # gradients accumulate: start from a non-zero value
            leaf.grad = case["start_" + k].copy()
        node.grad = case["v"].copy()
        node.backward()
        return {"value": value, **{"grad_" + k: leaf.grad for leaf, k in zip(leaves, names)}}
    return probe


# --- the grader side -----------------------------------------------------------------------------

def _expect_op(fn):
    def expect(case):
        import torch

        names = [k for k in ("a", "b") if k in case]
        ts = [torch.tensor(case[k], dtype=torch.float64, requires_grad=True) for k in names]
        y = fn(*(ts * 2 if "same" in case else ts))
        y.backward(torch.tensor(case["v"]))
        return {"value": y.detach().numpy(),
                **{"grad_" + k: case["start_" + k] + t.grad.numpy() for k, t in zip(names, ts)}}
    return expect


def _case(rng, scale=1.0, same=False, **shapes):
    case = {k: scale * rng.standard_normal(s) for k, s in shapes.items()}
    for k, s in shapes.items():
        case["start_" + k] = rng.standard_normal(s)
    out = np.broadcast_shapes(*shapes.values())
    case["v"] = rng.standard_normal(out)
    if same:
        case["same"] = np.array(1)
    return case


def _matmul_case(rng, sa, sb):
    out = np.matmul(np.zeros(sa), np.zeros(sb)).shape  # (zeros: no overflow warnings)
    case = {"a": rng.standard_normal(sa), "b": rng.standard_normal(sb),
            "start_a": rng.standard_normal(sa), "start_b": rng.standard_normal(sb)}
    case["v"] = rng.standard_normal(out)
    return case


def _describe(case):
    s = " and ".join(f"{k} of shape {case[k].shape}" for k in ("a", "b") if k in case)
    return s + (" (one parent used twice)" if "same" in case else "")


def _torch(name):
    def fn(*xs):
        import torch
        return {"mul": lambda a, b: a * b, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
                "matmul": torch.matmul, "softmax": lambda a: torch.softmax(a, dim=-1)}[name](*xs)
    return fn


def _cases(seed, make):
    def cases():
        return make(np.random.default_rng(seed))
    return cases


QUESTIONS = {
    "mul": {
        "points": 2, "title": "Mul (with broadcasting)",
        "probe": _probe_op("Mul"), "expect": _expect_op(_torch("mul")), "describe": _describe,
        "cases": _cases(1101, lambda r: [
            _case(r, a=(4, 3), b=(4, 3)), _case(r, a=(3, 1), b=(1, 5)),
            _case(r, a=(6,), b=(2, 6)), _case(r, a=(2, 3, 4), b=(3, 1)),
            _case(r, a=(5, 2), same=True)]),
    },
    "tanh": {
        "points": 1, "title": "Tanh",
        "probe": _probe_op("Tanh"), "expect": _expect_op(_torch("tanh")), "describe": _describe,
        "cases": _cases(1102, lambda r: [_case(r, a=(7,)), _case(r, 3.0, a=(3, 4, 2))]),
    },
    "sigmoid": {
        "points": 1, "title": "Sigmoid",
        "probe": _probe_op("Sigmoid"), "expect": _expect_op(_torch("sigmoid")),
        "describe": _describe,
        "cases": _cases(1103, lambda r: [_case(r, a=(5, 3)), _case(r, 30.0, a=(4, 4))]),
    },
    "matmul_2d": {
        "points": 2, "title": "MatMul of two matrices",
        "probe": _probe_op("MatMul"), "expect": _expect_op(_torch("matmul")),
        "describe": _describe,
        "cases": _cases(1104, lambda r: [
            _matmul_case(r, (3, 4), (4, 5)), _matmul_case(r, (1, 6), (6, 1)),
            _matmul_case(r, (7, 2), (2, 3))]),
    },
    "matmul_batched": {
        "points": 2, "title": "MatMul of stacks of matrices (broadcast batch axes)",
        "probe": _probe_op("MatMul"), "expect": _expect_op(_torch("matmul")),
        "describe": _describe,
        "cases": _cases(1105, lambda r: [
            _matmul_case(r, (2, 3, 4), (4, 5)), _matmul_case(r, (3, 4), (2, 4, 5)),
            _matmul_case(r, (2, 1, 3, 4), (5, 4, 2))]),
    },
    "softmax": {
        "points": 2, "title": "Softmax (last axis)",
        "probe": _probe_op("Softmax"), "expect": _expect_op(_torch("softmax")),
        "describe": _describe,
        "cases": _cases(1106, lambda r: [
            _case(r, a=(4, 5)), _case(r, a=(2, 3, 6)), _case(r, 200.0, a=(3, 4))]),
    },
}
