"""Hidden tests of assignment 02_forward_backward_sgd (instructor only: never released).

The grader describes random graphs as plain arrays (an op code and two parent indices per node);
the worker builds them from dagprop nodes and calls the submission, the grader builds the same
graph in torch for the reference.
"""

import collections

import numpy as np
from coursework_checks import Failure, need, switch_off_graphs

ASSIGNMENT = "02_forward_backward_sgd"
BLOCK_MODULES = ("torch",)

INPUT, PARAM, ADD, MUL, TANH, SIGMOID, MATMUL, MEAN = range(8)
OPNAMES = ["input", "param", "add", "mul", "tanh", "sigmoid", "matmul", "mean"]


def worker_setup():
    """Switch dagprop's own loops off: the submission must order and traverse the graph itself."""
    switch_off_graphs("dagprop's own loops (dp.Graph, dp.topological_order) are switched off "
                      "while grading: use your topo_sort, forward, backward and sgd")


# --- graphs as arrays --------------------------------------------------------------------------

def random_graph(rng, n_ops=14, shape=(4, 3)):
    """Two inputs, two parameters and a square weight W, then random ops with fan-out, a dead
    branch the loss does not use, and a sum of every other unused node into the loss."""
    ops, args, case = [], [], {}

    def add(op, a=-1, b=-1):
        ops.append(op)
        args.append((a, b))
        return len(ops) - 1

    same = [add(INPUT), add(INPUT), add(PARAM), add(PARAM)]
    w = add(PARAM)
    for i in same:
        case[f"x{i}"] = rng.standard_normal(shape)
    case[f"x{w}"] = rng.standard_normal((shape[1], shape[1])) / np.sqrt(shape[1])
    for k in range(n_ops):
        op = MATMUL if k == 0 else int(rng.choice([ADD, MUL, TANH, SIGMOID, MATMUL]))
        recent = same[-6:]  # favour recent nodes, so the graph gets deep as well as wide
        a = int(rng.choice(recent))
        b = w if op == MATMUL else int(rng.choice(same)) if op in (ADD, MUL) else -1
        same.append(add(op, a, b))
    add(TANH, same[-3])  # the dead branch
    used = {x for pair in args for x in pair}
    sinks = [i for i in same if i not in used]
    total = sinks[0]
    for s in sinks[1:]:
        total = add(ADD, total, s)
    loss = add(MEAN, total)
    case.update(ops=np.array(ops), args=np.array(args), loss=np.array(loss))
    return case


def chain(depth):
    """x, then depth times: x = x + tanh(x). Each level is a diamond, the depth is 2 * depth."""
    ops, args = [INPUT], [(-1, -1)]
    cur = 0
    for _ in range(depth):
        ops.append(TANH)
        args.append((cur, -1))
        ops.append(ADD)
        args.append((cur, len(ops) - 2))
        cur = len(ops) - 1
    ops.append(MEAN)
    args.append((cur, -1))
    return {"ops": np.array(ops), "args": np.array(args), "loss": np.array(len(ops) - 1),
            "x0": np.linspace(-1, 1, 6).reshape(2, 3)}


def ancestors(case):
    args = case["args"]
    seen, stack = set(), [int(case["loss"])]
    while stack:
        i = stack.pop()
        if i in seen:
            continue
        seen.add(i)
        stack += [int(p) for p in args[i] if p >= 0]
    return seen


def _describe(case):
    n = len(case["ops"])
    return f"a chain of diamonds {n - 2} nodes deep" if n > 1000 else f"a random graph of {n} nodes"


# --- the worker side ----------------------------------------------------------------------------

def _nodes(case, leaf, tanh, sigmoid, mean):
    """The nodes of a case's graph built with one library; ``leaf(i, op)`` makes node i when it
    is an input or a parameter."""
    nodes = []
    for i, (op, (a, b)) in enumerate(zip(case["ops"], case["args"])):
        if op in (INPUT, PARAM):
            n = leaf(i, op)
        elif op == ADD:
            n = nodes[a] + nodes[b]
        elif op == MUL:
            n = nodes[a] * nodes[b]
        elif op == TANH:
            n = tanh(nodes[a])
        elif op == SIGMOID:
            n = sigmoid(nodes[a])
        elif op == MATMUL:
            n = nodes[a] @ nodes[b]
        else:
            n = mean(nodes[a])
        nodes.append(n)
    return nodes


def build(case, values=None):
    import dagprop as dp

    values = values or case

    def leaf(i, op):
        kind = dp.Input if op == INPUT else dp.Param
        return kind(values[f"x{i}"].copy(), name=f"n{i}")

    return _nodes(case, leaf, dp.tanh, dp.sigmoid, dp.mean)


def probe_topo(ns, case):
    topo_sort = need(ns, "topo_sort")
    nodes = build(case)
    index = {id(n): i for i, n in enumerate(nodes)}
    order = topo_sort(nodes[int(case["loss"])])
    return {"order": np.array([index.get(id(n), -1) for n in order], dtype=np.int64)}


def probe_forward(ns, case):
    forward = need(ns, "forward")
    nodes = build(case)
    new = {k[4:]: v for k, v in case.items() if k.startswith("new.")}
    for i, n in enumerate(nodes):
        if f"x{i}" in new:
            n.value = new[f"x{i}"].copy()
    forward([n for n in nodes if n.kind == "compute"])
    return {f"n{i}": n.value for i, n in enumerate(nodes) if n.kind == "compute"}


def probe_backward(ns, case):
    import dagprop as dp

    backward = need(ns, "backward")
    nodes = build(case)
    keep = ancestors(case)
    for n in nodes:  # stale gradients from an earlier step: backward must reset them
        n.grad = np.full(np.shape(n.value), 5.0)
    pick = [n for i, n in enumerate(nodes) if i in keep]
    backward([n for n in pick if n.kind == "compute"],
             [n for n in pick if isinstance(n, dp.Param)],
             [n for n in pick if n.kind == "input"], nodes[int(case["loss"])])
    return {f"n{i}.grad": nodes[i].grad for i in sorted(keep) if case["ops"][i] in (INPUT, PARAM)}


def probe_sgd(ns, case):
    import dagprop as dp

    sgd = need(ns, "sgd")
    k = sum(1 for key in case if key.startswith("w"))
    params = [dp.Param(case[f"w{i}"].copy(), name=f"w{i}") for i in range(k)]
    for i, p in enumerate(params):
        p.grad = case[f"g{i}"].copy()
    sgd(params, float(case["eta"]))
    return {f"w{i}": np.asarray(p.value) for i, p in enumerate(params)}


def probe_train(ns, case):
    train_moons = need(ns, "train_moons")
    params = train_moons(case["X"].copy(), case["y"].copy(), int(case["steps"]))
    if not isinstance(params, (list, tuple)):
        raise TypeError(f"train_moons should return a list of arrays, got {type(params).__name__}")
    return {f"p{i}": np.asarray(p, dtype=np.float64) for i, p in enumerate(params)}


# --- the grader side -----------------------------------------------------------------------------

def torch_graph(case, values):
    import torch

    def leaf(i, op):
        return torch.tensor(values[f"x{i}"], dtype=torch.float64, requires_grad=True)

    return _nodes(case, leaf, torch.tanh, torch.sigmoid, lambda t: t.mean())


def expect_topo(case):
    return {"ancestors": ancestors(case)}


def compare_topo(q, case, want, got):
    if got["order"].size > len(case["ops"]):  # checked before the grader spends time on it
        raise Failure(f"the order has {got['order'].size} entries for a graph of "
                      f"{len(case['ops'])} nodes")
    order = [int(i) for i in got["order"]]
    anc, args = want["ancestors"], case["args"]
    def name(i):
        return f"n{i} ({OPNAMES[case['ops'][i]]})"

    if -1 in order:
        raise Failure("the order holds something that is not a node of the graph")
    counts = collections.Counter(order)
    dup = [i for i, k in counts.items() if k > 1]
    if dup:
        i = min(dup)
        raise Failure(f"{name(i)} appears {counts[i]} times; each node must appear once")
    missing = anc - set(order)
    if missing:
        raise Failure(f"{len(missing)} of the {len(anc)} nodes the loss depends on are missing, "
                      f"e.g. {name(min(missing))}")
    extra = set(order) - anc
    if extra:
        raise Failure(f"{name(min(extra))} is in the order, but the loss does not depend on it")
    pos = {i: k for k, i in enumerate(order)}
    for i in order:
        for p in args[i]:
            if p >= 0 and pos[p] > pos[i]:
                raise Failure(f"{name(i)} comes before its parent {name(int(p))}")


def expect_forward(case):
    new = {k[4:]: v for k, v in case.items() if k.startswith("new.")}
    nodes = torch_graph(case, {**case, **new})
    return {f"n{i}": n.detach().numpy() for i, n in enumerate(nodes)
            if case["ops"][i] not in (INPUT, PARAM)}


def forward_cases():
    rng = np.random.default_rng(2201)
    cases = []
    for _ in range(3):
        case = random_graph(rng)
        for i, op in enumerate(case["ops"]):
            if op in (INPUT, PARAM):  # new leaf values: forward must recompute everything
                case[f"new.x{i}"] = case[f"x{i}"] + rng.standard_normal(case[f"x{i}"].shape)
        cases.append(case)
    return cases


def expect_backward(case):
    nodes = torch_graph(case, case)
    nodes[int(case["loss"])].backward()
    return {f"n{i}.grad": nodes[i].grad.numpy() for i in sorted(ancestors(case))
            if case["ops"][i] in (INPUT, PARAM)}


def sgd_cases():
    rng = np.random.default_rng(2204)
    cases = []
    for shapes in [[(3, 2), (2,)], [(4, 4), (4,), (4, 1), (1,)]]:
        case = {"eta": np.array(rng.uniform(0.01, 0.5))}
        for i, s in enumerate(shapes):
            case[f"w{i}"], case[f"g{i}"] = rng.standard_normal(s), rng.standard_normal(s)
        cases.append(case)
    return cases


def expect_sgd(case):
    k = sum(1 for key in case if key.startswith("w"))
    return {f"w{i}": case[f"w{i}"] - case["eta"] * case[f"g{i}"] for i in range(k)}


TRAIN_ACCURACY, TEST_ACCURACY, STEPS = 0.95, 0.90, 1000
MAX_WEIGHTS = 100_000  # the grader evaluates the network in its own process: keep it small


def train_cases():
    import dagprop as dp

    X, y = dp.data.make_moons(200, noise=0.15, seed=2205)
    return [{"X": X, "y": y, "steps": np.array(STEPS)}]


def expect_train(case):
    import dagprop as dp

    return dict(zip(("X_test", "y_test"), dp.data.make_moons(400, noise=0.15, seed=2206)))


def mlp_accuracy(params, X, y):
    """Accuracy of the ReLU MLP with weights [W1, b1, W2, b2, ...], W of shape (in, out)."""
    h = X
    for k in range(0, len(params), 2):
        h = h @ params[k] + params[k + 1]
        if k + 2 < len(params):
            h = np.maximum(h, 0)
    return float(np.mean(np.argmax(h, axis=1) == y))


def compare_train(q, case, want, got):
    params = [got[f"p{i}"] for i in range(len(got))]
    if not params or len(params) % 2:
        raise Failure(f"expected the weights [W1, b1, W2, b2, ...] of an MLP, got {len(params)} "
                      "arrays")
    if sum(p.size for p in params) > MAX_WEIGHTS:
        raise Failure(f"the network has {sum(p.size for p in params)} weights; the grader "
                      f"evaluates networks of up to {MAX_WEIGHTS}")
    fan_in = 2
    for k in range(0, len(params), 2):
        W, b = params[k], params[k + 1]
        if W.ndim != 2 or W.shape[0] != fan_in or b.shape != (W.shape[1],):
            raise Failure(f"layer {k // 2 + 1}: W of shape {W.shape} and b of shape {b.shape} "
                          f"do not make a layer with {fan_in} inputs (W must be (in, out))")
        fan_in = W.shape[1]
    if fan_in != 2:
        raise Failure(f"the last layer has {fan_in} outputs; two logits (one per class) are needed")
    train = mlp_accuracy(params, case["X"], case["y"])
    test = mlp_accuracy(params, want["X_test"], want["y_test"])
    if train < TRAIN_ACCURACY:
        raise Failure(f"training accuracy {train:.1%} after {STEPS} steps; at least "
                      f"{TRAIN_ACCURACY:.0%} is needed")
    if test < TEST_ACCURACY:
        raise Failure(f"accuracy on fresh points from the same distribution {test:.1%}; at least "
                      f"{TEST_ACCURACY:.0%} is needed (training accuracy was {train:.1%})")


def _topo_cases():
    rng = np.random.default_rng(2202)
    return [random_graph(rng) for _ in range(3)] + [chain(2500)]


QUESTIONS = {
    "topo_sort": {
        "points": 3, "title": "topo_sort: a topological order without recursion",
        "cases": _topo_cases, "probe": probe_topo, "expect": expect_topo,
        "compare": compare_topo, "describe": _describe,
    },
    "forward": {
        "points": 1, "title": "forward: the forward loop",
        "cases": forward_cases, "probe": probe_forward, "expect": expect_forward,
        "describe": _describe,
    },
    "backward": {
        "points": 3, "title": "backward: the backward loop",
        "cases": lambda: [random_graph(np.random.default_rng(2203 + k)) for k in range(3)],
        "probe": probe_backward, "expect": expect_backward, "describe": _describe,
    },
    "sgd": {
        "points": 1, "title": "sgd: one gradient-descent step",
        "cases": sgd_cases, "probe": probe_sgd, "expect": expect_sgd,
        "describe": lambda c: f"{sum(1 for k in c if k.startswith('w'))} parameters",
    },
    "train": {
        "points": 2, "title": "train_moons: an MLP trained with your loops",
        "cases": train_cases, "probe": probe_train, "expect": expect_train,
        "compare": compare_train, "timeout": 60,
        "describe": lambda c: f"{len(c['y'])} points, {STEPS} steps",
    },
}
