"""Hidden tests of assignment 04_custom_autograd_function (instructor only: never released).

torch is allowed here (the assignment is about extending it), so the worker checks that a result
was produced by the submission's own Function (its ``grad_fn``), and the grader computes the
references with torch's built-in operations in its own process.
"""

import numpy as np
from coursework_checks import need

ASSIGNMENT = "04_custom_autograd_function"


def worker_setup():
    """Switch torch's ready-made Jacobians off: the question asks for one built from VJPs."""
    import torch.autograd.functional
    import torch.func

    def off(*args, **kwargs):
        raise RuntimeError("torch's ready-made Jacobians are switched off while grading: build "
                           "the Jacobian from vector-Jacobian products")
    torch.autograd.functional.jacobian = torch.autograd.functional.hessian = off
    torch.func.jacrev = torch.func.jacfwd = off


def _function(ns, name):
    import torch

    cls = need(ns, name, "class")
    if not (isinstance(cls, type) and issubclass(cls, torch.autograd.Function)):
        raise TypeError(f"{name} should be a subclass of torch.autograd.Function")
    return cls


def _own(y, name):
    """Fail unless y came out of the submission's Function (not a built-in torch op)."""
    fn = type(getattr(y, "grad_fn", None)).__name__
    if fn != f"{name}Backward":
        raise TypeError(f"{name}.apply returned a tensor whose grad_fn is {fn}, not "
                        f"{name}Backward: the result must come from your Function")


# --- the worker side ----------------------------------------------------------------------------

def probe_softplus(ns, case):
    import torch

    Softplus = _function(ns, "Softplus")
    x = torch.tensor(case["x"], requires_grad=True)
    y = Softplus.apply(x)
    _own(y, "Softplus")
    y.backward(torch.tensor(case["v"]))
    return {"value": y.detach().numpy(), "grad_x": x.grad.numpy()}


def probe_affine(ns, case):
    import torch

    Affine = _function(ns, "Affine")
    x, W, b = (torch.tensor(case[k], requires_grad=True) for k in ("x", "W", "b"))
    y = Affine.apply(x, W, b)
    _own(y, "Affine")
    y.backward(torch.tensor(case["v"]))
    return {"value": y.detach().numpy(), "grad_x": x.grad.numpy(), "grad_W": W.grad.numpy(),
            "grad_b": b.grad.numpy()}


def _f(A):
    import torch

    At = torch.tensor(A)
    return lambda x: torch.tanh(At @ x) * (x**2).sum()


def probe_jacobian(ns, case):
    import torch

    jacobian = need(ns, "jacobian")
    J = jacobian(_f(case["A"]), torch.tensor(case["x"]))
    return {"J": J.detach().numpy() if isinstance(J, torch.Tensor) else np.asarray(J)}


# --- the grader side -----------------------------------------------------------------------------

def expect_softplus(case):
    import torch

    x = torch.tensor(case["x"], requires_grad=True)
    y = torch.nn.functional.softplus(x)
    y.backward(torch.tensor(case["v"]))
    return {"value": y.detach().numpy(), "grad_x": x.grad.numpy()}


def expect_affine(case):
    import torch

    x, W, b = (torch.tensor(case[k], requires_grad=True) for k in ("x", "W", "b"))
    y = x @ W + b
    y.backward(torch.tensor(case["v"]))
    return {"value": y.detach().numpy(), "grad_x": x.grad.numpy(), "grad_W": W.grad.numpy(),
            "grad_b": b.grad.numpy()}


def expect_jacobian(case):
    import torch

    J = torch.autograd.functional.jacobian(_f(case["A"]), torch.tensor(case["x"]))
    return {"J": J.numpy()}


def softplus_cases():
    rng = np.random.default_rng(4401)
    cases = []
    for shape, scale in [((5,), 1.0), ((3, 4), 3.0), ((2, 6), 400.0)]:
        cases.append({"x": scale * rng.standard_normal(shape), "v": rng.standard_normal(shape)})
    return cases


def affine_cases():
    rng = np.random.default_rng(4402)
    cases = []
    for n, i, o in [(4, 3, 2), (1, 5, 5), (7, 2, 6)]:
        cases.append({"x": rng.standard_normal((n, i)), "W": rng.standard_normal((i, o)),
                      "b": rng.standard_normal(o), "v": rng.standard_normal((n, o))})
    return cases


def jacobian_cases():
    rng = np.random.default_rng(4403)
    return [{"A": rng.standard_normal((m, n)), "x": rng.standard_normal(n)}
            for m, n in [(3, 4), (5, 2), (1, 6)]]


def _describe(case):
    return ", ".join(f"{k} of shape {v.shape}" for k, v in case.items() if k != "v")


QUESTIONS = {
    "softplus": {
        "points": 2, "title": "Softplus: a custom Function, stable for large inputs",
        "cases": softplus_cases, "probe": probe_softplus, "expect": expect_softplus,
        "describe": lambda c: (f"x of shape {c['x'].shape}, "
                               f"largest |x| {abs(c['x']).max():.0f}"),
        "timeout": 30,
    },
    "affine": {
        "points": 3, "title": "Affine: x @ W + b with three gradients",
        "cases": affine_cases, "probe": probe_affine, "expect": expect_affine,
        "describe": _describe, "timeout": 30,
    },
    "jacobian": {
        "points": 2, "title": "jacobian: one vector-Jacobian product per row",
        "cases": jacobian_cases, "probe": probe_jacobian, "expect": expect_jacobian,
        "describe": _describe, "timeout": 30,
    },
}
