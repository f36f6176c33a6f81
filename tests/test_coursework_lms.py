"""Beyond a laptop: the Gradescope autograder zip (unpacked into a root laid out like
Gradescope's /autograder), the Canvas gradebook export, the class report, and the student's
``check`` that runs the public tests the way the grader runs a submission."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from coursework_helpers import ROOT, TOY, needs_isolation, run_grader, toy_assignments, with_cells

import check
import export
import gradescope
import report
from release import release

STEAL = """
import json, os
argv = open(f"/proc/{os.getppid()}/cmdline", "rb").read().split(b"\\0")
root = argv[argv.index(b"--root") + 1].decode()
for path in (f"{root}/source/assignments/07_toy.ipynb", f"{root}/source/assignments/tests/07_toy_hidden.py"):
    try:
        text = open(path).read()
    except OSError:
        continue
    if path.endswith(".ipynb"):
        for c in json.loads(text)["cells"]:
            if c["cell_type"] == "code" and not c["metadata"].get("tags"):
                exec("".join(c["source"]), globals())
"""


def _autograde(zpath: Path, notebook, root: Path) -> dict:
    """Unpack the zip as Gradescope does, put the submission in place, run run_autograder."""
    (root / "submission").mkdir(parents=True)
    with zipfile.ZipFile(zpath) as z:
        z.extractall(root / "source")
    for name in ("run_autograder", "setup.sh"):
        os.chmod(root / "source" / name, 0o755)
    nbformat.write(notebook, root / "submission" / "answer.ipynb")
    env = dict(os.environ, COURSEWORK_AUTOGRADER_ROOT=str(root), COURSEWORK_PYTHON=sys.executable)
    proc = subprocess.run([str(root / "source" / "run_autograder")], env=env, check=False,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((root / "results" / "results.json").read_text())


@pytest.fixture(scope="module")
def toy_zip(tmp_path_factory):
    base = tmp_path_factory.mktemp("gradescope")
    assignments = toy_assignments(base)
    (zpath,) = gradescope.build(base / "zips", assignments)
    rel = base / "release"
    release(rel, assignments)
    return {"zip": zpath, "base": base, "master": assignments / f"{TOY}.ipynb",
            "blank": rel / f"{TOY}.ipynb"}


def test_the_zip_has_gradescopes_layout(toy_zip):
    names = zipfile.ZipFile(toy_zip["zip"]).namelist()
    assert {"setup.sh", "run_autograder", "tools/coursework/worker.py",
            f"assignments/tests/{TOY}_hidden.py", "code/pyproject.toml"} <= set(names)
    modes = {i.filename: i.external_attr >> 16 for i in zipfile.ZipFile(toy_zip["zip"]).infolist()}
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111


@needs_isolation()  # Gradescope runs as root in a container: the uid layer holds there
@pytest.mark.parametrize("which, score", [("master", 4), ("blank", 0), ("attack", 0)])
def test_results_json_for_a_master_a_blank_and_an_attack(toy_zip, which, score):
    nb = (with_cells(toy_zip["blank"], STEAL) if which == "attack"
          else nbformat.read(toy_zip[which], as_version=4))
    res = _autograde(toy_zip["zip"], nb, toy_zip["base"] / f"root_{which}")
    assert res["score"] == score, res
    assert [t["name"] for t in res["tests"]] == ["colsum: sums of the columns",
                                                 "depth: without recursion", "my_tanh: with numpy",
                                                 "echo: the input, plus one"]
    assert all({"name", "score", "max_score", "output", "visibility"} <= set(t)
               for t in res["tests"])
    assert sum(t["max_score"] for t in res["tests"]) == 4


# --- Canvas and the class report ----------------------------------------------------------------


def _totals(folder: Path) -> Path:
    rows = [("alice/01_a.ipynb", "01_a", 10, 10), ("alice/02_b.ipynb", "02_b", 3, 8),
            ("bob_01_a.ipynb", "01_a", 4, 10), ("=cmd_01_a.ipynb", "01_a", 0, 10)]
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "totals.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(export.TOTALS)
        for sub, a, p, m in rows:
            w.writerow([export.escape(sub), a, p, m, "graded", "1.0", "1", "x", sub, "now"])
    with open(folder / "grades.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(export.GRADES)
        for sub, a, p, m in rows:
            for q, ok in (("q1", p > 0), ("q2", p == m)):
                w.writerow([export.escape(sub), a, q, 1 if ok else 0, 1,
                            "passed" if ok else "failed", "", "1", "x", sub, "now"])
    return folder / "totals.csv"


def test_canvas_gradebook_from_a_roster(tmp_path):
    totals = _totals(tmp_path / "grades")
    roster = tmp_path / "roster.csv"
    roster.write_text("Student,ID,SIS User ID,SIS Login ID,Section,submission\n"
                      "\"Doe, Alice\",101,s101,alice,A,alice\n"
                      "Bob Roe,102,s102,bob,A,bob\n"
                      "=Eve,103,s103,eve,A,eve\n")
    out, warnings = export.canvas(totals, roster, tmp_path / "canvas.csv", ["01_a", "02_b"])
    rows = list(csv.reader(open(out)))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "01_a", "02_b"]
    assert rows[1][0].strip() == "Points Possible" and rows[1][5:] == ["10", "8"]
    assert rows[2] == ["Doe, Alice", "101", "s101", "alice", "A", "10", "3"]
    assert rows[3] == ["Bob Roe", "102", "s102", "bob", "A", "4", ""]
    assert rows[4][0] == "'=Eve"  # escaped, like every cell a student controls
    assert any("no graded submission" in w for w in warnings)
    assert any("=cmd_01_a.ipynb: no student" in w for w in warnings)


def test_class_report_has_plots_and_loads_nothing_from_elsewhere(tmp_path):
    _totals(tmp_path / "grades")
    page = report.build(tmp_path / "grades").read_text()
    assert page.count("<svg") == 2  # one figure (histogram and pass rates) per assignment
    assert "<h2>01_a</h2>" in page and "3 submissions" in page
    assert not re.search(r"""(src|href)=["']https?:""", page)
    assert "<script" not in page


# --- the student's check ------------------------------------------------------------------------


def test_check_runs_the_public_tests_as_the_grader_would(tmp_path):
    assignments = toy_assignments(tmp_path)
    good = run_grader("check", assignments / f"{TOY}.ipynb", "--assignments", assignments)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "all public tests pass" in good.stdout
    assert 'ok    code cell 2 under "1. Column sums" (public test)' in good.stdout
    broken = tmp_path / "mine.ipynb"
    nbformat.write(with_cells(assignments / f"{TOY}.ipynb", replace={"x + 1": "x + 2"}), broken)
    bad = run_grader("check", broken, "--assignments", assignments)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert 'FAIL  code cell 2 under "4. Echo" (public test): AssertionError' in bad.stdout
    stray = tmp_path / "notes.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), stray)
    said = []
    assert check.check(stray, assignments, echo=said.append) == 2
    assert "would not grade" in said[0]


def test_make_targets_exist():
    text = (ROOT / "Makefile").read_text()
    for target in ("check:", "gradescope:", "canvas:", "report:"):
        assert re.search(rf"^{target}", text, re.M), target
    assert shutil.which("make")
