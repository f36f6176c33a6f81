"""The coursework tools on the course's four assignments: the student release hides the
solutions and the hidden tests, and the grader gives full marks to the masters, zero to the
unmodified student notebooks and to shortcuts through the engine's own (blocked) modules, and
cannot be fooled by patching numpy, hung by an endless cell or crashed by a dying one.

One grading run over a folder of crafted submissions is shared by most tests (it is the slow
part). The grader's mechanisms are tested on a made-up assignment in test_coursework_*.py.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import nbformat
import pytest
from coursework_helpers import MASTERS, feedback, needs_isolation, grades, run_grader, scores, with_cells

import grading
import release as rel

NAMES = [m.stem for m in rel.masters()]
TIMEOUT = 8  # seconds per question and per cell in the crafted run: short, but not flaky

TAMPER = """
import builtins, numpy, numpy.testing
# Every comparison a grader might run in this process now says "equal".
numpy.testing.assert_allclose = lambda *a, **k: None
numpy.allclose = lambda *a, **k: True
numpy.isclose = lambda *a, **k: numpy.True_
numpy.array_equal = lambda *a, **k: True
builtins.all = lambda *a, **k: True
builtins.abs = lambda x: 0.0
print('{"ok": true, "errors": [null, null, null, null, null]}')
"""
CRASH = "import os, subprocess\nsubprocess.Popen(['sleep', '987654'])\nos._exit(3)"
ENDLESS = "while True:  # a stray experiment that never ends\n    pass"


def _blocked(name):
    hidden = MASTERS / "tests" / f"{name}_hidden.py"
    import ast
    for node in ast.parse(hidden.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "BLOCK_MODULES":
            return ast.literal_eval(node.value)
    return ()


def _shortcut(name):
    """A cell that borrows from each blocked dagprop module (the engine's own solution):
    reloaded, or read from its file."""
    mods = [m for m in _blocked(name) if m.startswith("dagprop.")]
    if not mods:
        return None
    return f"""
import importlib, os
import dagprop
said = []
for name in {mods!r}:
    try:
        importlib.reload(importlib.import_module(name)).anything()
    except Exception as e:
        said.append(str(e))
    try:
        path = os.path.join(os.path.dirname(dagprop.__file__), name.split(".")[1] + ".py")
        exec(open(path).read(), {{}})
    except Exception as e:
        said.append(type(e).__name__)
raise RuntimeError(" | ".join(said))
"""


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("coursework")
    student = base / "release"
    rel.release(student)
    subs = base / "submissions"
    for name in NAMES:
        for who, src in (("master", MASTERS), ("student", student)):
            (subs / who).mkdir(parents=True, exist_ok=True)
            nbformat.write(nbformat.read(src / f"{name}.ipynb", as_version=4),
                           subs / who / f"{name}.ipynb")
        # numpy patched, and (where the assignment blocks dagprop modules) the engine's own
        # solution borrowed
        nbformat.write(with_cells(student / f"{name}.ipynb", TAMPER, *filter(None, [_shortcut(name)]),
                                  at=1), subs / f"tampered_{name}.ipynb")
    nbformat.write(with_cells(MASTERS / "03_mlp_backprop_by_hand.ipynb", CRASH, ENDLESS, at=1),
                   subs / "crash_03_mlp_backprop_by_hand.ipynb")
    out = base / "grades"
    t0 = time.monotonic()
    proc = run_grader("grade", subs, "--out", out, "--timeout", TIMEOUT, "--cell-timeout",
                      TIMEOUT, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return {"out": out, "stdout": proc.stdout, "seconds": time.monotonic() - t0,
            "release": student}


@pytest.mark.parametrize("name", NAMES)
def test_every_master_gets_full_marks(graded, name):
    rows = [r for r in grades(graded["out"]) if r["submission"] == f"master/{name}.ipynb"]
    assert rows and all(r["points"] == r["max_points"] and r["status"] == "passed"
                        for r in rows), rows


@pytest.mark.parametrize("name", NAMES)
def test_every_unmodified_student_notebook_gets_zero(graded, name):
    rows = [r for r in grades(graded["out"]) if r["submission"] == f"student/{name}.ipynb"]
    assert rows and all(float(r["points"]) == 0 for r in rows), rows
    assert all("NotImplementedError" in r["message"] for r in rows), rows


@pytest.mark.parametrize("name", NAMES)
def test_patching_numpy_and_builtins_gains_nothing(graded, name):
    assert scores(graded["out"])[f"tampered_{name}.ipynb"] == 0


@needs_isolation()
@pytest.mark.parametrize("name", [n for n in NAMES if _shortcut(n)])
def test_the_engines_own_solution_cannot_be_borrowed(graded, name):
    # (importlib.reload(dagprop.ops) and subclassing its ops used to give full marks)
    fb = feedback(graded["out"], f"tampered_{name}.ipynb")
    assert "switched off while grading" in fb and "PermissionError" in fb, fb


def test_a_cell_that_kills_its_process_or_never_ends_is_skipped(graded):
    sub = "crash_03_mlp_backprop_by_hand.ipynb"
    rows = [r for r in grades(graded["out"]) if r["submission"] == sub]
    assert rows and all(r["points"] == r["max_points"] for r in rows), rows
    fb = feedback(graded["out"], sub)
    assert "exited with code 3" in fb and f"did not finish within {TIMEOUT} s" in fb
    left = [p for p in Path("/proc").glob("[0-9]*/cmdline") if _cmdline(p) == b"sleep\x00987654\x00"]
    assert not left  # the process it left behind was killed with it


def _cmdline(path):
    try:
        return path.read_bytes()
    except OSError:  # the process ended while we looked
        return b""


def test_grading_states_its_isolation(graded):
    assert "isolation of the workers:" in graded["stdout"]  # (OFF, where nothing holds)
    assert all(r["isolation"] and r["seed"] for r in grades(graded["out"]))


# --- the student release -----------------------------------------------------------------------


def _solution_lines(nb):
    lines = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            lines += [ln.strip() for ln in rel.strip_solutions(cell.source)[1] if ln.strip()]
    return lines


@pytest.mark.parametrize("name", NAMES)
def test_release_contains_no_solution_and_no_hidden_test(graded, name):
    master = nbformat.read(MASTERS / f"{name}.ipynb", as_version=4)
    student_path = graded["release"] / f"{name}.ipynb"
    student = nbformat.read(student_path, as_version=4)
    text = student_path.read_text()
    student_lines = {ln.strip() for c in student.cells for ln in c.source.splitlines()}
    solution = _solution_lines(master)
    assert solution, "the master should have solution regions"
    outside = {ln.strip() for c in master.cells for ln in rel.strip_solutions(c.source)[0].splitlines()}
    leaked = [ln for ln in solution if ln in student_lines and ln not in outside]
    assert not leaked, leaked
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    hidden = (MASTERS / "tests" / f"{name}_hidden.py").read_text()
    master_lines = {ln.strip() for c in master.cells for ln in c.source.splitlines()}
    secret = [ln.strip() for ln in hidden.splitlines()
              if len(ln.strip()) > 20 and ln.strip() not in master_lines]
    assert secret and not [ln for ln in secret if ln in text]
    for cell in master.cells:
        for ln in cell.source.splitlines():
            if re.match(r"\s*(def|class) ", ln) or ln.strip().startswith('"""'):
                assert ln.strip() in student_lines, ln
    for cell in student.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    assert student.metadata["coursework"]["assignment"] == name


def test_release_holds_one_notebook_per_assignment_and_nothing_else(graded):
    assert sorted(p.name for p in graded["release"].iterdir()) == sorted(f"{n}.ipynb" for n in NAMES)


def test_hidden_test_cells_are_dropped_from_the_release():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1"),
                nbformat.v4.new_code_cell("assert secret_check(x)"),
                nbformat.v4.new_code_cell("assert x == 1")]
    nb.cells[1].metadata["tags"] = ["hidden-test"]
    nb.cells[2].metadata["tags"] = ["public-test"]
    student, _ = rel.student_notebook(nb)
    assert [c.source for c in student.cells] == ["x = 1", "assert x == 1"]


def test_stubs_keep_the_indentation_and_name_their_function():
    src = ("class Mul:\n    def forward(self):\n        a = 1\n        # BEGIN SOLUTION\n"
           "        self.value = a\n        # END SOLUTION\n\n\ndef f(x):\n"
           "    # BEGIN SOLUTION\n    return x\n    # END SOLUTION\n")
    out, removed = rel.strip_solutions(src)
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
    with pytest.raises(rel.ReleaseError, match=re.escape(where)):
        rel.strip_solutions(src, "nb, cell 3")


@pytest.mark.parametrize("name", NAMES)
def test_points_agree_between_notebook_and_hidden_tests(name):
    a = grading.load_assignments()[name]
    a.load()
    points = {q: v["points"] for q, v in a.questions.items()}
    nb = nbformat.read(a.master, as_version=4)
    assert nb.metadata["coursework"]["points"] == points
    intro = nb.cells[0].source
    for q, p in points.items():
        assert re.search(rf"\| `{q}` \|.*\| {p:g} \|", intro), q
