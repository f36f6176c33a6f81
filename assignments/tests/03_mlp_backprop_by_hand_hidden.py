"""Hidden tests of assignment 03_mlp_backprop_by_hand (instructor only: never released).

A residual MLP with L2 weight decay, by hand in numpy. Networks (sizes, depth, batch) and data are
drawn fresh for each grading run from the grader's generator; the reference is torch.autograd in
float64, in the grader's process. Every gradient is compared with its exact shape, so a bias
gradient that was not summed over the batch fails even where torch would have summed it silently.
"""

import numpy as np
from coursework_checks import need

ASSIGNMENT = "03_mlp_backprop_by_hand"
# by hand: no torch, and none of dagprop's operations (a network of dagprop nodes would do the work)
BLOCK_MODULES = ("torch", "sympy", "micrograd", "dagprop.ops", "dagprop.losses", "dagprop.nn",
                 "dagprop.check")


def worker_setup():
    """Switch off dagprop's operations and graph loops, so no graph can do the work."""
    from coursework_checks import switch_off_engine

    switch_off_engine("this assignment asks for the gradients by hand, with numpy")


# --- networks as plain arrays: W_in, b_in, W1, b1, ..., W_out, b_out ----------------------------

def n_blocks(case):
    return sum(1 for k in case if k[0] == "W" and k[1:].isdigit())


def params_of(case):
    """The nested structure the notebook uses, built from a case's flat arrays (copies)."""
    return {"W_in": case["W_in"].copy(), "b_in": case["b_in"].copy(),
            "blocks": [(case[f"W{t}"].copy(), case[f"b{t}"].copy())
                       for t in range(1, n_blocks(case) + 1)],
            "W_out": case["W_out"].copy(), "b_out": case["b_out"].copy()}


def _flat(params, what):
    """A submission's nested parameters (or gradients) as flat named arrays, checked on the way."""
    if not isinstance(params, dict):
        raise TypeError(f"{what} should be a dict like params, got {type(params).__name__}")
    for key in ("W_in", "b_in", "blocks", "W_out", "b_out"):
        if key not in params:
            raise KeyError(f"{what} has no key {key!r} (it must have the keys of params)")
    out = {k: params[k] for k in ("W_in", "b_in", "W_out", "b_out")}
    blocks = params["blocks"]
    if not isinstance(blocks, (list, tuple)):
        raise TypeError(f"{what}['blocks'] should be a list of pairs, got "
                        f"{type(blocks).__name__}")
    for t, pair in enumerate(blocks, 1):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise TypeError(f"{what}['blocks'][{t - 1}] should be a pair (dW, db)")
        out[f"W{t}"], out[f"b{t}"] = pair
    return out


def net_case(rng, d, k, c, blocks, n, lam, out_scale=1.0):
    case = {"X": rng.standard_normal((n, d)), "y": rng.integers(0, c, n).astype(np.int64),
            "lam": np.array(lam),
            "W_in": rng.standard_normal((d, k)) / np.sqrt(d), "b_in": 0.1 * rng.standard_normal(k)}
    for t in range(1, blocks + 1):
        case[f"W{t}"] = rng.standard_normal((k, k)) / np.sqrt(k)
        case[f"b{t}"] = 0.1 * rng.standard_normal(k)
    case["W_out"] = out_scale * rng.standard_normal((k, c)) / np.sqrt(k)
    case["b_out"] = 0.1 * rng.standard_normal(c)
    return case


def _describe(case):
    d, k = case["W_in"].shape
    c = case["W_out"].shape[1]
    s = (f"{d} inputs, width {k}, {n_blocks(case)} residual blocks, {c} classes, "
         f"batch of {len(case['y'])}, lam {float(case['lam']):g}")
    if "steps" in case:
        s += f", {int(case['steps'])} steps of learning rate {float(case['lr']):g}"
    return s


# --- the worker side ----------------------------------------------------------------------------

def _cache(ns, case):
    cache = need(ns, "forward")(params_of(case), case["X"].copy())
    if not isinstance(cache, dict) or "logits" not in cache:
        raise TypeError("forward should return a dict (the cache) with the key 'logits'")
    return cache


def probe_forward(ns, case):
    return {"logits": _cache(ns, case)["logits"]}


def probe_loss(ns, case):
    logits = _cache(ns, case)["logits"]
    loss = need(ns, "total_loss")(params_of(case), logits, case["y"].copy(), float(case["lam"]))
    return {"loss": loss}


def probe_backward(ns, case):
    cache = _cache(ns, case)
    grads = need(ns, "backward")(params_of(case), cache, case["y"].copy(), float(case["lam"]))
    got = _flat(grads, "the gradients")
    if len(got) != 4 + 2 * n_blocks(case):
        raise ValueError(f"backward returned gradients for {len(got) // 2 - 2} blocks; the "
                         f"network has {n_blocks(case)}")
    return got


def probe_train(ns, case):
    trained = need(ns, "train")(params_of(case), case["X"].copy(), case["y"].copy(),
                                float(case["lam"]), float(case["lr"]), int(case["steps"]))
    return _flat(trained, "train's result")


# --- the grader side -----------------------------------------------------------------------------

def torch_loss(case, values=None):
    """The parameters as leaf tensors, the logits and the loss (cross-entropy plus weight decay)."""
    import torch

    values = values or case
    names = ["W_in", "b_in"] + [f"{w}{t}" for t in range(1, n_blocks(case) + 1)
                                for w in "Wb"] + ["W_out", "b_out"]
    p = {k: torch.tensor(values[k], requires_grad=True) for k in names}
    h = torch.relu(torch.tensor(case["X"]) @ p["W_in"] + p["b_in"])
    for t in range(1, n_blocks(case) + 1):
        h = h + torch.tanh(h @ p[f"W{t}"] + p[f"b{t}"])
    logits = h @ p["W_out"] + p["b_out"]
    decay = sum((w**2).sum() for k, w in p.items() if k.startswith("W"))
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(case["y"]))
    return p, logits, loss + float(case["lam"]) / 2 * decay


def expect_forward(case):
    return {"logits": torch_loss(case)[1].detach().numpy()}


def expect_loss(case):
    return {"loss": torch_loss(case)[2].detach().numpy()}


def expect_backward(case):
    p, _, loss = torch_loss(case)
    loss.backward()
    return {k: t.grad.numpy() for k, t in p.items()}


def expect_train(case):
    values = {k: v for k, v in case.items()}
    for _ in range(int(case["steps"])):
        p, _, loss = torch_loss(case, values)
        loss.backward()
        values.update({k: (t - float(case["lr"]) * t.grad).detach().numpy()
                       for k, t in p.items()})
    return {k: values[k] for k in p}


def _sizes(rng):
    d, c = (int(v) for v in rng.integers(2, 6, 2))
    return d, int(rng.integers(4, 12)), c


def forward_cases(rng=None):
    rng = rng if rng is not None else np.random.default_rng(3301)
    return [net_case(rng, *_sizes(rng), blocks, int(rng.integers(1, 10)), 0.0)
            for blocks in (0, 1, 3)]


def loss_cases(rng=None):
    rng = rng if rng is not None else np.random.default_rng(3302)
    cases = [net_case(rng, *_sizes(rng), 1, int(rng.integers(2, 10)), lam)
             for lam in (0.0, float(rng.uniform(0.01, 0.5)))]
    # logits in the thousands: exp overflows unless the largest logit is taken out first
    big = None
    while big is None:  # (a draw whose ReLU layer outputs only zeros has no logits to scale)
        big = _with_large_logits(rng, net_case(rng, *_sizes(rng), 1, 6, 0.1))
    cases.append(big)
    return cases


def _with_large_logits(rng, case):
    """Scale the output layer so that the largest logit of the batch is between 1000 and 3000
    (scaling the weights alone could leave every logit below exp's overflow at about 709, or
    make the large ones negative, which an unstable log-sum-exp survives); None if the drawn
    network's logits are all (nearly) zero."""
    h = np.maximum(case["X"] @ case["W_in"] + case["b_in"], 0)
    for t in range(1, n_blocks(case) + 1):
        h = h + np.tanh(h @ case[f"W{t}"] + case[f"b{t}"])
    z = h @ case["W_out"]
    if z.max() < -z.min():  # the largest logit by size is negative: flip the output layer
        case["W_out"], z = -case["W_out"], -z
    if z.max() < 1e-3:
        return None
    case["W_out"] = case["W_out"] * (rng.uniform(1000, 3000) / z.max())
    return case


def backward_one_block_cases(rng=None):
    rng = rng if rng is not None else np.random.default_rng(3303)
    return [net_case(rng, *_sizes(rng), 1, n, float(rng.uniform(0.01, 0.5)))
            for n in (int(rng.integers(2, 12)), 1)]


def backward_residual_cases(rng=None):
    rng = rng if rng is not None else np.random.default_rng(3304)
    return [net_case(rng, *_sizes(rng), blocks, n, lam)
            for blocks, n, lam in [(2, int(rng.integers(2, 12)), 0.0),
                                   (3, int(rng.integers(2, 12)), float(rng.uniform(0.01, 0.5))),
                                   (2, 1, 0.1)]]


def train_cases(rng=None):
    """Fresh data (two noisy classes around random centres) and a fresh initialisation: the
    result is compared with the same gradient descent run with torch."""
    rng = rng if rng is not None else np.random.default_rng(3305)
    case = net_case(rng, 2, int(rng.integers(6, 12)), 3, 2, int(rng.integers(40, 80)), 1e-3)
    centres = 2 * rng.standard_normal((3, 2))
    case["X"] = centres[case["y"]] + 0.5 * rng.standard_normal(case["X"].shape)
    case.update(lr=np.array(rng.uniform(0.05, 0.2)), steps=np.array(int(rng.integers(20, 40))))
    return [case]


QUESTIONS = {
    "forward": {
        "points": 1, "title": "forward: logits of the residual network",
        "probe": probe_forward, "expect": expect_forward, "describe": _describe,
        "cases": forward_cases,
    },
    "total_loss": {
        "points": 2, "title": "total_loss: cross-entropy plus weight decay, stable",
        "probe": probe_loss, "expect": expect_loss, "describe": _describe,
        "cases": loss_cases,
    },
    "backward_one_block": {
        "points": 2, "title": "backward: one residual block, with weight decay",
        "probe": probe_backward, "expect": expect_backward, "describe": _describe,
        "cases": backward_one_block_cases,
    },
    "backward_residual": {
        "points": 3, "title": "backward: through two and three residual blocks",
        "probe": probe_backward, "expect": expect_backward, "describe": _describe,
        "cases": backward_residual_cases,
    },
    "train": {
        "points": 2, "title": "train: gradient descent with your backward",
        "probe": probe_train, "expect": expect_train, "describe": _describe,
        "cases": train_cases, "rtol": 1e-6, "atol": 1e-8,
    },
}
