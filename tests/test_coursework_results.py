"""Files and results: only regular files are opened, feedback files never collide, CSV cells are
escaped against formula injection, notebooks are matched by their metadata first, unmatched ones
get a row, grading a subset merges into the results (with a log of runs), one notebook's
grading is bounded in time whatever its cells do, and feedback names cells as JupyterLab shows
them.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nbformat
import pytest
from coursework_helpers import (TOY, feedback, grades, run_grader, toy_assignments,
                                totals, with_cells)

import matching
from release import release

ENDLESS = {"    return x + 1": "    while True:\n        pass"}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("results")
    assignments = toy_assignments(base)
    master = nbformat.read(assignments / f"{TOY}.ipynb", as_version=4)
    subs = base / "subs"
    (subs / "alice").mkdir(parents=True)
    nbformat.write(master, subs / "alice" / f"{TOY}.ipynb")
    nbformat.write(with_cells(assignments / f"{TOY}.ipynb", "x = 1"), subs / f"alice__{TOY}.ipynb")
    nbformat.write(master, subs / f"=HYPERLINK(1)_{TOY}.ipynb")
    nbformat.write(master, subs / "renamed_by_the_student.ipynb")  # metadata says 07_toy
    other = nbformat.v4.new_notebook()
    nbformat.write(other, subs / "bob_hw2.ipynb")
    os.mkfifo(subs / f"fifo_{TOY}.ipynb")
    (subs / f"zero_{TOY}.ipynb").symlink_to("/dev/zero")
    nbformat.write(with_cells(assignments / f"{TOY}.ipynb", "while True:\n    pass", at=4,
                              replace=ENDLESS), subs / f"endless_{TOY}.ipynb")
    # Every cell just under its limit, and every graded function an endless loop: without a
    # budget for the whole notebook, the restarts re-run the slow cells for each question.
    loop = "\n    while True:\n        pass"
    nbformat.write(with_cells(assignments / f"{TOY}.ipynb", *["import time\ntime.sleep(1.8)"] * 6,
                              at=2, replace={"def colsum(x):": "def colsum(x):" + loop,
                                             "def depth(parents, node):":
                                             "def depth(parents, node):" + loop,
                                             "def my_tanh(x):": "def my_tanh(x):" + loop,
                                             "def echo(x):": "def echo(x):" + loop}),
                   subs / f"slow_{TOY}.ipynb")
    out = base / "grades"
    t0 = time.monotonic()
    proc = run_grader("grade", subs, "--out", out, "--assignments", assignments,
                      "--timeout", 2, "--cell-timeout", 2, "--budget", 12, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return {"out": out, "proc": proc, "subs": subs, "assignments": assignments,
            "seconds": time.monotonic() - t0}


def test_only_regular_files_are_opened(graded):
    stdout = graded["proc"].stdout
    assert f"skipped fifo_{TOY}.ipynb: a named pipe (FIFO)" in stdout  # it used to hang the run
    assert f"skipped zero_{TOY}.ipynb: a symbolic link" in stdout
    assert totals(graded["out"])[f"fifo_{TOY}.ipynb"]["status"] == "skipped"


def test_feedback_files_cannot_collide(graded):
    a = feedback(graded["out"], f"alice/{TOY}.ipynb")
    b = feedback(graded["out"], f"alice__{TOY}.ipynb")
    assert f"# Feedback on alice/{TOY}.ipynb" in a and f"# Feedback on alice__{TOY}.ipynb" in b
    assert len(list((graded["out"] / "feedback").iterdir())) == len(
        [r for r in totals(graded["out"]).values() if r["status"] == "graded"])


def test_csv_cells_are_escaped_against_formula_injection(graded):
    text = (graded["out"] / "grades.csv").read_text()
    assert f"'=HYPERLINK(1)_{TOY}.ipynb" in text
    assert "\n=" not in text and ",=" not in text
    assert matching.feedback_name(f"=HYPERLINK(1)_{TOY}.ipynb") in os.listdir(
        graded["out"] / "feedback")


def test_notebooks_are_matched_by_metadata_first(graded):
    row = totals(graded["out"])["renamed_by_the_student.ipynb"]
    assert row["assignment"] == TOY and float(row["points"]) == 4
    names = ["01_a", "02_b"]
    nb = nbformat.v4.new_notebook(metadata={"coursework": {"assignment": "02_b"}})
    assert matching.match_assignment(Path("01_a.ipynb"), names, nb) == "02_b"
    assert matching.match_assignment(Path("x/01_a (1).ipynb"), names) == "01_a"
    assert matching.match_assignment(Path("homework.ipynb"), names) is None


def test_an_unmatched_notebook_gets_a_row(graded):
    rows = [r for r in grades(graded["out"]) if r["submission"] == "bob_hw2.ipynb"]
    assert len(rows) == 1 and rows[0]["status"] == "unmatched", rows
    assert "unmatched bob_hw2.ipynb" in graded["proc"].stdout


def test_feedback_names_cells_as_jupyterlab_shows_them(graded):
    fb = feedback(graded["out"], f"endless_{TOY}.ipynb")
    assert 'code cell 2 under "1. Column sums" was skipped: did not finish within 2 s' in fb, fb
    assert "## echo: the input, plus one: timeout" in fb


def test_grading_a_subset_merges_and_is_logged(graded, tmp_path):
    out = tmp_path / "out"
    import shutil
    shutil.copytree(graded["out"], out)
    before = totals(out)
    one = graded["subs"] / "alice" / f"{TOY}.ipynb"
    proc = run_grader("grade", one, "--out", out, "--assignments", graded["assignments"],
                      "--seed", 7)
    assert proc.returncode == 0, proc.stderr
    after = totals(out)
    # alice's row is replaced (matched by the file, whatever its label), nobody else's changes
    assert [k for k in after if k not in before] == []
    assert after[f"alice/{TOY}.ipynb"]["seed"] == "7"
    others = {k: v for k, v in before.items() if v["file"] != str(one.resolve())}
    assert all(after[k] == v for k, v in others.items())
    assert len(list((out / "feedback").iterdir())) >= len(
        [r for r in before.values() if r["status"] == "graded"])
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert len(runs) == 2 and runs[-1]["seed"] == 7 and runs[-1]["graded"] == 1


def test_one_notebooks_time_is_bounded_whatever_its_cells_do(graded):
    row = totals(graded["out"])[f"slow_{TOY}.ipynb"]
    assert float(row["points"]) == 0 and float(row["seconds"]) < 12 + 5, row
    assert "budget of 12 s" in feedback(graded["out"], f"slow_{TOY}.ipynb")


def test_the_release_stamps_the_assignment_id(tmp_path):
    assignments = toy_assignments(tmp_path)
    nb = nbformat.read(assignments / f"{TOY}.ipynb", as_version=4)
    del nb.metadata["coursework"]
    nbformat.write(nb, assignments / f"{TOY}.ipynb")
    (path,) = release(tmp_path / "rel", assignments)
    assert nbformat.read(path, as_version=4).metadata["coursework"]["assignment"] == TOY
