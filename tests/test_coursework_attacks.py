"""Submissions that attack the grader's machinery: they forge the worker's replies, flood or
stall its channel, leave processes behind, link to a master, or sabotage other submissions.
None may gain a point, and none may hang or crash a grading run. (The isolation layers are
tested in test_coursework_isolation.py, the references' reach in test_coursework_mechanisms.py.)

Most attacks share one grading run on the made-up assignment of coursework_helpers.py; those
that would stall a broken grader get runs of their own.
"""

from __future__ import annotations

import gc
import importlib.util
import time

import nbformat
import pytest
from coursework_helpers import (MASTERS, TOY, feedback, needs_isolation, run_grader, scores,
                                toy_assignments, with_cells)

import grading
import worker

TIMEOUT = 6  # seconds per question and per cell

# Write a reply of our own on the grader's channel while a question is probed, so that the
# grader reads it instead of the worker's: errors that are lists, an archive that inflates,
# too many arrays.
FORGE = """
import base64, gc, io, json, sys
import numpy as np
_channel = [f for f in gc.get_objects() if isinstance(f, io.TextIOWrapper)
            and f.mode == "w" and f.fileno() > 2][0]

def _forge(errors, arrays, compressed=False):
    f = sys._getframe()
    while "req" not in f.f_locals:
        f = f.f_back
    req = f.f_locals["req"]
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    msg = {"ok": True, "errors": errors(req["cases"]),
           "outputs": base64.b64encode(buf.getvalue()).decode()}
    _channel.write(json.dumps(msg) + "\\n")
    _channel.flush()
"""
FORGE_ERRORS = FORGE + """
_orig = colsum
def colsum(x):
    globals()["colsum"] = _orig
    _forge(lambda n: [[1]] * n, {"c0.s": np.zeros(1)})
    return _orig(x)
"""
FORGE_BOMB = FORGE + """
_orig = echo
def echo(x):
    globals()["echo"] = _orig
    zeros = np.zeros(2 * 10**7, dtype=np.uint8)  # 20 MB, a few kB compressed
    _forge(lambda n: [None] * n, {f"c{i}.y": zeros for i in range(3)}, compressed=True)
    return _orig(x)
"""
FORGE_MANY = FORGE + """
_orig = echo
def echo(x):
    globals()["echo"] = _orig
    _forge(lambda n: [None] * n, {f"c0.y{i}": np.zeros(0) for i in range(20_000)})
    return _orig(x)
"""
LONG_ERRORS = FORGE + """
_orig = colsum
def colsum(x):
    globals()["colsum"] = _orig
    _forge(lambda n: ["x" * 10**7] * n, {})
    return _orig(x)
"""

# A line nested deeper than a JSON parser recurses, and an error message of 10 MB.
DEEP_REPLY = """
import gc, io
_channel = [f for f in gc.get_objects() if isinstance(f, io.TextIOWrapper)
            and f.mode == "w" and f.fileno() > 2][0]
_channel.write("[" * 1_000_000 + "]" * 1_000_000 + "\\n")
_channel.flush()
"""
LONG_NOTE = """
import gc, io, json
_channel = [f for f in gc.get_objects() if isinstance(f, io.TextIOWrapper)
            and f.mode == "w" and f.fileno() > 2][0]
_channel.write(json.dumps({"ok": False, "error": "y" * 10**7}) + "\\n")
_channel.flush()
"""

# A grandchild in a session of its own waits for the grader to exit, then gives the
# submission full marks in totals.csv.
DAEMON = """
import os, time
grader = os.getppid()
argv = open(f"/proc/{grader}/cmdline", "rb").read().split(b"\\0")
out = argv[argv.index(b"--out") + 1].decode()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        while os.path.exists(f"/proc/{grader}"):
            time.sleep(0.1)
        path = os.path.join(out, "totals.csv")
        text = open(path).read()
        with open(path, "w") as f:
            f.write(text.replace("daemon_07_toy.ipynb,07_toy,0,4", "daemon_07_toy.ipynb,07_toy,4,4"))
    os._exit(0)
"""

# Take the blocker of torch out of the import system and import it.
UNBLOCK_TORCH = """
import sys
sys.meta_path[:] = [m for m in sys.meta_path if type(m).__name__ != "_Blocker"]
import torch
def my_tanh(x):
    return torch.tanh(torch.tensor(x)).numpy()
"""

# Overwrite the inputs every other submission reads (where an earlier grader kept them).
SABOTAGE = """
import glob, os, tempfile
import numpy as np
for path in glob.glob(os.path.join(tempfile.gettempdir(), "*", "*.npz")):
    np.savez(path, nothing=np.zeros(1))
"""


SWAP_INPUT = """
import gc, io, os
if not os.path.exists("swapped"):  # once: the grader re-runs this cell in a fresh worker
    open("swapped", "w").close()
    _requests = [f for f in gc.get_objects() if isinstance(f, io.TextIOWrapper)
                 and f.mode == "r" and f.fileno() > 2][0]
    _keep = os.dup(_requests.fileno())  # the grader's pipe stays open, and nobody reads it
    os.dup2(os.pipe()[0], _requests.fileno())
"""
FLOOD = """
import gc, io
_channel = [f for f in gc.get_objects() if isinstance(f, io.TextIOWrapper)
            and f.mode == "w" and f.fileno() > 2][0]
for _ in range(200):
    _channel.write("x" * 2**20)  # 200 MB and never a newline
"""
STRAY = """
import subprocess
subprocess.Popen(["sleep", "987655"], start_new_session=True)  # out of the worker's group
"""
LOOK_FOR_STRAY = """
import glob
for path in glob.glob("/proc/[0-9]*/cmdline"):
    try:
        with open(path, "rb") as f:
            if f.read() == b"sleep\\x00987655\\x00":
                raise RuntimeError("the stray of the submission before is still running")
    except OSError:
        pass
"""


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    base = tmp_path_factory.mktemp("attacks")
    assignments = toy_assignments(base)
    master = assignments / f"{TOY}.ipynb"
    subs = base / "submissions"
    subs.mkdir()
    crafted = {
        "aa_sabotage": with_cells(master, SABOTAGE),
        "forged_errors": with_cells(master, FORGE_ERRORS),
        "forged_bomb": with_cells(master, FORGE_BOMB),
        "forged_many": with_cells(master, FORGE_MANY),
        "daemon": with_cells(master, DAEMON, replace={"x.sum(axis=0)": "0 * x"}),
        "deep_reply": with_cells(master, DEEP_REPLY),
        "long_errors": with_cells(master, LONG_ERRORS),
        "long_note": with_cells(master, LONG_NOTE),
        "unblock_torch": with_cells(master, UNBLOCK_TORCH),
        "zz_victim": with_cells(master),
        "swap": with_cells(master, SWAP_INPUT, "x = 1\n" + "# longer than a pipe holds\n" * 20000),
        "flood": with_cells(master, FLOOD),
    }
    for label, nb in crafted.items():
        nbformat.write(nb, subs / f"{label}_{TOY}.ipynb")
    (subs / "linked").mkdir()
    (subs / "linked" / f"{TOY}.ipynb").symlink_to(master)
    (subs / "folder_link").symlink_to(assignments)
    with open(subs / f"giant_{TOY}.ipynb", "wb") as f:
        f.truncate(3 * 2**30)  # 3 GB (of nothing, on disk)
    out = base / "grades"
    t0 = time.monotonic()
    proc = run_grader("grade", subs, "--out", out, "--assignments", assignments,
                      "--timeout", TIMEOUT, "--cell-timeout", TIMEOUT)
    seconds = time.monotonic() - t0
    time.sleep(1.0)  # time for a process left behind to do its damage
    return {"proc": proc, "out": out, "seconds": seconds, "subs": subs}


def _sub(label):
    return f"{label}_{TOY}.ipynb"


def test_the_run_survives_every_attack(attacked):
    assert attacked["proc"].returncode == 0, attacked["proc"].stderr
    assert attacked["seconds"] < 150


def test_forged_replies_fail_the_question_and_nothing_else(attacked):
    fb = feedback(attacked["out"], _sub("forged_errors"))
    assert "## colsum: sums of the columns: error" in fb and "no usable answer" in fb
    assert scores(attacked["out"])[_sub("forged_errors")] <= 3  # (the channel is out of step)


def test_a_reply_nested_too_deep_is_garbled_not_fatal(attacked):
    assert "the worker's reply was garbled" in feedback(attacked["out"], _sub("deep_reply"))
    assert scores(attacked["out"])[_sub("deep_reply")] == 4  # the cell is skipped


@pytest.mark.parametrize("label, text", [("long_errors", "x"), ("long_note", "y")])
def test_forged_error_messages_are_cut_short(attacked, label, text):
    fb = feedback(attacked["out"], _sub(label))
    assert text * 1000 in fb and len(fb) < 20_000


@pytest.mark.parametrize("label, message", [
    ("forged_bomb", "not an array as numpy.savez writes it"),
    ("forged_many", "the answers could not be read: ValueError: more than 10000 arrays")])
def test_an_answer_too_large_to_load_is_refused_unopened(attacked, label, message):
    assert message in feedback(attacked["out"], _sub(label))
    assert scores(attacked["out"])[_sub(label)] <= 3


def test_a_process_left_behind_cannot_edit_the_grades(attacked):
    assert scores(attacked["out"])[_sub("daemon")] == 3


@needs_isolation()
def test_a_blocked_module_stays_blocked(attacked):
    fb = feedback(attacked["out"], _sub("unblock_torch"))
    assert scores(attacked["out"])[_sub("unblock_torch")] == 3
    assert "## my_tanh: with numpy: failed" in fb or "## my_tanh: with numpy: error" in fb


def test_linked_notebooks_and_folders_are_skipped(attacked):
    got = scores(attacked["out"])
    stdout = attacked["proc"].stdout
    assert f"skipped linked/{TOY}.ipynb: a symbolic link" in stdout
    assert "skipped folder_link: a symbolic link" in stdout
    assert not [s for s, v in got.items() if s.startswith(("linked/", "folder_link")) and v]


def test_one_submission_cannot_change_the_inputs_of_another(attacked):
    assert scores(attacked["out"])[_sub("zz_victim")] == 4


def test_a_worker_that_stops_reading_cannot_hang_the_grader(attacked):
    assert "was skipped: did not finish within" in feedback(attacked["out"], _sub("swap"))
    assert scores(attacked["out"])[_sub("swap")] == 4


def test_an_endless_answer_is_cut_off(attacked):
    assert "the answer was larger than 64 MB" in feedback(attacked["out"], _sub("flood"))
    assert scores(attacked["out"])[_sub("flood")] == 4


def test_a_giant_notebook_is_not_parsed(attacked):
    assert "could not be read: ValueError: larger than 64 MB" in feedback(
        attacked["out"], _sub("giant"))


# --- attacks that stall a grader: one run each, bounded by a timeout -------------------------

def _alone(tmp_path, *notebooks, options=()):
    assignments = toy_assignments(tmp_path)
    subs = tmp_path / "subs"
    subs.mkdir()
    for label, cells in notebooks:
        nbformat.write(with_cells(assignments / f"{TOY}.ipynb", *cells),
                       subs / f"{label}_{TOY}.ipynb")
    proc = run_grader("grade", subs, "--out", tmp_path / "out", "--assignments", assignments,
                      "--timeout", TIMEOUT, "--cell-timeout", TIMEOUT, *options, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return tmp_path / "out"


def test_a_process_that_leaves_the_worker_dies_with_it(tmp_path):
    out = _alone(tmp_path, ("a_stray", [STRAY]), ("b_look", [LOOK_FOR_STRAY]),
                 options=("--jobs", "1"))
    assert "still running" not in feedback(out, _sub("b_look"))
    assert scores(out) == {_sub("a_stray"): 4, _sub("b_look"): 4}


# --- the grader's parts --------------------------------------------------------------------------


def test_a_grader_failure_on_one_submission_costs_only_that_one(tmp_path, monkeypatch):
    assignments = toy_assignments(tmp_path)
    subs = tmp_path / "subs"
    subs.mkdir()
    for label in ("boom", "fine"):
        nbformat.write(with_cells(assignments / f"{TOY}.ipynb"), subs / f"{label}_{TOY}.ipynb")
    real = grading.grade_submission

    def fragile(sub, *args):
        if sub.label.startswith("boom"):
            raise RuntimeError("the grader tripped")
        return real(sub, *args)

    monkeypatch.setattr(grading, "grade_submission", fragile)
    results = grading.grade(subs, tmp_path / "out", jobs=1, assignments=assignments,
                            echo=lambda *a: None)
    by_label = {r.submission: r for r in results}
    assert by_label[_sub("fine")].points == 4
    boom = by_label[_sub("boom")]
    assert boom.points == 0 and "the grader tripped" in " ".join(boom.notes)


@pytest.mark.parametrize("hidden", sorted((MASTERS / "tests").glob("*_hidden.py")),
                         ids=lambda p: p.stem)
def test_the_worker_keeps_only_the_probes_of_the_hidden_tests(hidden):
    spec = importlib.util.spec_from_file_location("hidden_probe_only", hidden)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    questions = module.QUESTIONS
    probes = worker._only_probes(module)
    assert set(probes) == set(questions)
    left = vars(module)
    assert "QUESTIONS" not in left
    grader_side = [v[k] for v in questions.values() for k in ("expect", "cases", "compare")
                   if k in v]
    kept = [v for v in left.values() if callable(v)]
    for q, probe in probes.items():  # a probe's globals: its own, none of the grader's side
        kept += [v for v in probe.__globals__.values() if callable(v)]
        assert probe.__globals__ is not left and "QUESTIONS" not in probe.__globals__
        assert probe.__code__ is questions[q]["probe"].__code__
    assert not [f for f in grader_side if any(f is k for k in kept)]
    del module, questions, grader_side, kept, probes
    gc.collect()
