"""The coursework tools: the student release hides the solutions and the hidden tests, and the
grader gives full marks to the masters, zero to the unmodified student notebooks, and cannot be
fooled, hung or crashed by a submission.

One grading run over a folder of crafted submissions is shared by most tests (it is the slow part).
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "coursework"
sys.path.append(str(TOOL))  # the tool folder is not a package; its modules import each other

import coursework as cw  # noqa: E402 - after the path entry above

MASTERS = cw.masters()
NAMES = [m.stem for m in MASTERS]
TIMEOUT = 6  # seconds per question and per cell in the crafted run: short, but not flaky


def _read(path):
    return nbformat.read(path, as_version=4)


def _variant(master: str, edit, extra_first_cell: str | None = None):
    """The master notebook ``master`` with ``edit(source) -> source`` applied to every code
    cell, and optionally one more code cell inserted after the first."""
    nb = _read(ROOT / "assignments" / f"{master}.ipynb")
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = edit(cell.source)
    if extra_first_cell:
        nb.cells.insert(1, nbformat.v4.new_code_cell(extra_first_cell))
    return nb


def _replace_body(source: str, header: str, body: str) -> str:
    """Replace the solution region right after ``header`` (a def line) by ``body`` lines."""
    start = source.find(header)
    if start < 0:
        return source
    begin = source.index(cw.BEGIN, start)
    end = source.index(cw.END, begin)
    indent = source[source.rindex("\n", 0, begin) + 1:begin]
    new = "\n".join(indent + line for line in body.splitlines())
    return source[:begin] + cw.BEGIN + "\n" + new + "\n" + indent + source[end:]


TAMPER = """
import builtins, numpy, numpy.testing
# Every comparison a grader might run in this process now says "equal".
numpy.testing.assert_allclose = lambda *a, **k: None
numpy.testing.assert_array_equal = lambda *a, **k: None
numpy.allclose = lambda *a, **k: True
numpy.isclose = lambda *a, **k: numpy.True_
numpy.array_equal = lambda *a, **k: True
builtins.all = lambda *a, **k: True
builtins.abs = lambda x: 0.0
print('{"ok": true, "errors": [null, null, null, null, null]}')
"""


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade one folder holding the masters, the student release and crafted submissions."""
    base = tmp_path_factory.mktemp("coursework")
    student = base / "release"
    cw.release(student)
    subs = base / "submissions"
    for name in NAMES:
        (subs / "master").mkdir(parents=True, exist_ok=True)
        (subs / "student").mkdir(parents=True, exist_ok=True)
        nbformat.write(_read(ROOT / "assignments" / f"{name}.ipynb"),
                       subs / "master" / f"{name}.ipynb")
        nbformat.write(_read(student / f"{name}.ipynb"), subs / "student" / f"{name}.ipynb")

    def wrong_tanh_softmax(src):
        src = src.replace("x.grad += self.grad * (1 - self.value**2)",
                          "x.grad += self.grad")  # Tanh.backward forgets the derivative
        return src.replace("x.grad += y * (g - np.sum(g * y, axis=-1, keepdims=True))",
                           "x.grad += g * y * (1 - y)")  # softmax taken as elementwise

    crafted = {
        "tampered_01_local_gradients": _variant(
            "01_local_gradients", wrong_tanh_softmax, TAMPER),
        "endless_01_local_gradients": _variant(
            "01_local_gradients",
            lambda s: s.replace("self.value = 0.5 * (1 + np.tanh(0.5 * x.value))",
                                "while True:\n            pass"),
            "while True:  # a stray experiment that never ends\n    pass"),
        "misnamed_01_local_gradients": _variant(
            "01_local_gradients", lambda s: s.replace("class Tanh(", "class TanH("),
            'ready = input("ready? ")  # nobody answers a grader'),
        "crash_03_mlp_backprop_by_hand": _variant(
            "03_mlp_backprop_by_hand", lambda s: s,
            "import os, subprocess\nsubprocess.Popen(['sleep', '987654'])\nos._exit(3)"),
        "recursive_02_forward_backward_sgd": _variant(
            "02_forward_backward_sgd",
            lambda s: _replace_body(s, "def topo_sort(loss):", (
                "order, seen = [], set()\n"
                "def visit(node):\n"
                "    if id(node) not in seen:\n"
                "        seen.add(id(node))\n"
                "        for p in node.parents:\n"
                "            visit(p)\n"
                "        order.append(node)\n"
                "visit(loss)\n"
                "return order"))),
        "uses_graph_02_forward_backward_sgd": _variant(
            "02_forward_backward_sgd",
            lambda s: _replace_body(s, "def train_moons(", (
                "net = dp.nn.MLP([2, 16, 16, 2], seed=0)\n"
                "loss = dp.cross_entropy(net(dp.Input(X)), dp.Input(y))\n"
                "g = dp.Graph(loss)\n"
                "for _ in range(steps):\n"
                "    g.forward(); g.backward(loss); g.sgd(0.5)\n"
                "return [p.value for p in net.params]"))),
        "shortcuts_04_custom_autograd_function": _variant(
            "04_custom_autograd_function",
            lambda s: s.replace(
                "return torch.clamp(x, min=0) + torch.log1p(torch.exp(-torch.abs(x)))",
                "return torch.log(1 + torch.exp(x))").replace(
                "    leaf = x.detach().clone().requires_grad_(True)",
                "    return torch.autograd.functional.jacobian(f, x)")),
    }
    for label, nb in crafted.items():
        nbformat.write(nb, subs / f"{label}.ipynb")
    (subs / "notes.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook()))

    out = base / "grades"
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(TOOL / "coursework.py"), "grade", str(subs), "--out", str(out),
         "--timeout", str(TIMEOUT), "--cell-timeout", str(TIMEOUT)],
        check=False, capture_output=True, text=True, timeout=600)
    seconds = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    with open(out / "grades.csv") as f:
        rows = list(csv.DictReader(f))
    table = {(r["submission"], r["question"]): r for r in rows}
    return {"rows": rows, "table": table, "out": out, "stdout": proc.stdout,
            "seconds": seconds, "release": student}


def _scores(graded, submission):
    return {q: (float(r["points"]), float(r["max_points"]), r["status"], r["message"])
            for (s, q), r in graded["table"].items() if s == submission}


def _feedback(graded, submission):
    name = submission.removesuffix(".ipynb").replace("/", "__")
    return (graded["out"] / "feedback" / f"{name}.md").read_text()


def test_grades_csv_has_the_promised_columns(graded):
    assert {"submission", "assignment", "question", "points", "max_points"} <= set(
        graded["rows"][0])
    assert not any(r["submission"] == "notes.ipynb" for r in graded["rows"])
    assert "skipped notes.ipynb" in graded["stdout"]


@pytest.mark.parametrize("name", NAMES)
def test_every_master_gets_full_marks(graded, name):
    scores = _scores(graded, f"master/{name}.ipynb")
    assert scores and all(p == m and s == "passed" for p, m, s, _ in scores.values()), scores


@pytest.mark.parametrize("name", NAMES)
def test_every_unmodified_student_notebook_gets_zero(graded, name):
    scores = _scores(graded, f"student/{name}.ipynb")
    assert scores and all(p == 0 for p, *_ in scores.values()), scores
    assert all("NotImplementedError" in msg for *_, msg in scores.values())


def test_patching_numpy_and_builtins_gains_nothing(graded):
    scores = _scores(graded, "tampered_01_local_gradients.ipynb")
    lost = {q for q, (p, m, *_) in scores.items() if p < m}
    assert lost == {"tanh", "softmax"}, scores  # the honest answers still count
    assert "wrong value" in scores["softmax"][3]


def test_an_endless_loop_costs_only_its_question_and_time_is_bounded(graded):
    sub = "endless_01_local_gradients.ipynb"
    scores = _scores(graded, sub)
    assert scores["sigmoid"][:3] == (0, 1, "timeout")
    assert all(p == m for q, (p, m, *_) in scores.items() if q != "sigmoid"), scores
    fb = _feedback(graded, sub)
    assert f"did not finish within {TIMEOUT} s" in fb and "cell 2 was skipped" in fb
    with open(graded["out"] / "totals.csv") as f:
        totals = {r["submission"]: r for r in csv.DictReader(f)}
    # one stuck cell, one stuck question, two restarts: far below an unbounded wait
    assert float(totals[sub]["seconds"]) < 4 * TIMEOUT + 40


def test_a_misnamed_class_scores_zero_for_its_question_with_a_clear_message(graded):
    scores = _scores(graded, "misnamed_01_local_gradients.ipynb")
    assert scores["tanh"][0] == 0
    assert all(p == m for q, (p, m, *_) in scores.items() if q != "tanh"), scores
    assert "no class named 'Tanh'" in scores["tanh"][3] and "'TanH'" in scores["tanh"][3]
    assert "cell 2 raised EOFError" in _feedback(graded, "misnamed_01_local_gradients.ipynb")


def test_a_cell_that_kills_its_process_is_skipped(graded):
    sub = "crash_03_mlp_backprop_by_hand.ipynb"
    assert all(p == m for p, m, *_ in _scores(graded, sub).values())
    assert "exited with code 3" in _feedback(graded, sub)
    # and the process it left behind was killed with it
    left = [p for p in Path("/proc").glob("[0-9]*/cmdline")
            if _cmdline(p) == b"sleep\x00987654\x00"]
    assert not left


def _cmdline(path):
    try:
        return path.read_bytes()
    except OSError:  # the process ended while we looked
        return b""


def test_hidden_tests_catch_a_recursive_topological_sort(graded):
    scores = _scores(graded, "recursive_02_forward_backward_sgd.ipynb")
    assert scores["topo_sort"][0] == 0 and "RecursionError" in scores["topo_sort"][3]
    assert scores["train"][0] == 2  # the moons graph is shallow: recursion is fine there


def test_training_must_use_the_students_own_loops(graded):
    scores = _scores(graded, "uses_graph_02_forward_backward_sgd.ipynb")
    assert scores["train"][0] == 0 and "switched off while grading" in scores["train"][3]


def test_shortcuts_around_the_task_score_nothing(graded):
    scores = _scores(graded, "shortcuts_04_custom_autograd_function.ipynb")
    assert scores["affine"][0] == 3
    assert scores["softplus"][0] == 0 and "not finite" in scores["softplus"][3]
    assert scores["jacobian"][0] == 0 and "switched off while grading" in scores["jacobian"][3]


def test_feedback_says_which_test_failed_and_why(graded):
    fb = _feedback(graded, "tampered_01_local_gradients.ipynb")
    assert "**7 / 10 points**" in fb
    assert re.search(r"## Softmax.*: failed\n\n- case 1 of 3 \(a of shape \(4, 5\)\): "
                     r"grad_a: wrong value at index", fb), fb


# --- the student release -----------------------------------------------------------------------


def _solution_lines(nb):
    lines = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            lines += [ln.strip() for ln in cw.strip_solutions(cell.source)[1] if ln.strip()]
    return lines


@pytest.mark.parametrize("name", NAMES)
def test_release_contains_no_solution_and_no_hidden_test(graded, name):
    master = _read(ROOT / "assignments" / f"{name}.ipynb")
    student_path = graded["release"] / f"{name}.ipynb"
    student = _read(student_path)
    text = student_path.read_text()
    student_lines = {ln.strip() for c in student.cells for ln in c.source.splitlines()}
    solution = _solution_lines(master)
    assert solution, "the master should have solution regions"
    leaked = [ln for ln in solution if ln in student_lines]
    assert not leaked, leaked
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    # hidden tests live in their own file; nothing of it may reach the release
    hidden = (ROOT / "assignments" / "tests" / f"{name}_hidden.py").read_text()
    master_lines = {ln.strip() for c in master.cells for ln in c.source.splitlines()}
    secret = [ln.strip() for ln in hidden.splitlines()
              if len(ln.strip()) > 20 and ln.strip() not in master_lines]
    assert secret and not [ln for ln in secret if ln in text]
    # signatures and docstrings stay; outputs and execution counts go
    for cell in master.cells:
        for ln in cell.source.splitlines():
            if re.match(r"\s*(def|class) ", ln) or ln.strip().startswith('"""'):
                assert ln.strip() in student_lines, ln
    for cell in student.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_release_holds_one_notebook_per_assignment_and_nothing_else(graded):
    assert sorted(p.name for p in graded["release"].iterdir()) == sorted(m.name for m in MASTERS)


def test_hidden_test_cells_are_dropped_from_the_release():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1"),
                nbformat.v4.new_code_cell("assert secret_check(x)"),
                nbformat.v4.new_code_cell("assert x == 1")]
    nb.cells[1].metadata["tags"] = ["hidden-test"]
    nb.cells[2].metadata["tags"] = ["public-test"]
    student, _ = cw.student_notebook(nb)
    assert [c.source for c in student.cells] == ["x = 1", "assert x == 1"]


def test_stubs_keep_the_indentation_and_name_their_function():
    src = ("class Mul:\n    def forward(self):\n        a = 1\n        # BEGIN SOLUTION\n"
           "        self.value = a\n        # END SOLUTION\n\n\ndef f(x):\n"
           "    # BEGIN SOLUTION\n    return x\n    # END SOLUTION\n")
    out, removed = cw.strip_solutions(src)
    assert '        raise NotImplementedError("Mul.forward: your code here")' in out
    assert '    raise NotImplementedError("f: your code here")' in out
    assert [ln.strip() for ln in removed] == ["self.value = a", "return x"]
    compile(out, "<stub>", "exec")


@pytest.mark.parametrize("src, where", [
    ("# BEGIN SOLUTION\nx = 1\n", "line 1: # BEGIN SOLUTION is never closed"),
    ("x = 1\n# END SOLUTION\n", "line 2: # END SOLUTION without"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n", "line 2: nested"),
])
def test_unpaired_solution_markers_are_refused(src, where):
    with pytest.raises(cw.ReleaseError, match=re.escape(where)):
        cw.strip_solutions(src, "nb, cell 3")


@pytest.mark.parametrize("name", NAMES)
def test_points_agree_between_notebook_and_hidden_tests(name):
    a = cw.load_assignments()[name]
    spec = __import__("importlib.util").util.spec_from_file_location("h", a.hidden_path)
    hidden = __import__("importlib.util").util.module_from_spec(spec)
    spec.loader.exec_module(hidden)
    points = {q: v["points"] for q, v in hidden.QUESTIONS.items()}
    nb = _read(a.master)
    assert nb.metadata["coursework"]["points"] == points
    intro = nb.cells[0].source
    for q, p in points.items():
        assert re.search(rf"\| `{q}` \|.*\| {p:g} \|", intro), q


def test_submissions_are_matched_by_file_name():
    names = ["01_local_gradients", "02_forward_backward_sgd"]
    assert cw.match_assignment(Path("alice/01_local_gradients.ipynb"), names) == names[0]
    assert cw.match_assignment(Path("bob_02_forward_backward_sgd (1).ipynb"), names) == names[1]
    assert cw.match_assignment(Path("homework.ipynb"), names) is None
