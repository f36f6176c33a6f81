"""The grader's mechanisms on a small made-up assignment (tests/coursework_helpers.py): answers
compared by exact shape, "without recursion" graded under a recursion limit, no reference
reachable from the submission (frames, gc), a blocked dagprop module that no reload or file read
brings back, hidden inputs drawn from a recorded seed and never echoed bit-exact.
"""

from __future__ import annotations

import json

import nbformat
import numpy as np
import pytest
from coursework_helpers import (TOY, feedback, grades, needs_isolation, run_grader, scores,
                                toy_assignments, with_cells)

import grading
from release import release

SEED = 12345

RECURSIVE = {"    d = 0\n    while parents[node] >= 0:\n        d, node = d + 1, parents[node]\n"
             "    return d": "    return 0 if parents[node] < 0 else 1 + depth(parents, parents[node])"}

FRAMES = """
import sys
def colsum(x):  # the reference of another question's probe, from the caller's globals
    return sys._getframe(1).f_globals["_colsum_reference"](x)
"""
GC_EXPECT = """
import gc, sys
def echo(x):  # any expect function or QUESTIONS dict left anywhere in the process
    for f in [sys._getframe(k) for k in range(1, 6)]:
        for d in (f.f_globals, f.f_locals):
            for v in list(d.values()):
                if isinstance(v, dict) and "QUESTIONS" in v:
                    return v["QUESTIONS"]["echo"]["expect"]({"x": x})["y"]
    for o in gc.get_objects():
        if isinstance(o, dict) and callable(o.get("expect")):
            return o["expect"]({"x": x})["y"]
        if getattr(o, "__name__", "") == "<lambda>" and "c[\\"x\\"] + 1" in repr(o):
            return o({"x": x})["y"]
    raise LookupError("no reference found")
"""
BLOCKED = """
import importlib, importlib.util, os, sys
import dagprop as dp  # the package itself still imports
def my_tanh(x):
    errors = []
    try:
        importlib.reload(dp.ops)
        return dp.ops.tanh(dp.Input(x)).value
    except Exception as e:
        errors.append(f"reload: {e}")
    try:
        path = os.path.join(os.path.dirname(dp.__file__), "ops.py")
        spec = importlib.util.spec_from_file_location("dagprop.ops_again", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod.tanh(dp.Input(x)).value
    except Exception as e:
        errors.append(f"file: {type(e).__name__}")
    try:
        sys.modules.pop("dagprop.ops", None)
        import dagprop.ops as again
        class Mine(again.Tanh):
            pass
        return Mine(dp.Input(x)).value
    except Exception as e:
        errors.append(f"subclass: {e}")
    raise RuntimeError(" | ".join(errors))
"""
ECHO_INPUTS = """
def echo(x):
    raise ValueError("inputs: " + ", ".join(repr(float(v)) for v in x))
"""


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    base = tmp_path_factory.mktemp("toy")
    assignments = toy_assignments(base)
    rel = base / "release"
    release(rel, assignments)
    subs = base / "subs"
    subs.mkdir()
    master = assignments / f"{TOY}.ipynb"
    student = rel / f"{TOY}.ipynb"
    crafted = {
        "master": nbformat.read(master, as_version=4),
        "blank": nbformat.read(student, as_version=4),
        "keepdims": with_cells(master, replace={"x.sum(axis=0)": "x.sum(axis=0, keepdims=True)"}),
        "recursive_cell": with_cells(master, "import sys\nsys.setrecursionlimit(100_000)",
                                     replace=RECURSIVE, at=2),
        "recursive_inside": with_cells(master, replace={
            **RECURSIVE, "def depth(parents, node):":
            "def depth(parents, node):\n    import sys; sys.setrecursionlimit(100_000)"}),
        "recursive_saved": with_cells(master, "import sys\n_limit = sys.setrecursionlimit",
                                      at=2, replace={
            **RECURSIVE, "def depth(parents, node):":
            "def depth(parents, node):\n    _limit(100_000)"}),
        "frames": with_cells(master, FRAMES, GC_EXPECT),
        "blocked": with_cells(master, BLOCKED),
        "echo_inputs": with_cells(master, ECHO_INPUTS),
    }
    for label, nb in crafted.items():
        nbformat.write(nb, subs / f"{label}_{TOY}.ipynb")
    out = base / "grades"
    proc = run_grader("grade", subs, "--out", out, "--assignments", assignments,
                      "--seed", SEED, "--timeout", 10, "--cell-timeout", 10)
    assert proc.returncode == 0, proc.stderr
    return {"out": out, "proc": proc, "assignments": assignments, "subs": subs}


def _q(toy, label):
    return {r["question"]: r for r in grades(toy["out"]) if r["submission"] == f"{label}_{TOY}.ipynb"}


def test_master_full_and_blank_zero(toy):
    got = scores(toy["out"])
    assert got[f"master_{TOY}.ipynb"] == 4 and got[f"blank_{TOY}.ipynb"] == 0, got


def test_shapes_are_compared_exactly_never_broadcast(toy):
    q = _q(toy, "keepdims")
    assert q["colsum"]["points"] == "0" and "shape (1, 3), expected (3,)" in q["colsum"]["message"]
    assert scores(toy["out"])[f"keepdims_{TOY}.ipynb"] == 3


@pytest.mark.parametrize("label, says", [
    ("recursive_cell", "without recursion"),
    ("recursive_inside", "cannot be changed"),
    ("recursive_saved", "was changed")])
def test_without_recursion_is_graded_under_a_recursion_limit(toy, label, says):
    # a recursive solution after raising the limit (in a cell, in the function, or through a
    # reference to sys.setrecursionlimit kept from before) fails the question
    q = _q(toy, label)
    assert q["depth"]["points"] == "0" and says in q["depth"]["message"], q["depth"]
    assert scores(toy["out"])[f"{label}_{TOY}.ipynb"] == 3


def test_no_reference_is_reachable_through_frames_or_gc(toy):
    q = _q(toy, "frames")
    assert q["colsum"]["points"] == "0" and "KeyError" in q["colsum"]["message"], q["colsum"]
    assert q["echo"]["points"] == "0" and "no reference found" in q["echo"]["message"], q["echo"]


@needs_isolation()
def test_a_blocked_module_cannot_be_reloaded_read_or_subclassed(toy):
    q = _q(toy, "blocked")
    msg = q["tanh"]["message"]
    assert q["tanh"]["points"] == "0", msg
    assert "switched off while grading 07_toy" in msg and "PermissionError" in msg, msg
    assert scores(toy["out"])[f"blocked_{TOY}.ipynb"] == 3  # dagprop itself imported fine


def test_hidden_inputs_are_drawn_from_the_recorded_seed(toy):
    rows = grades(toy["out"])
    assert {r["seed"] for r in rows} == {str(SEED)}
    log = [json.loads(line) for line in (toy["out"] / "runs.jsonl").read_text().splitlines()]
    assert log[-1]["seed"] == SEED
    a = grading.load_assignments(toy["assignments"])[TOY]
    a.prepare(SEED)
    again = grading.load_assignments(toy["assignments"])[TOY]
    again.prepare(SEED)
    other = grading.load_assignments(toy["assignments"])[TOY]
    other.prepare(SEED + 1)
    x = a.cases["colsum"][0]["x"]
    assert np.array_equal(x, again.cases["colsum"][0]["x"])
    assert not np.array_equal(x, other.cases["colsum"][0]["x"])
    assert grading.new_seed() != grading.new_seed()  # a fresh seed per run by default


def test_hidden_inputs_never_come_back_bit_exact(toy):
    a = grading.load_assignments(toy["assignments"])[TOY]
    a.prepare(SEED)
    x = a.cases["echo"][0]["x"]
    fb = feedback(toy["out"], f"echo_inputs_{TOY}.ipynb")
    assert "ValueError: inputs:" in fb
    assert not [v for v in x if repr(float(v)) in fb], fb
    assert f"{x[0]:.4g}" in fb  # rounded, the message still helps
