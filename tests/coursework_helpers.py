"""Shared by the coursework tests: a small made-up assignment ("toy") whose hidden tests use
every mechanism of the grader (seeded inputs, exact shapes, a recursion limit, a blocked
dagprop module, a probe helper that must stay out of another question's reach), so the
grader's mechanisms are tested independently of the course's four assignments, and quickly.
"""

from __future__ import annotations

import csv
import functools
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "coursework"
MASTERS = ROOT / "assignments"
if str(TOOL) not in sys.path:
    sys.path.append(str(TOOL))  # the tool folder is not a package; its modules import each other

TOY = "07_toy"

TOY_HIDDEN = '''
"""Hidden tests of the toy assignment."""
import numpy as np
from coursework_checks import need

ASSIGNMENT = "07_toy"
BLOCK_MODULES = ("torch", "dagprop.ops")


def _colsum_reference(x):  # a worker-side helper of "depth" that happens to answer "colsum"
    return x.sum(axis=0)


def probe_colsum(ns, case):
    return {"s": need(ns, "colsum")(case["x"].copy())}


def probe_depth(ns, case):
    _colsum_reference(np.zeros((1, 1)))
    return {"d": np.array(need(ns, "depth")(case["parents"].copy(), int(case["node"])))}


def probe_tanh(ns, case):
    return {"y": np.asarray(need(ns, "my_tanh")(case["x"].copy()), dtype=float)}


def probe_echo(ns, case):
    return {"y": np.asarray(need(ns, "echo")(case["x"].copy()), dtype=float)}


def colsum_cases(rng):
    return [{"x": rng.standard_normal((4, 3))}, {"x": rng.standard_normal((1, 3))}]


def depth_cases(rng):
    n = 3000
    parents = np.arange(-1, n - 1)
    return [{"parents": parents, "node": np.array(n - 1)},
            {"parents": np.array([-1, 0, 0, 1]), "node": np.array(int(rng.integers(1, 4)))}]


def expect_depth(case):
    d, i, parents = 0, int(case["node"]), case["parents"]
    while parents[i] >= 0:
        d, i = d + 1, parents[i]
    return {"d": np.array(d)}


QUESTIONS = {
    "colsum": {"points": 1, "title": "colsum: sums of the columns", "probe": probe_colsum,
               "expect": lambda c: {"s": c["x"].sum(axis=0)}, "cases": colsum_cases},
    "depth": {"points": 1, "title": "depth: without recursion", "probe": probe_depth,
              "expect": expect_depth, "cases": depth_cases, "recursion_limit": 100},
    "tanh": {"points": 1, "title": "my_tanh: with numpy", "probe": probe_tanh,
             "expect": lambda c: {"y": np.tanh(c["x"])},
             "cases": lambda rng: [{"x": rng.standard_normal(5)}]},
    "echo": {"points": 1, "title": "echo: the input, plus one", "probe": probe_echo,
             "expect": lambda c: {"y": c["x"] + 1},
             "cases": lambda rng: [{"x": rng.standard_normal(4)}]},
}
'''

TOY_CELLS = [
    ("markdown", "# Toy assignment\n\nFour small questions."),
    ("code", "import numpy as np"),
    ("markdown", "## 1. Column sums"),
    ("code", "def colsum(x):\n    # BEGIN SOLUTION\n    return x.sum(axis=0)\n    # END SOLUTION"),
    ("code", "assert colsum(np.ones((2, 3))).shape == (3,)", ["public-test"]),
    ("markdown", "## 2. Depth, without recursion"),
    ("code", "def depth(parents, node):\n    # BEGIN SOLUTION\n    d = 0\n"
             "    while parents[node] >= 0:\n        d, node = d + 1, parents[node]\n"
             "    return d\n    # END SOLUTION"),
    ("code", "assert depth([-1, 0, 1], 2) == 2", ["public-test"]),
    ("markdown", "## 3. Tanh"),
    ("code", "def my_tanh(x):\n    # BEGIN SOLUTION\n    return np.tanh(x)\n    # END SOLUTION"),
    ("markdown", "## 4. Echo"),
    ("code", "def echo(x):\n    # BEGIN SOLUTION\n    return x + 1\n    # END SOLUTION"),
    ("code", "assert echo(1) == 2", ["public-test"]),
]


def toy_assignments(base: Path) -> Path:
    """A folder laid out like assignments/: the toy master and its hidden tests."""
    folder = base / "toy_assignments"
    (folder / "tests").mkdir(parents=True, exist_ok=True)
    (folder / "tests" / f"{TOY}_hidden.py").write_text(TOY_HIDDEN)
    nb = nbformat.v4.new_notebook()
    for kind, src, *tags in TOY_CELLS:
        cell = (nbformat.v4.new_code_cell(src) if kind == "code"
                else nbformat.v4.new_markdown_cell(src))
        if tags:
            cell.metadata["tags"] = tags[0]
        nb.cells.append(cell)
    nb.metadata["coursework"] = {"assignment": TOY, "points": {"colsum": 1, "depth": 1,
                                                               "tanh": 1, "echo": 1}}
    nbformat.write(nb, folder / f"{TOY}.ipynb")
    return folder


def with_cells(notebook: Path, *cells: str, at: int | None = None, replace: dict | None = None):
    """The notebook with code ``cells`` inserted at ``at`` (default: the end), and every code
    cell's source edited by ``replace`` (old -> new)."""
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        for old, new in (replace or {}).items():
            if cell.cell_type == "code":
                cell.source = cell.source.replace(old, new)
    at = len(nb.cells) if at is None else at
    nb.cells[at:at] = [nbformat.v4.new_code_cell(textwrap.dedent(c)) for c in cells]
    return nb


@functools.cache
def isolation_holds(without: tuple = ()) -> bool:
    """Whether a worker started here is isolated (with the layers in ``without`` switched off).
    In a container without Landlock and without the right to make namespaces, nothing is: the
    grader then refuses to grade, and the tests grade with --no-sandbox instead (those that
    need the isolation skip, saying so)."""
    import tempfile

    import grading
    import isolation
    limits = grading.Limits(require=False, without=without).setup()
    with tempfile.TemporaryDirectory(prefix="probe-", dir=isolation.workdir_base()) as tmp:
        w = grading.Worker(None, Path(tmp), limits, 60)
        w.kill()
    return bool(w.layers.get("isolated"))


def needs_isolation():
    import pytest
    return pytest.mark.skipif(not isolation_holds(), reason=(
        "no isolation layer holds here (no Landlock, no root with namespaces): the grader "
        "would refuse to grade, and these attacks are only kept out by the isolation"))


def run_grader(*args: str, timeout: float = 300, env=None, auto_sandbox: bool = True):
    """The grader's command line. Where no isolation layer holds, ``grade`` runs with
    --no-sandbox (unless ``auto_sandbox`` is off), so the grading itself is still tested."""
    args = [str(a) for a in args]
    if (auto_sandbox and args[0] == "grade" and "--no-sandbox" not in args
            and not isolation_holds()):
        args.append("--no-sandbox")
    return subprocess.run([sys.executable, str(TOOL / "coursework.py"), *args],
                          check=False, capture_output=True, text=True, timeout=timeout, env=env)


def totals(out: Path) -> dict:
    with open(out / "totals.csv") as f:
        return {r["submission"]: r for r in csv.DictReader(f)}


def grades(out: Path) -> list[dict]:
    with open(out / "grades.csv") as f:
        return list(csv.DictReader(f))


def scores(out: Path) -> dict:
    return {s: float(r["points"]) for s, r in totals(out).items()}


def feedback(out: Path, submission: str) -> str:
    import matching
    return (out / "feedback" / matching.feedback_name(submission)).read_text()
