"""Hidden tests of assignment 02_forward_and_reverse_mode (instructor only: never released).

A program is a list of scalar instructions given as plain arrays (an op code and two parent indices
per node, the first ``n_in`` nodes being the inputs). The grader draws new programs for every run
(random DAGs with fan-out, and a chain thousands of nodes deep that a recursive implementation
cannot walk under the questions' recursion limit) and computes the references with torch.
"""

import numpy as np
from coursework_checks import Failure, assert_close, need

ASSIGNMENT = "02_forward_and_reverse_mode"
# by hand: no torch, and none of dagprop (its graphs would do reverse mode for you)
BLOCK_MODULES = ("torch", "sympy", "micrograd", "dagprop.ops", "dagprop.losses", "dagprop.nn",
                 "dagprop.check")
RECURSION_LIMIT = 150  # far above what loops need; a recursive walk of the deep chain hits it

INPUT, ADD, SUB, MUL, SIN, COS, TANH = range(7)
OPNAMES = ["input", "add", "sub", "mul", "sin", "cos", "tanh"]


def worker_setup():
    """Switch off dagprop's graph loops (a dagprop graph of the program would do reverse mode)."""
    from coursework_checks import switch_off_graphs

    switch_off_graphs("dagprop's graphs are switched off while grading: this assignment asks "
                      "for forward and reverse mode written by you")


# --- programs as arrays ---------------------------------------------------------------------------

def random_program(rng, n_in, m, n_ops=None):
    """Inputs, then random ops with fan-out. A product's second factor is always a sin, cos or
    tanh (at most 1 in size), so values stay moderate however the program is drawn."""
    n_ops = n_ops or int(rng.integers(15, 30))
    ops, args = [INPUT] * n_in, [(-1, -1)] * n_in
    bounded = []
    for _ in range(n_ops):
        op = int(rng.choice([ADD, SUB, MUL, SIN, COS, TANH]))
        if op == MUL and not bounded:
            op = TANH
        recent = list(range(max(0, len(ops) - 8), len(ops)))  # deep as well as wide
        a = int(rng.choice(recent + list(range(n_in))))
        b = (int(rng.choice(bounded)) if op == MUL else int(rng.choice(len(ops)))
             if op in (ADD, SUB) else -1)
        ops.append(op)
        args.append((a, b))
        if op in (SIN, COS, TANH):
            bounded.append(len(ops) - 1)
    n = len(ops)
    outputs = rng.choice(np.arange(n_in, n), size=m, replace=m > n - n_in)
    return {"ops": np.array(ops), "args": np.array(args), "n_in": np.array(n_in),
            "outputs": np.asarray(outputs, dtype=np.int64), "x": rng.standard_normal(n_in)}


def chain_program(rng, depth, n_in=2, m=2):
    """n_in inputs mixed into one node, then depth times c = c + tanh(c): a chain 2 * depth nodes
    deep; the outputs are its last m nodes."""
    ops, args = [INPUT] * n_in + [TANH, MUL], [(-1, -1)] * n_in + [(1, -1), (0, n_in)]
    for k in range(2, n_in):
        args.append((len(ops) - 1, k))
        ops.append(ADD)
    for _ in range(depth):
        cur = len(ops) - 1
        ops += [TANH, ADD]
        args += [(cur, -1), (cur, cur + 1)]
    return {"ops": np.array(ops), "args": np.array(args), "n_in": np.array(n_in),
            "outputs": np.arange(len(ops) - m, len(ops))[::-1].copy(),
            "x": rng.standard_normal(n_in)}


def program_of(case):
    return {"ops": case["ops"].copy(), "args": case["args"].copy(), "n_in": int(case["n_in"]),
            "outputs": case["outputs"].copy()}


def _describe(case):
    n, n_in, m = len(case["ops"]), int(case["n_in"]), len(case["outputs"])
    kind = "a chain" if n > 1000 else "a random program"
    return f"{kind} of {n} nodes, {n_in} inputs, {m} outputs"


# --- the worker side ----------------------------------------------------------------------------

def _pair(out, name, what):
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise TypeError(f"{name} should return a pair ({what}), got {type(out).__name__}")
    return out


def probe_jvp(ns, case):
    y, dy = _pair(need(ns, "jvp")(program_of(case), case["x"].copy(), case["dx"].copy()),
                  "jvp", "y, dy")
    return {"y": y, "dy": dy}


def probe_vjp(ns, case):
    y, dx = _pair(need(ns, "vjp")(program_of(case), case["x"].copy(), case["dy"].copy()),
                  "vjp", "y, dx")
    return {"y": y, "dx": dx}


def probe_jacobian(ns, case):
    """Call the submission's jacobian with its own jvp and vjp counted (it calls them by name,
    through the notebook's globals)."""
    jacobian = need(ns, "jacobian")
    calls = {"jvp": 0, "vjp": 0}
    originals = {k: need(ns, k) for k in calls}

    def counted(k):
        def call(*args, **kwargs):
            calls[k] += 1
            return originals[k](*args, **kwargs)
        return call

    try:
        ns.update({k: counted(k) for k in calls})
        J = jacobian(program_of(case), case["x"].copy())
    finally:
        ns.update(originals)
    return {"J": J, "jvp_calls": calls["jvp"], "vjp_calls": calls["vjp"]}


# --- the grader side -----------------------------------------------------------------------------

def torch_function(case):
    import torch

    ops, args, n_in = case["ops"], case["args"], int(case["n_in"])

    def f(x):
        vals = [x[i] for i in range(n_in)]
        for op, (a, b) in zip(ops[n_in:], args[n_in:]):
            va = vals[a]
            vals.append(va + vals[b] if op == ADD else va - vals[b] if op == SUB else
                        va * vals[b] if op == MUL else torch.sin(va) if op == SIN else
                        torch.cos(va) if op == COS else torch.tanh(va))
        return torch.stack([vals[int(i)] for i in case["outputs"]])
    return f


def _reference(case):
    import torch

    f = torch_function(case)
    x = torch.tensor(case["x"])
    return f(x).numpy(), torch.autograd.functional.jacobian(f, x).numpy()


def expect_jvp(case):
    y, J = _reference(case)
    return {"y": y, "dy": J @ case["dx"]}


def expect_vjp(case):
    y, J = _reference(case)
    return {"y": y, "dx": case["dy"] @ J}


def expect_jacobian(case):
    _, J = _reference(case)
    m, n = J.shape
    return {"J": J, "jvp_calls": np.array(n if n < m else 0),
            "vjp_calls": np.array(m if m < n else 0)}


def compare_jacobian(q, case, want, got):
    for key in ("J", "jvp_calls", "vjp_calls"):
        if key not in got:
            raise Failure(f"{key}: no answer")
    assert_close("J", got["J"], want["J"])
    m, n = want["J"].shape
    calls = (int(got["jvp_calls"]), int(got["vjp_calls"]))
    allowed = {(n, 0), (0, m)} if n == m else {(int(want["jvp_calls"]), int(want["vjp_calls"]))}
    if calls not in allowed:
        cheap = (f"{n} calls of jvp (one per input)" if n < m
                 else f"{m} calls of vjp (one per output)")
        raise Failure(f"the Jacobian is right, but it took {calls[0]} calls of jvp and "
                      f"{calls[1]} of vjp; with {n} inputs and {m} outputs, the cheapest way is "
                      f"{cheap}, and nothing else")


def _with(rng, case, key, size):
    case[key] = rng.standard_normal(size)
    return case


def jvp_cases(rng=None):
    rng = rng if rng is not None else np.random.default_rng(2201)
    cases = [random_program(rng, int(rng.integers(1, 6)), int(rng.integers(1, 6)))
             for _ in range(3)]
    cases.append(chain_program(rng, 1500))
    return [_with(rng, c, "dx", int(c["n_in"])) for c in cases]


def vjp_cases(rng=None):
    rng = rng if rng is not None else np.random.default_rng(2202)
    cases = [random_program(rng, int(rng.integers(1, 6)), int(rng.integers(1, 6)))
             for _ in range(3)]
    repeat = random_program(rng, 3, 2)  # one node named twice among the outputs
    repeat["outputs"] = np.array([repeat["outputs"][0]] * 2 + [repeat["outputs"][1]])
    cases += [repeat, chain_program(rng, 1500)]
    return [_with(rng, c, "dy", len(c["outputs"])) for c in cases]


def jacobian_cases(wide):
    def cases(rng=None):
        rng = rng if rng is not None else np.random.default_rng(2203 + wide)
        out = []
        for _ in range(3):
            few, many = int(rng.integers(1, 4)), int(rng.integers(5, 9))
            out.append(random_program(rng, many, few) if wide else random_program(rng, few, many))
        out.append(chain_program(rng, 1500, 3, 2) if wide else chain_program(rng, 1500, 2, 3))
        return out
    return cases


QUESTIONS = {
    "jvp": {
        "points": 3, "title": "jvp: forward mode, one pass",
        "probe": probe_jvp, "expect": expect_jvp, "describe": _describe,
        "cases": jvp_cases, "recursion_limit": RECURSION_LIMIT,
    },
    "vjp": {
        "points": 3, "title": "vjp: reverse mode, one forward and one backward sweep",
        "probe": probe_vjp, "expect": expect_vjp, "describe": _describe,
        "cases": vjp_cases, "recursion_limit": RECURSION_LIMIT,
    },
    "jacobian_few_inputs": {
        "points": 2, "title": "jacobian: few inputs, many outputs (forward mode)",
        "probe": probe_jacobian, "expect": expect_jacobian, "compare": compare_jacobian,
        "describe": _describe, "cases": jacobian_cases(False),
        "recursion_limit": RECURSION_LIMIT,
    },
    "jacobian_few_outputs": {
        "points": 2, "title": "jacobian: many inputs, few outputs (reverse mode)",
        "probe": probe_jacobian, "expect": expect_jacobian, "compare": compare_jacobian,
        "describe": _describe, "cases": jacobian_cases(True),
        "recursion_limit": RECURSION_LIMIT,
    },
}
