"""Benchmarks of dagprop: one training step, side by side with its peers.

    python benchmarks/run.py            # the full run (a few minutes); writes _build/bench/results.md
    python benchmarks/run.py --record   # the same, written to benchmarks/results.md (to commit)
    python benchmarks/run.py --quick    # a smoke run with small sizes (about half a minute)

Four parts, each printed as a table, then a summary with the course's targets:

S  scalar nodes: the two-moons classifier MLP(2, [16, 16, 1]) built from ~65,000 scalar nodes,
   dagprop against micrograd 0.1.0 (which rebuilds its graph at every step);
T  tensor nodes: the same architecture on batches in float32, dagprop against torch (CPU) and a
   hand-fused numpy step (forward, backward and update written out by hand);
C  complexity: time and peak memory per compute node of a layered scalar graph, 10^3 to 10^6 nodes,
   each size's step time set against a control loop that walks the same nodes without arithmetic;
O  per-op overhead: what one compute node costs in Graph.forward and Graph.backward.

Before anything is timed, every pair of implementations is checked to compute the same loss and the
same update from the same weights. See benchmarks/README.md for the methodology.
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import gc
import glob
import importlib.metadata
import itertools
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import dagprop as dp
import numpy as np

HERE = Path(__file__).resolve().parent
BUILD = HERE.parent / "_build" / "bench"  # where `make bench` writes, so `git status` stays clean
LR = 0.1          # learning rate of every SGD step
ALPHA = 1e-4      # weight of the L2 term in the scalar benchmark, as in micrograd's demo

# The course's targets: (label, measured key, "max" or "min", bound).
TARGETS = [
    ("S  micrograd / dagprop, scalar MLP step", "S_speedup", "min", 20.0),
    ("T  dagprop / numpy, N=100 H=16", "T_np_100x16", "max", 2.5),
    ("T  dagprop / numpy, N=128 H=512", "T_np_128x512", "max", 1.3),
    ("T  dagprop / numpy, N=1024 H=1024", "T_np_1024x1024", "max", 1.3),
    ("T  torch / dagprop, N=100 H=16", "T_torch_100x16", "min", 1.0),
    ("C  (step / control loop) per node, worst size / 10^3", "C_time", "max", 1.2),
    ("C  memory per node, largest / smallest graph", "C_mem", "max", 1.5),
]


# --- timing ----------------------------------------------------------------------------------------

def side_by_side(steps: dict, budget: float, rounds: int, sample: float | None = None,
                 warmup: int = 2, pause: float = 0.05, clock=time.perf_counter,
                 stat=statistics.median) -> dict[str, float]:
    """Median seconds per call of each function in ``steps``, measured side by side.

    Every function is warmed up, then timed for about ``budget`` seconds in all, in ``rounds``
    rounds in which the functions take turns, so that a change of load on a shared machine hits all
    of them alike. A turn is split into samples: blocks of consecutive calls lasting about
    ``sample`` seconds (the whole turn when None; at least one call). A sample is its block's time
    divided by its calls, so a garbage collection that happens every few calls is counted in its
    share; short samples let the median set aside moments when another process held the CPU. The
    order of the turns rotates from round to round, and a short untimed pause separates turns, so
    that thread pools still spinning after one library's turn (torch's, OpenBLAS's) are not billed
    to the next. The result is the median of the samples. ``clock`` is wall time by default;
    single-threaded pure-Python work may be timed in CPU time (``time.process_time``), which
    other processes on a shared machine disturb far less; since they can only add to it (by
    sharing the caches), ``stat=min`` then suits better than the median.
    """
    names = list(steps)
    per_call = {}
    for name in names:
        for _ in range(warmup):
            steps[name]()
        t0 = clock()
        steps[name]()
        per_call[name] = max(clock() - t0, 1e-7)
    samples: dict[str, list[float]] = {name: [] for name in names}
    turn = budget / rounds
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            step = steps[name]
            k = max(1, int((sample or turn) / per_call[name]))
            time.sleep(pause)
            start = clock()
            while True:
                t0 = clock()
                for _ in range(k):
                    step()
                t1 = clock()
                samples[name].append((t1 - t0) / k)
                if t1 - start + (t1 - t0) > turn:
                    break
    return {name: stat(s) for name, s in samples.items()}


def fmt_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    if seconds >= 1e-6:
        return f"{seconds * 1e6:.1f} µs"
    return f"{seconds * 1e9:.0f} ns"


def table(header: list[str], rows: list[list]) -> str:
    """A markdown table (it reads well in a terminal too)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# --- the machine ----------------------------------------------------------------------------------

def _openblas():
    """numpy's bundled OpenBLAS, asked through ctypes for its core type and thread count."""
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__) + ".libs", "*openblas*.so*"))
    for path in libs:
        lib = ctypes.CDLL(path)  # already loaded by numpy: this returns the same library
        for suffix in ("64_", "", "_64"):
            try:
                threads = getattr(lib, f"scipy_openblas_get_num_threads{suffix}")
                core = getattr(lib, f"scipy_openblas_get_corename{suffix}")
            except AttributeError:
                continue
            core.restype = ctypes.c_char_p
            return f"OpenBLAS, {threads()} threads, core {core().decode()}"
    return None


def blas_info() -> str:
    try:
        import threadpoolctl
    except ImportError:
        found = _openblas()
        if found:
            return found
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{cfg['name']} {cfg['version']} (threads unknown)"
    pools = threadpoolctl.threadpool_info()
    return "; ".join(f"{p['internal_api']} {p['version']}, {p['num_threads']} threads" for p in pools)


def machine() -> dict[str, str]:
    import torch
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    env = {k: v for k, v in os.environ.items()
           if k.startswith(("OPENBLAS_", "OMP_", "MKL_")) and k not in ("OPENBLAS_VERBOSE",)}
    return {
        "CPU": f"{cpu}, {os.cpu_count()} logical cores",
        "Python": platform.python_version(),
        "numpy": np.__version__,
        "numpy BLAS": blas_info(),
        "torch": f"{torch.__version__}, {torch.get_num_threads()} threads",
        "micrograd": importlib.metadata.version("micrograd"),
        "dagprop": dp.__version__,
        "BLAS environment": ", ".join(f"{k}={v}" for k, v in sorted(env.items())) or "none set",
        "niceness": str(os.nice(0)),
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


# --- S: scalar nodes, dagprop against micrograd --------------------------------------------------

def moons_pm1(n: int):
    """n two-moons points and labels mapped to -1/+1."""
    X, y = dp.data.make_moons(n, noise=0.1, seed=0)
    return X, 2.0 * y - 1.0


class MicrogradStep:
    """One training step the way micrograd's demo does it: build the expression (the forward pass),
    zero the gradients, backpropagate, update."""

    def __init__(self, X, y, seed: int = 1):
        from micrograd.nn import MLP
        random.seed(seed)
        self.model = MLP(2, [16, 16, 1])
        self.X, self.y = X.tolist(), y.tolist()

    def __call__(self) -> float:
        from micrograd.engine import Value
        model = self.model
        inputs = [[Value(v) for v in row] for row in self.X]
        scores = [model(x) for x in inputs]
        losses = [(1 + -yi * si).relu() for yi, si in zip(self.y, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = ALPHA * sum(p * p for p in model.parameters())
        total = data_loss + reg_loss
        model.zero_grad()
        total.backward()
        for p in model.parameters():
            p.data -= LR * p.grad
        return total.data

    def weights(self):
        """Per layer, per neuron: (input weights, bias) as Python floats."""
        return [[([w.data for w in n.w], n.b.data) for n in layer.neurons]
                for layer in self.model.layers]

    def params(self) -> list[float]:
        return [p.data for p in self.model.parameters()]


def scalar_mlp(weights, X, y):
    """The same network and loss from scalar dagprop nodes, node for node as micrograd builds it:
    a neuron is ``b + w1*x1 + w2*x2 + ...`` (then relu except in the last layer)."""
    layers = [[([dp.Param(w) for w in ws], dp.Param(b)) for ws, b in layer] for layer in weights]
    params = [p for layer in layers for ws, b in layer for p in (*ws, b)]
    losses = []
    for row, yi in zip(X.tolist(), y.tolist()):
        h = [dp.Input(v) for v in row]
        for k, layer in enumerate(layers):
            h = [sum((w * x for w, x in zip(ws, h)), b) for ws, b in layer]
            if k < len(layers) - 1:
                h = [dp.relu(a) for a in h]
        losses.append(dp.relu(1 + (-yi) * h[0]))
    data_loss = sum(losses) * (1.0 / len(losses))
    loss = data_loss + ALPHA * sum(p * p for p in params)
    return loss, params


def bench_scalar(quick: bool) -> dict:
    n = 20 if quick else 100
    X, y = moons_pm1(n)
    mg = MicrogradStep(X, y)
    L, params = scalar_mlp(mg.weights(), X, y)
    g = dp.Graph(L)

    def dagprop_step():
        g.forward()
        g.backward(L)
        g.sgd(LR)

    # Same loss from the same weights, and the same weights after the update, twice in a row.
    for _ in range(2):
        g.forward()
        before = L.value
        dagprop_step()
        mg_loss = mg()
        assert abs(before - mg_loss) <= 1e-12 * abs(mg_loss), (before, mg_loss)
        diff = max(abs(p.value - q) for p, q in zip(params, mg.params()))
        assert diff < 1e-12, f"weights differ after one step by {diff}"
    print(f"S: same loss ({mg_loss:.12f}) and same updated weights (max diff {diff:.1e}) "
          f"in micrograd and dagprop", flush=True)

    t = side_by_side({"micrograd": mg, "dagprop": dagprop_step},
                     budget=1.0 if quick else 10.0, rounds=2 if quick else 5, sample=0.25,
                     warmup=1)
    # dagprop's three loops, timed apart (the step above is their sum).
    parts = side_by_side({"forward": g.forward, "backward": lambda: g.backward(L),
                          "sgd": lambda: g.sgd(LR)}, budget=0.3 if quick else 1.5,
                         rounds=2 if quick else 5, sample=0.05)
    n_nodes = len(g.compute)
    rows = [["micrograd 0.1.0 (rebuild + zero_grad + backward + update)", fmt_time(t["micrograd"]),
             f"{t['micrograd'] / n_nodes * 1e9:.0f} ns", "1.0"],
            ["dagprop (forward + backward + sgd)", fmt_time(t["dagprop"]),
             f"{t['dagprop'] / n_nodes * 1e9:.0f} ns", f"{t['micrograd'] / t['dagprop']:.1f}"]]
    text = (f"### S. Scalar nodes: MLP(2, [16, 16, 1]) on {n} points, hinge + L2 loss\n\n"
            f"{n_nodes:,} compute nodes, {len(g.params)} parameters, {len(g.inputs)} inputs and "
            f"{len(g.constants)} constants.\n\n"
            + table(["implementation", "time per step", "per compute node", "speed-up vs micrograd"],
                    rows)
            + f"\n\ndagprop's loops: forward {fmt_time(parts['forward'])}, backward "
            f"{fmt_time(parts['backward'])} (backward / forward = "
            f"{parts['backward'] / parts['forward']:.1f}), sgd {fmt_time(parts['sgd'])}.\n")
    return {"text": text, "S_speedup": t["micrograd"] / t["dagprop"]}


# --- T: tensor nodes, dagprop against torch and hand-fused numpy ---------------------------------

def tensor_problem(N: int, H: int):
    X, y = moons_pm1(N)
    return X.astype(np.float32), y.astype(np.float32)[:, None]


def dagprop_tensor(X, t, H):
    """dagprop: dp.nn.MLP in float32 and the mean hinge loss as tensor ops."""
    net = dp.nn.MLP([2, H, H, 1], activation="relu", seed=0, dtype=np.float32)
    scores = net(dp.Input(X, name="X"))
    L = dp.mean(dp.relu(1 - dp.Input(t, name="y") * scores), name="L")
    g = dp.Graph(L)

    def step():
        g.forward()
        g.backward(L)
        g.sgd(LR)
        return L.value
    return step, net.params


class TorchStep:
    """torch as its users write it: nn.Sequential of nn.Linear and nn.ReLU, optim.SGD."""

    def __init__(self, X, t, weights):
        import torch
        W1, b1, W2, b2, W3, b3 = weights
        lin = []
        for W, b in ((W1, b1), (W2, b2), (W3, b3)):
            layer = torch.nn.Linear(*W.shape)
            with torch.no_grad():  # nn.Linear stores W as (out, in): copy the transpose
                layer.weight.copy_(torch.from_numpy(W.T.copy()))
                layer.bias.copy_(torch.from_numpy(b))
            lin.append(layer)
        self.net = torch.nn.Sequential(lin[0], torch.nn.ReLU(), lin[1], torch.nn.ReLU(), lin[2])
        self.opt = torch.optim.SGD(self.net.parameters(), lr=LR)
        self.X, self.t = torch.from_numpy(X), torch.from_numpy(t)

    def __call__(self):
        import torch
        self.opt.zero_grad()
        loss = torch.relu(1 - self.t * self.net(self.X)).mean()
        loss.backward()
        self.opt.step()
        return loss

    def weights(self):
        out = []
        for layer in (self.net[0], self.net[2], self.net[4]):
            out += [layer.weight.detach().numpy().T, layer.bias.detach().numpy()]
        return out


class NumpyStep:
    """The same step written out by hand in numpy: forward, backward and update, nothing else."""

    def __init__(self, X, t, weights):
        self.X, self.t = X, t
        self.W = [w.copy() for w in weights]
        self.scale = -t / X.shape[0]  # d(mean hinge)/d(score) where the hinge is active

    def __call__(self):
        X, t = self.X, self.t
        W1, b1, W2, b2, W3, b3 = self.W
        z1 = X @ W1
        z1 += b1
        h1 = np.maximum(z1, 0)
        z2 = h1 @ W2
        z2 += b2
        h2 = np.maximum(z2, 0)
        s = h2 @ W3
        s += b3
        m = 1 - t * s
        loss = np.maximum(m, 0).mean()
        ds = self.scale * (m > 0)
        gW3, gb3 = h2.T @ ds, ds.sum(0)
        dz2 = ds @ W3.T
        dz2 *= z2 > 0
        gW2, gb2 = h1.T @ dz2, dz2.sum(0)
        dz1 = dz2 @ W2.T
        dz1 *= z1 > 0
        gW1, gb1 = X.T @ dz1, dz1.sum(0)
        for w, gw in zip(self.W, (gW1, gb1, gW2, gb2, gW3, gb3)):
            w -= LR * gw
        return loss


def bench_tensor(quick: bool) -> dict:
    sizes = [(100, 16), (128, 128)] if quick else [(100, 16), (128, 512), (1024, 1024)]
    rows, out = [], {}
    for N, H in sizes:
        X, t = tensor_problem(N, H)
        dstep, params = dagprop_tensor(X, t, H)
        w0 = [p.value.copy() for p in params]
        nstep, tstep = NumpyStep(X, t, w0), TorchStep(X, t, w0)
        # One step from the same weights: same loss, same change of every weight.
        losses = [float(dstep()), float(nstep()), tstep().item()]
        assert np.allclose(losses, losses[0], rtol=1e-5, atol=1e-6), losses
        deltas = {"dagprop": [p.value - w for p, w in zip(params, w0)],
                  "numpy": [w - v for w, v in zip(nstep.W, w0)],
                  "torch": [w - v for w, v in zip(tstep.weights(), w0)]}
        for name in ("numpy", "torch"):
            for a, b in zip(deltas["dagprop"], deltas[name]):
                np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3 * np.abs(b).max() + 1e-9,
                                           err_msg=f"T {N}x{H}: dagprop and {name} disagree")
        assert all(p.value.dtype == np.float32 for p in params)
        print(f"T N={N} H={H}: same loss ({losses[0]:.6f}) and same update in dagprop, "
              f"numpy and torch", flush=True)

        tm = side_by_side({"numpy": nstep, "dagprop": dstep, "torch": tstep},
                          budget=0.6 if quick else 4.5, rounds=2 if quick else 9, sample=0.02)
        key = f"{N}x{H}"
        out[f"T_np_{key}"] = tm["dagprop"] / tm["numpy"]
        out[f"T_torch_{key}"] = tm["torch"] / tm["dagprop"]
        rows.append([N, H, fmt_time(tm["numpy"]), fmt_time(tm["dagprop"]), fmt_time(tm["torch"]),
                     f"{tm['dagprop'] / tm['numpy']:.2f}", f"{tm['torch'] / tm['dagprop']:.2f}"])
    text = ("### T. Tensor nodes: MLP(2, [H, H, 1]) on a batch of N points, float32, mean hinge "
            "loss\n\n"
            + table(["N", "H", "numpy by hand", "dagprop", "torch", "dagprop / numpy",
                     "torch / dagprop"], rows) + "\n")
    out["text"] = text
    return out


# --- C: complexity, time and memory per node from 10^3 to 10^6 nodes ----------------------------

WIDTH = 32  # units per layer of the layered graph


def layered_graph(n_target: int, seed: int = 0):
    """A layered DAG of scalar nodes with about ``n_target`` compute nodes.

    Each layer has WIDTH units; unit j computes relu(a*u + b*v + c) from two units u, v of the
    previous layer chosen at random, with its own parameters a, b, c (5 compute nodes). The loss is
    the mean square of the last layer. Values stay of order one at any depth.
    """
    rng = random.Random(seed)
    depth = max(1, round((n_target - 2 * WIDTH - 1) / (5 * WIDTH)))
    h = [dp.Input(rng.uniform(-1, 1)) for _ in range(WIDTH)]
    for _ in range(depth):
        new = []
        for _ in range(WIDTH):
            u, v = h[rng.randrange(WIDTH)], h[rng.randrange(WIDTH)]
            a, b = dp.Param(rng.uniform(-1, 1)), dp.Param(rng.uniform(-1, 1))
            c = dp.Param(rng.uniform(0, 0.5))
            new.append(dp.relu(a * u + b * v + c))
        h = new
    L = sum(x * x for x in h) * (1.0 / WIDTH)
    return dp.Graph(L), L


def memory_worker(n: int) -> dict:
    """Peak memory of building the graph and one step, in a fresh process (an empty heap)."""
    tracemalloc.start()
    g, L = layered_graph(n)
    g.forward()
    g.backward(L)
    g.sgd(1e-3)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"n": len(g.compute), "peak": peak}


def timing_worker(sizes: list[int], quick: bool) -> list[dict]:
    """Time every size in one fresh process, the sizes taking turns (see ``side_by_side``), so a
    change of load on the machine does not masquerade as a change of cost per node."""
    graphs, out = [], []
    for n in sizes:
        t0 = time.perf_counter()
        g, L = layered_graph(n)
        out.append({"n": len(g.compute), "build": time.perf_counter() - t0})
        assert np.isfinite(L.value) and L.value > 0
        graphs.append((g, L))

    def step(g, L):
        g.forward()
        g.backward(L)
        g.sgd(1e-3)

    def touch(g):
        # The control: walk what a step walks (every compute node, its parents and their
        # values) with no arithmetic. Its time per node is what the memory hierarchy charges
        # for reaching the nodes at each size; a step's time divided by it is the engine's own.
        for c in g.compute:
            for p in c.parents:
                v = p.value  # noqa: F841 - reading is the point

    budget, rounds = (0.2, 2) if quick else (2.0, 5)
    for what, fn in (("step", step), ("forward", lambda g, L: g.forward()),
                     ("backward", lambda g, L: g.backward(L)), ("touch", lambda g, L: touch(g))):
        # CPU time: the step and the control loop are single-threaded Python, and CPU time
        # leaves out the time other processes hold the core (the machine is shared); the fastest
        # sample, since other processes can only slow a sample down (through the shared caches).
        t = side_by_side({i: functools.partial(fn, g, L) for i, (g, L) in enumerate(graphs)},
                         budget=budget * len(sizes), rounds=rounds, sample=0.05,
                         clock=time.process_time, stat=min)
        for i, r in enumerate(out):
            r[what] = t[i]
    return out


def worker(args: list[str]):
    cmd = [sys.executable, __file__, "--worker", *args]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def bench_complexity(quick: bool) -> dict:
    sizes = [10**3, 10**4] if quick else [10**3, 10**4, 10**5, 10**6]
    res = worker(["time", *map(str, sizes)] + (["--quick"] if quick else []))
    rows = []
    for n, r in zip(sizes, res):
        r["peak"] = worker(["memory", str(n)])["peak"]
        k = r["n"]
        rows.append([f"{k:,}", fmt_time(r["build"]), fmt_time(r["step"]),
                     f"{r['step'] / k * 1e9:.0f} ns", f"{r['forward'] / k * 1e9:.0f} ns",
                     f"{r['backward'] / k * 1e9:.0f} ns", f"{r['backward'] / r['forward']:.2f}",
                     f"{r['touch'] / k * 1e9:.0f} ns", f"{r['peak'] / k:.0f} B"])
        print(f"C n={k}: step {fmt_time(r['step'])}, peak {r['peak'] / 2**20:.1f} MiB", flush=True)

    def per_node(r, key):
        return r[key] / r["n"]
    first, last = res[0], res[-1]
    raw_ratio = per_node(last, "step") / per_node(first, "step")
    mem_ratio = per_node(last, "peak") / per_node(first, "peak")
    # The target: step time over control-loop time, at each size against the smallest graph.
    norm = [r["step"] / r["touch"] for r in res]
    rel = [x / norm[0] for x in norm]
    time_ratio = max(rel)
    steps = ", ".join(f"x{per_node(b, 'step') / per_node(a, 'step'):.2f}"
                      for a, b in itertools.pairwise(res))
    touch = per_node(last, "touch") / per_node(first, "touch")
    text = (f"### C. Complexity: a layered graph of scalar nodes ({WIDTH} units per layer)\n\n"
            + table(["compute nodes", "build", "step", "step per node", "forward per node",
                     "backward per node", "backward / forward", "control loop per node",
                     "step / control loop", "against 10^3", "peak memory per node"],
                    [row[:8] + [f"{x:.1f}", f"{y:.2f}", row[8]]
                     for row, x, y in zip(rows, norm, rel)])
            + f"\n\nStep time per node over control-loop time per node, against the smallest "
            f"graph: worst x{time_ratio:.2f} (target <= 1.2). Per node, the largest graph against "
            f"the smallest: time x{raw_ratio:.2f}, memory x{mem_ratio:.2f}. Step time per node "
            f"from one size to the next (x10 nodes): {steps}. The control loop (every compute "
            f"node's parents and their values read, no arithmetic) changes by x{touch:.2f} over "
            "the same range.\n")
    return {"text": text, "C_time": time_ratio, "C_mem": mem_ratio}


# --- O: per-op overhead -------------------------------------------------------------------------

OPS = {"add": lambda x, w: x + w, "mul": lambda x, w: x * w, "relu": lambda x, w: dp.relu(x),
       "tanh": lambda x, w: dp.tanh(x), "matmul": lambda x, w: x @ w}


def op_chain(kind: str, shape, n: int):
    """A chain of ``n`` nodes of one op, each fed by the previous node (and a parameter)."""
    rng = np.random.default_rng(0)

    def leaf():
        v = rng.uniform(0.9, 1.1, shape)
        return dp.Param(float(v) if shape == () else v)
    if kind == "matmul":
        d = shape[0]
        x = dp.Input(rng.uniform(-1, 1, shape))
        weights = [dp.Param(np.eye(d) + rng.uniform(-0.01, 0.01, (d, d))) for _ in range(n)]
    else:
        x = dp.Input(rng.uniform(0.1, 0.2, shape) if shape else 0.15)
        weights = [leaf() for _ in range(n)]
    op = OPS[kind]
    for w in weights:
        x = op(x, w)
    L = dp.sum(x) if shape else x
    return dp.Graph(L), L


def bench_ops(quick: bool) -> dict:
    n = 500 if quick else 2000
    cases = [("add", ()), ("mul", ()), ("relu", ()), ("tanh", ()),
             ("add", (16,)), ("mul", (16,)), ("relu", (16,)), ("tanh", (16,)),
             ("matmul", (16, 16))]
    rows = []
    for kind, shape in cases:
        g, L = op_chain(kind, shape, n)
        k = len(g.compute)
        t = side_by_side({"forward": g.forward, "backward": functools.partial(g.backward, L)},
                         budget=0.1 if quick else 1.0, rounds=2 if quick else 5, sample=0.01)
        what = "Python float" if shape == () else f"float64 array {shape}"
        rows.append([kind, what, f"{t['forward'] / k * 1e9:.0f} ns",
                     f"{t['backward'] / k * 1e9:.0f} ns"])
    text = (f"### O. Per-op overhead: a chain of {n} nodes of one op\n\n"
            + table(["op", "operands", "forward per node", "backward per node"], rows) + "\n")
    return {"text": text}


# --- the run -------------------------------------------------------------------------------------

def summary(results: dict, quick: bool) -> str:
    rows = []
    for label, key, sense, bound in TARGETS:
        if key not in results:
            continue
        v = results[key]
        ok = v >= bound if sense == "min" else v <= bound
        verdict = ("PASS" if ok else "MISS") + (" (quick run)" if quick else "")
        rows.append([label, f"{v:.2f}", (">= " if sense == "min" else "<= ") + f"{bound:g}",
                     verdict])
    return "### Targets\n\n" + table(["ratio", "measured", "target", "verdict"], rows) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, 1-2 repeats (smoke test)")
    ap.add_argument("--record", action="store_true",
                    help="write benchmarks/results.md (the committed record) instead of "
                         "_build/bench/results.md")
    ap.add_argument("--out", default=None,
                    help="markdown file for the results (default: _build/bench/results.md for a "
                         "full run, benchmarks/results.md with --record, none for --quick)")
    ap.add_argument("--only", default="STCO", help="which parts to run, e.g. ST (default STCO)")
    ap.add_argument("--worker", nargs="+", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:  # a child process of bench_complexity
        kind, *sizes = args.worker
        fn = memory_worker(int(sizes[0])) if kind == "memory" else timing_worker(
            [int(n) for n in sizes], args.quick)
        print(json.dumps(fn))
        return

    import torch
    torch.set_num_threads(2)
    # micrograd sorts its graph with a recursive function; the default limit is enough for this
    # network, raise it anyway so a change of size does not turn into a RecursionError.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    info = machine()
    head = "\n".join(f"- {k}: {v}" for k, v in info.items())
    print(head, flush=True)
    parts = {"S": bench_scalar, "T": bench_tensor, "C": bench_complexity, "O": bench_ops}
    results, texts = {}, []
    t0 = time.perf_counter()
    for key in args.only:
        r = parts[key](args.quick)
        texts.append(r.pop("text"))
        results.update(r)
        print("\n" + texts[-1], flush=True)
        gc.collect()
    summ = summary(results, args.quick)
    print(summ)
    elapsed = time.perf_counter() - t0
    print(f"total time {elapsed:.0f} s")

    out = args.out
    if out is None and not args.quick:
        out = str(HERE / "results.md") if args.record else str(BUILD / "results.md")
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        doc = (f"## Results{' (quick run)' if args.quick else ''}\n\n"
               f"Measured {stamp} in one run of `benchmarks/run.py` ({elapsed:.0f} s), all "
               f"implementations side by side.\n\n{head}\n\n{summ}\n"
               + "\n".join(texts))
        Path(out).write_text(doc)
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
