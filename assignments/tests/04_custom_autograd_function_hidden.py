"""Hidden tests of assignment 04_custom_autograd_function (instructor only: never released).

torch is allowed here (the assignment is about extending it), so the worker checks three things
a bare comparison of numbers would miss:

* the result came out of the submission's Function (its ``grad_fn`` is ``<Name>Backward``);
* its ``backward`` computed the gradients itself: the probe calls it directly
  (``y.grad_fn.apply(v)``, which also shows the raw gradient shapes torch's engine would have
  summed silently); during the Function's forward and backward, autograd's entry points (down to
  the engine's ``run_backward``) are switched off, and a torch-function mode fails the case if
  anything runs with gradients recorded (a graph built in forward to be differentiated later);
* ``train`` used the submission's Function (its backward is counted), on data drawn for this run.
"""

import numpy as np
from coursework_checks import Failure, need

ASSIGNMENT = "04_custom_autograd_function"

_STATE = {"mode": None}


def worker_setup():
    """Switch autograd off inside a Function's backward: torch.autograd.grad, .backward(),
    torch.autograd.functional and torch.func raise there, and a torch-function mode records any
    operation that runs with gradients on (a graph built to be differentiated by torch)."""
    import sys

    import torch
    import torch.autograd.functional
    import torch.autograd.graph
    import torch.func
    from torch.overrides import TorchFunctionMode

    state = _STATE  # a closure, not a global: the worker clears the module's globals later
    marker = _in_function.__code__  # a frame of this code on the stack: inside a Function

    def inside():
        f = sys._getframe(1)
        while f is not None:
            if f.f_code is marker:
                return True
            f = f.f_back
        return False

    def guarded(owner, name):
        original = getattr(owner, name, None)
        if original is None:
            return

        def call(*args, **kwargs):
            if inside():
                raise RuntimeError(f"{name} is switched off inside backward while grading: "
                                   "compute the gradients yourself, without autograd")
            return original(*args, **kwargs)
        setattr(owner, name, call)

    for name in ("grad", "backward"):
        guarded(torch.autograd, name)
    guarded(torch.Tensor, "backward")
    guarded(torch.autograd.graph, "_engine_run_backward")
    for name in ("jacobian", "hessian", "vjp", "jvp", "hvp", "vhp"):
        guarded(torch.autograd.functional, name)
    for name in ("grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian",
                 "linearize"):
        guarded(torch.func, name)

    variable = torch.autograd.variable.Variable
    engine = variable._execution_engine

    class Engine:  # the engine behind every backward pass, refused inside a Function
        def run_backward(self, *args, **kwargs):
            if inside():
                raise RuntimeError("autograd's engine is switched off inside a Function while "
                                   "grading: compute the gradients yourself, without autograd")
            return engine.run_backward(*args, **kwargs)

        def __getattr__(self, name):
            return getattr(engine, name)

    variable._execution_engine = Engine()

    class Recorded(TorchFunctionMode):
        """On only inside a submission's Function (one instance per call, held by no global):
        notes the first operation that runs with gradients on."""

        def __init__(self):
            super().__init__()
            self.recorded = None

        def __torch_function__(self, func, types, args=(), kwargs=None):
            if torch.is_grad_enabled() and self.recorded is None:
                self.recorded = getattr(func, "__name__", str(func))
            return func(*args, **(kwargs or {}))

    state["mode"] = Recorded


# --- the worker side ----------------------------------------------------------------------------

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


def _in_function(call, no_grad=True):
    """Run a submission's forward or backward with autograd switched off, and fail if it
    recorded anything for differentiation (an operation run with gradients on)."""
    import contextlib

    import torch

    recorded = _STATE["mode"]()
    with torch.no_grad() if no_grad else contextlib.nullcontext(), recorded:
        out = call()
    if recorded.recorded is not None:
        raise RuntimeError(f"your Function ran {recorded.recorded} with gradients recorded "
                           "(torch.enable_grad?): compute the gradients yourself, without "
                           "autograd")
    return out


def _grads(y, v, n):
    """The submission's backward, called directly: n gradients as numpy arrays, raw shapes."""
    import torch

    out = _in_function(lambda: y.grad_fn.apply(torch.tensor(v)))
    out = out if isinstance(out, tuple) else (out,)
    if len(out) < n:
        raise TypeError(f"backward returned {len(out)} gradients; forward has {n} inputs")
    for k, g in enumerate(out[:n]):
        if not isinstance(g, torch.Tensor):
            raise TypeError(f"backward returned {type(g).__name__} as gradient {k + 1}; a "
                            "tensor is needed for every input that requires a gradient")
    return [g.detach().numpy() for g in out[:n]]


def probe_normalize(ns, case):
    import torch

    Normalize = _function(ns, "Normalize")
    x = torch.tensor(case["x"], requires_grad=True)
    y = _in_function(lambda: Normalize.apply(x), no_grad=False)
    _own(y, "Normalize")
    (gx,) = _grads(y, case["v"], 1)
    return {"value": y.detach().numpy(), "grad_x": gx}


def probe_linear_relu(ns, case):
    import torch

    LinearReLU = _function(ns, "LinearReLU")
    x, W, b = (torch.tensor(case[k], requires_grad=True) for k in ("x", "W", "b"))
    y = _in_function(lambda: LinearReLU.apply(x, W, b), no_grad=False)
    _own(y, "LinearReLU")
    gx, gW, gb = _grads(y, case["v"], 3)
    return {"value": y.detach().numpy(), "grad_x": gx, "grad_W": gW, "grad_b": gb}


def probe_train(ns, case):
    LinearReLU = _function(ns, "LinearReLU")
    train = need(ns, "train")
    counts = {"forward": 0, "backward": 0}
    forward, backward = LinearReLU.forward, LinearReLU.backward

    def counted_forward(*args, **kwargs):
        counts["forward"] += 1
        return _in_function(lambda: forward(*args, **kwargs), no_grad=False)

    def counted_backward(*args, **kwargs):
        counts["backward"] += 1
        return _in_function(lambda: backward(*args, **kwargs))

    LinearReLU.forward, LinearReLU.backward = (staticmethod(counted_forward),
                                               staticmethod(counted_backward))
    try:
        params = train(case["X"].copy(), case["y"].copy())
    finally:
        LinearReLU.forward, LinearReLU.backward = staticmethod(forward), staticmethod(backward)
    if not isinstance(params, (list, tuple)) or len(params) != 4:
        raise TypeError("train should return the list [W1, b1, W2, b2]")
    out = {f"p{i}": np.asarray(p.detach().numpy() if hasattr(p, "detach") else p,
                               dtype=np.float64) for i, p in enumerate(params)}
    return {**out, "forward_calls": counts["forward"], "backward_calls": counts["backward"]}


# --- the grader side -----------------------------------------------------------------------------

def expect_normalize(case):
    import torch

    x = torch.tensor(case["x"], requires_grad=True)
    y = torch.nn.functional.normalize(x, dim=-1)
    y.backward(torch.tensor(case["v"]))
    return {"value": y.detach().numpy(), "grad_x": x.grad.numpy()}


def expect_linear_relu(case):
    import torch

    x, W, b = (torch.tensor(case[k], requires_grad=True) for k in ("x", "W", "b"))
    y = torch.relu(x @ W + b)
    y.backward(torch.tensor(case["v"]))
    return {"value": y.detach().numpy(), "grad_x": x.grad.numpy(), "grad_W": W.grad.numpy(),
            "grad_b": b.grad.numpy()}


def xor_data(rng, n, angle, centre):
    """Points in a square, labelled by the sign of the product of their coordinates relative to
    a centre, after a rotation: four quadrants in a checkerboard, which no linear classifier
    separates (angle and centre drawn per run, so no fixed network fits them all)."""
    X = rng.uniform(-1, 1, (n, 2))
    c, s = np.cos(angle), np.sin(angle)
    R = (X - centre) @ np.array([[c, -s], [s, c]])
    return X, (R[:, 0] * R[:, 1] > 0).astype(np.int64)


def expect_train(case):
    rng = np.random.default_rng(int(case["test_seed"]))
    X, y = xor_data(rng, 500, float(case["angle"]), case["centre"])
    return {"X_test": X, "y_test": y}


TRAIN_ACCURACY, TEST_ACCURACY, MAX_WEIGHTS = 0.93, 0.88, 100_000


def compare_train(q, case, want, got):
    if int(got.get("backward_calls", 0)) < 1:
        raise Failure("train never called LinearReLU's backward: the network must be built "
                      "with your Function and trained with its gradients")
    params = [got.get(f"p{i}") for i in range(4)]
    if any(p is None for p in params):
        raise Failure("train should return the list [W1, b1, W2, b2]")
    W1, b1, W2, b2 = params
    if sum(p.size for p in params) > MAX_WEIGHTS:
        raise Failure(f"the network has more than {MAX_WEIGHTS} weights")
    if (W1.ndim != 2 or W1.shape[0] != 2 or b1.shape != (W1.shape[1],)
            or W2.shape != (W1.shape[1], 2) or b2.shape != (2,)):
        raise Failure(f"W1 {W1.shape}, b1 {b1.shape}, W2 {W2.shape}, b2 {b2.shape} do not make "
                      "a network from 2 inputs through one hidden layer to 2 logits")

    def accuracy(X, y):
        logits = np.maximum(X @ W1 + b1, 0) @ W2 + b2
        return float(np.mean(np.argmax(logits, axis=1) == y))

    train, test = accuracy(case["X"], case["y"]), accuracy(want["X_test"], want["y_test"])
    if not np.isfinite(W1).all() or train < TRAIN_ACCURACY:
        raise Failure(f"training accuracy {train:.1%}; at least {TRAIN_ACCURACY:.0%} is needed")
    if test < TEST_ACCURACY:
        raise Failure(f"accuracy on fresh points from the same distribution {test:.1%}; at "
                      f"least {TEST_ACCURACY:.0%} is needed (training accuracy {train:.1%})")


def normalize_cases(rng=None):
    rng = rng if rng is not None else np.random.default_rng(4401)
    n, d, k = (int(v) for v in rng.integers(2, 7, 3))
    cases = []
    for shape, scale in [((d,), 1.0), ((n, d), 1000.0), ((k, n, d), 0.01), ((n, 1), 1.0)]:
        cases.append({"x": scale * rng.standard_normal(shape), "v": rng.standard_normal(shape)})
    return cases


def linear_relu_cases(rng=None):
    rng = rng if rng is not None else np.random.default_rng(4402)
    cases = []
    for n in (int(rng.integers(2, 9)), 1, int(rng.integers(2, 9))):  # one row: grad_b still (o,)
        i, o = (int(k) for k in rng.integers(1, 7, 2))
        cases.append({"x": rng.standard_normal((n, i)), "W": rng.standard_normal((i, o)),
                      "b": rng.standard_normal(o), "v": rng.standard_normal((n, o))})
    return cases


def train_cases(rng=None):
    rng = rng if rng is not None else np.random.default_rng(4403)
    angle, centre = rng.uniform(0, np.pi / 2), rng.uniform(-0.3, 0.3, 2)
    X, y = xor_data(rng, 300, angle, centre)
    return [{"X": X, "y": y, "angle": np.array(angle), "centre": centre,
             "test_seed": np.array(int(rng.integers(2**31)))}]


def _describe(case):
    return ", ".join(f"{k} of shape {v.shape}" for k, v in case.items() if k != "v")


QUESTIONS = {
    "normalize": {
        "points": 2, "title": "Normalize: each row divided by its length",
        "cases": normalize_cases, "probe": probe_normalize, "expect": expect_normalize,
        "describe": _describe, "timeout": 30,
    },
    "linear_relu": {
        "points": 3, "title": "LinearReLU: a fused layer with three gradients",
        "cases": linear_relu_cases, "probe": probe_linear_relu, "expect": expect_linear_relu,
        "describe": _describe, "timeout": 30,
    },
    "train": {
        "points": 2, "title": "train: a network of your LinearReLU on new data",
        "cases": train_cases, "probe": probe_train, "expect": expect_train,
        "compare": compare_train, "timeout": 60,
        "describe": lambda c: f"{len(c['y'])} points of a rotated, shifted checkerboard",
    },
}
