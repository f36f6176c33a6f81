"""Hidden tests of assignment 03_mlp_backprop_by_hand (instructor only: never released).

Weights are drawn by the grader for network shapes the notebook never uses; the reference is
torch.autograd in float64, in the grader's process.
"""

import itertools

import numpy as np
from coursework_checks import need, switch_off_graphs

ASSIGNMENT = "03_mlp_backprop_by_hand"
BLOCK_MODULES = ("torch",)  # the point is to derive the gradients by hand


def worker_setup():
    """Switch dagprop's automatic differentiation off as well: no graph may do the work."""
    switch_off_graphs("dagprop's graphs (dp.Graph, dp.topological_order) are switched off "
                      "while grading: this assignment asks for the gradients by hand")


def _net_case(rng, sizes, n, scale=1.0):
    case = {"X": rng.standard_normal((n, sizes[0])),
            "y": rng.integers(0, sizes[-1], n).astype(np.int64)}
    for t, (a, b) in enumerate(itertools.pairwise(sizes)):
        case[f"W{t}"] = scale * rng.standard_normal((a, b)) / np.sqrt(a)
        case[f"b{t}"] = 0.1 * rng.standard_normal(b)
    return case


def _params(case):
    k = sum(1 for key in case if key.startswith("W"))
    return [(case[f"W{t}"].copy(), case[f"b{t}"].copy()) for t in range(k)]


def _describe(case):
    if "logits" in case:
        return f"logits of shape {case['logits'].shape}, largest |logit| {abs(case['logits']).max():.0f}"
    sizes = [case["W0"].shape[0]] + [case[f"W{t}"].shape[1] for t in range(len(_params(case)))]
    return f"layer sizes {sizes}, batch of {len(case['y'])}"


# --- the worker side ----------------------------------------------------------------------------

def _logits(ns, case):
    cache = need(ns, "forward")(_params(case), case["X"].copy())
    if not isinstance(cache, dict) or "logits" not in cache:
        raise TypeError("forward should return a dict (the cache) with the key 'logits'")
    return cache


def probe_forward(ns, case):
    return {"logits": _logits(ns, case)["logits"]}


def probe_loss(ns, case):
    out = need(ns, "softmax_cross_entropy")(case["logits"].copy(), case["y"].copy())
    if not isinstance(out, tuple) or len(out) != 2:
        raise TypeError("softmax_cross_entropy should return a pair (loss, dlogits)")
    return {"loss": out[0], "dlogits": out[1]}


def probe_backward(ns, case):
    cache = _logits(ns, case)
    grads = need(ns, "backward")(_params(case), cache, case["y"].copy())
    k = len(_params(case))
    if not isinstance(grads, (list, tuple)) or len(grads) != k:
        raise TypeError(f"backward should return a list of {k} pairs (dW, db), one per layer")
    out = {}
    for t, pair in enumerate(grads):
        out[f"dW{t + 1}"], out[f"db{t + 1}"] = pair
    return out


# --- the grader side -----------------------------------------------------------------------------

def _torch_net(case):
    import torch

    params = [(torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True))
              for W, b in _params(case)]
    h = torch.tensor(case["X"])
    for t, (W, b) in enumerate(params):
        h = h @ W + b
        if t < len(params) - 1:
            h = torch.relu(h)
    loss = torch.nn.functional.cross_entropy(h, torch.tensor(case["y"]))
    return params, h, loss


def expect_forward(case):
    return {"logits": _torch_net(case)[1].detach().numpy()}


def expect_loss(case):
    import torch

    z = torch.tensor(case["logits"], requires_grad=True)
    loss = torch.nn.functional.cross_entropy(z, torch.tensor(case["y"]))
    loss.backward()
    return {"loss": loss.detach().numpy(), "dlogits": z.grad.numpy()}


def expect_backward(case):
    params, _, loss = _torch_net(case)
    loss.backward()
    out = {}
    for t, (W, b) in enumerate(params):
        out[f"dW{t + 1}"], out[f"db{t + 1}"] = W.grad.numpy(), b.grad.numpy()
    return out


def _loss_cases():
    rng = np.random.default_rng(3302)
    cases = []
    for shape, scale in [((6, 4), 1.0), ((1, 3), 2.0), ((5, 3), 500.0)]:
        cases.append({"logits": scale * rng.standard_normal(shape),
                      "y": rng.integers(0, shape[1], shape[0]).astype(np.int64)})
    return cases


def _cases(seed, specs):
    def cases():
        rng = np.random.default_rng(seed)
        return [_net_case(rng, sizes, n) for sizes, n in specs]
    return cases


QUESTIONS = {
    "forward": {
        "points": 2, "title": "forward: logits of a batch",
        "probe": probe_forward, "expect": expect_forward, "describe": _describe,
        "cases": _cases(3301, [([3, 5, 2], 7), ([2, 16, 16, 3], 9), ([4, 6, 5], 1)]),
    },
    "softmax_cross_entropy": {
        "points": 2, "title": "softmax_cross_entropy: loss and its gradient",
        "probe": probe_loss, "expect": expect_loss, "describe": _describe,
        "cases": _loss_cases,
    },
    "backward_one_hidden": {
        "points": 3, "title": "backward: one hidden layer",
        "probe": probe_backward, "expect": expect_backward, "describe": _describe,
        "cases": _cases(3303, [([3, 5, 2], 8), ([4, 10, 3], 1)]),
    },
    "backward_deep": {
        "points": 3, "title": "backward: three hidden layers",
        "probe": probe_backward, "expect": expect_backward, "describe": _describe,
        "cases": _cases(3304, [([2, 8, 8, 8, 3], 12), ([5, 6, 4, 7, 4], 3)]),
    },
}
