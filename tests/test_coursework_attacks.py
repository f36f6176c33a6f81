"""Submissions that attack the grader itself: they look for the reference results inside the
worker, forge its replies, flood or stall its channel, leave processes behind, link to a master
or sabotage other submissions. None may gain a point, and none may hang or crash a grading run.

Most attacks share one grading run; those that would stall a broken grader get runs of their own.
"""

from __future__ import annotations

import csv
import gc
import importlib.util
import os
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
import worker  # noqa: E402

MASTERS = ROOT / "assignments"
TIMEOUT = 6  # seconds per question and per cell


def _landlock_abi() -> int:
    """The Landlock version of this kernel, 0 without (then the worker runs unsandboxed)."""
    if not sys.platform.startswith("linux"):
        return 0
    import ctypes
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return max(0, libc.syscall(ctypes.c_long(444), None, ctypes.c_long(0), ctypes.c_long(1)))
    except (OSError, AttributeError):
        return 0


LANDLOCK = _landlock_abi()
needs_landlock = pytest.mark.skipif(not LANDLOCK, reason="the kernel offers no Landlock")


def _notebook(base: Path, name: str, *cells: str, at: int | None = None):
    """The notebook ``base/name.ipynb`` with code ``cells`` inserted at ``at`` (default: end)."""
    nb = nbformat.read(base / f"{name}.ipynb", as_version=4)
    new = [nbformat.v4.new_code_cell(c) for c in cells]
    at = len(nb.cells) if at is None else at
    nb.cells[at:at] = new
    return nb


def _run(subs: Path, out: Path, *options: str, timeout: float = 240, env=None):
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(TOOL / "coursework.py"), "grade", str(subs), "--out", str(out),
         "--timeout", str(TIMEOUT), "--cell-timeout", str(TIMEOUT), *options],
        check=False, capture_output=True, text=True, timeout=timeout, env=env)
    return proc, time.monotonic() - t0


def _totals(out: Path) -> dict:
    with open(out / "totals.csv") as f:
        return {r["submission"]: float(r["points"]) for r in csv.DictReader(f)}


def _feedback(out: Path, submission: str) -> str:
    return (out / "feedback" / f"{submission.removesuffix('.ipynb')}.md").read_text()


# Attack code, run as notebook cells inside the worker.

# The hidden tests module, found through the garbage collector or the worker's stack frames:
# answer every question with the grader's own reference implementation (expect).
STEAL_GC = """
import gc, sys
sys.meta_path[:] = [m for m in sys.meta_path if type(m).__name__ != "_Blocker"]
for d in gc.get_objects():
    if isinstance(d, dict) and isinstance(d.get("QUESTIONS"), dict):
        for q in d["QUESTIONS"].values():
            q["probe"] = (lambda e: lambda ns, case: e(case))(q["expect"])
"""
STEAL_FRAMES = """
import sys
sys.meta_path[:] = [m for m in sys.meta_path if type(m).__name__ != "_Blocker"]
f = sys._getframe()
while f is not None:
    for v in list(f.f_locals.values()):
        h = v.get("hidden") if isinstance(v, dict) else None
        for q in getattr(h, "QUESTIONS", {}).values():
            q["probe"] = (lambda e: lambda ns, case: e(case))(q["expect"])
    f = f.f_back
"""

# Write a reply of our own on the grader's channel while a question is probed, so that the
# grader reads it instead of the worker's: errors that are lists, or an archive that inflates.
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
    if "outputs" in req:  # where an earlier grader read the answers from
        with open(req["outputs"], "wb") as out:
            out.write(buf.getvalue())
    msg = {"ok": True, "errors": errors(req["cases"]),
           "outputs": base64.b64encode(buf.getvalue()).decode()}
    _channel.write(json.dumps(msg) + "\\n")
    _channel.flush()
"""
FORGE_ERRORS = FORGE + """
_orig = Mul.__init__
def _init(self, *args):
    Mul.__init__ = _orig
    _forge(lambda n: [[1]] * n, {"c0.value": np.zeros(1)})
    _orig(self, *args)
Mul.__init__ = _init
"""
FORGE_BOMB = FORGE + """
_orig = forward
def forward(params, X):
    globals()["forward"] = _orig
    zeros = np.zeros(2 * 10**8, dtype=np.uint8)  # 200 MB, a few hundred kB compressed
    _forge(lambda n: [None] * n, {f"c{i}.logits": zeros for i in range(3)}, compressed=True)
    return _orig(params, X)
"""

# A line nested deeper than a JSON parser recurses, and error messages of 10 MB.
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
LONG_ERRORS = FORGE + """
_orig = Mul.__init__
def _init(self, *args):
    Mul.__init__ = _orig
    _forge(lambda n: ["x" * 10**7] * n, {})
    _orig(self, *args)
Mul.__init__ = _init
"""

# A grandchild in a session of its own waits for the grader to exit, then gives the
# submission full marks in totals.csv.
DAEMON = """
import os, time
grader = os.getppid()
argv = open(f"/proc/{grader}/cmdline", "rb").read().split(b"\\0")
totals = os.path.join(os.readlink(f"/proc/{grader}/cwd"),
                      argv[argv.index(b"--out") + 1].decode(), "totals.csv")
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        while os.path.exists(f"/proc/{grader}"):
            time.sleep(0.1)
        with open(totals) as f:
            text = f.read()
        with open(totals, "w") as f:
            f.write(text.replace("03_mlp_backprop_by_hand,0,10", "03_mlp_backprop_by_hand,10,10"))
    os._exit(0)
"""

# Read the master from disk and run its solution cells.
READ_MASTER = """
import json, os, sys
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(sys.argv[0]))))
with open(os.path.join(root, "assignments", "03_mlp_backprop_by_hand.ipynb")) as f:
    nb = json.load(f)
for c in nb["cells"]:
    if c["cell_type"] == "code" and not {"public-test", "no-grade"} & set(c["metadata"].get("tags", [])):
        exec("".join(c["source"]), globals())
"""

# Take the blocker of torch out of the import system and let torch do the gradients by hand.
UNBLOCK_TORCH = """
import sys
sys.meta_path[:] = [m for m in sys.meta_path if type(m).__name__ != "_Blocker"]
import torch

def _net(params, X):
    h = torch.tensor(X)
    ps = [(torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True))
          for W, b in params]
    for t, (W, b) in enumerate(ps):
        h = h @ W + b
        h = torch.relu(h) if t < len(ps) - 1 else h
    return ps, h

def forward(params, X):
    return {"logits": _net(params, X)[1].detach().numpy()}

def softmax_cross_entropy(logits, y):
    z = torch.tensor(logits, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(z, torch.tensor(y))
    loss.backward()
    return loss.item(), z.grad.numpy()
"""

# Leave a file next to the submissions, and signal the grader (signal 0 only asks whether
# one could be sent); each cell says so if it succeeded.
ESCAPE_WRITE = """
import os
argv = open(f"/proc/{os.getppid()}/cmdline", "rb").read().split(b"\\0")
with open(os.path.join(argv[3].decode(), "planted.txt"), "w") as f:
    f.write("a worker wrote here")
raise RuntimeError("wrote next to the submissions")
"""
ESCAPE_SIGNAL = """
import os
os.kill(os.getppid(), 0)
raise RuntimeError("could signal the grader")
"""

# Overwrite the inputs every other submission reads (where an earlier grader kept them).
SABOTAGE = """
import glob, os, tempfile
import numpy as np
for path in glob.glob(os.path.join(tempfile.gettempdir(), "grades-*", "*.npz")):
    np.savez(path, nothing=np.zeros(1))
"""


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    base = tmp_path_factory.mktemp("attacks")
    release = base / "release"
    cw.release(release)
    subs = base / "submissions"
    subs.mkdir()
    crafted = {
        "aa_sabotage_01_local_gradients": _notebook(release, "01_local_gradients", SABOTAGE),
        "steal_gc_03_mlp_backprop_by_hand": _notebook(
            release, "03_mlp_backprop_by_hand", STEAL_GC),
        "steal_frames_01_local_gradients": _notebook(
            release, "01_local_gradients", STEAL_FRAMES),
        "forged_errors_01_local_gradients": _notebook(
            MASTERS, "01_local_gradients", FORGE_ERRORS),
        "forged_bomb_03_mlp_backprop_by_hand": _notebook(
            release, "03_mlp_backprop_by_hand", FORGE_BOMB),
        "daemon_03_mlp_backprop_by_hand": _notebook(release, "03_mlp_backprop_by_hand", DAEMON),
        "deep_reply_03_mlp_backprop_by_hand": _notebook(
            MASTERS, "03_mlp_backprop_by_hand", DEEP_REPLY),
        "long_errors_01_local_gradients": _notebook(MASTERS, "01_local_gradients", LONG_ERRORS),
        "long_note_03_mlp_backprop_by_hand": _notebook(release, "03_mlp_backprop_by_hand", LONG_NOTE),
        "zz_victim_01_local_gradients": _notebook(MASTERS, "01_local_gradients"),
        "read_master_03_mlp_backprop_by_hand": _notebook(
            release, "03_mlp_backprop_by_hand", READ_MASTER),
        "unblock_torch_03_mlp_backprop_by_hand": _notebook(
            release, "03_mlp_backprop_by_hand", UNBLOCK_TORCH),
        "escape_03_mlp_backprop_by_hand": _notebook(
            MASTERS, "03_mlp_backprop_by_hand", ESCAPE_WRITE, ESCAPE_SIGNAL),
    }
    for label, nb in crafted.items():
        nbformat.write(nb, subs / f"{label}.ipynb")
    (subs / "linked").mkdir()
    (subs / "linked" / "01_local_gradients.ipynb").symlink_to(MASTERS / "01_local_gradients.ipynb")
    (subs / "folder_link").symlink_to(MASTERS)
    out = base / "grades"
    proc, seconds = _run(subs, out)
    time.sleep(1.0)  # time for a process left behind to do its damage
    return {"proc": proc, "out": out, "seconds": seconds, "subs": subs}


def test_the_run_survives_every_attack(attacked):
    assert attacked["proc"].returncode == 0, attacked["proc"].stderr
    assert attacked["seconds"] < 120


@pytest.mark.parametrize("sub", ["steal_gc_03_mlp_backprop_by_hand.ipynb",
                                 "steal_frames_01_local_gradients.ipynb"])
def test_the_worker_holds_no_reference_to_answer_with(attacked, sub):
    assert _totals(attacked["out"])[sub] == 0


def test_forged_replies_fail_the_question_and_nothing_else(attacked):
    sub = "forged_errors_01_local_gradients.ipynb"
    assert "## Mul (with broadcasting): error" in _feedback(attacked["out"], sub)
    assert "no usable answer" in _feedback(attacked["out"], sub)


def test_a_reply_nested_too_deep_is_garbled_not_fatal(attacked):
    sub = "deep_reply_03_mlp_backprop_by_hand.ipynb"
    assert "the worker's reply was garbled" in _feedback(attacked["out"], sub)
    assert _totals(attacked["out"])[sub] == 10  # the cell is skipped, the answers count


@pytest.mark.parametrize("sub, text", [("long_errors_01_local_gradients.ipynb", "x"),
                                       ("long_note_03_mlp_backprop_by_hand.ipynb", "y")])
def test_forged_error_messages_are_cut_short(attacked, sub, text):
    fb = _feedback(attacked["out"], sub)
    assert text * 1000 in fb and len(fb) < 20_000


def test_an_archive_that_inflates_is_refused_unopened(attacked):
    sub = "forged_bomb_03_mlp_backprop_by_hand.ipynb"
    assert _totals(attacked["out"])[sub] == 0
    assert "not an array as numpy.savez writes it" in _feedback(attacked["out"], sub)


def test_a_process_left_behind_cannot_edit_the_grades(attacked):
    assert _totals(attacked["out"])["daemon_03_mlp_backprop_by_hand.ipynb"] == 0


def test_linked_notebooks_and_folders_are_skipped(attacked):
    totals = _totals(attacked["out"])
    assert not [s for s in totals if s.startswith(("linked/", "folder_link/"))], totals
    stdout = attacked["proc"].stdout
    assert "skipped linked/01_local_gradients.ipynb: a symbolic link" in stdout
    assert "skipped folder_link: a symbolic link" in stdout


def test_one_submission_cannot_change_the_inputs_of_another(attacked):
    assert _totals(attacked["out"])["zz_victim_01_local_gradients.ipynb"] == 10


@needs_landlock
def test_the_sandbox_is_on_and_said_so(attacked):
    assert f"sandbox of the workers: on: Landlock ABI {LANDLOCK}" in attacked["proc"].stdout


@needs_landlock
def test_a_submission_cannot_read_the_masters(attacked):
    sub = "read_master_03_mlp_backprop_by_hand.ipynb"
    assert _totals(attacked["out"])[sub] == 0
    assert "PermissionError" in _feedback(attacked["out"], sub)


@needs_landlock
def test_a_blocked_module_stays_blocked(attacked):
    sub = "unblock_torch_03_mlp_backprop_by_hand.ipynb"
    assert _totals(attacked["out"])[sub] == 0
    assert "Permission denied" in _feedback(attacked["out"], sub)


@needs_landlock
def test_a_submission_cannot_write_outside_its_folder(attacked):
    sub = "escape_03_mlp_backprop_by_hand.ipynb"
    assert not (attacked["subs"] / "planted.txt").exists()
    assert "wrote next to the submissions" not in _feedback(attacked["out"], sub)
    assert _totals(attacked["out"])[sub] == 10  # the honest answers still count


@pytest.mark.skipif(LANDLOCK < 6, reason="Landlock scopes signals from version 6 on")
def test_a_submission_cannot_signal_the_grader(attacked):
    fb = _feedback(attacked["out"], "escape_03_mlp_backprop_by_hand.ipynb")
    assert "could signal the grader" not in fb
    assert "PermissionError" in fb


# --- attacks that stall a grader: one run each, bounded by a timeout -------------------------

SWAP_INPUT = """
import gc, io, os
if not os.path.exists("swapped"):  # once: the grader re-runs this cell in a fresh worker
    open("swapped", "w").close()
    _requests = [f for f in gc.get_objects() if isinstance(f, io.TextIOWrapper)
                 and f.mode == "r" and f.fileno() > 2][0]
    _keep = os.dup(_requests.fileno())  # the grader's pipe stays open, and nobody reads it
    os.dup2(os.pipe()[0], _requests.fileno())
"""


def test_a_worker_that_stops_reading_cannot_hang_the_grader(tmp_path):
    nb = _notebook(MASTERS, "03_mlp_backprop_by_hand", SWAP_INPUT,
                   "x = 1\n" + "# a long cell, more than a pipe holds\n" * 20000)
    nbformat.write(nb, tmp_path / "03_mlp_backprop_by_hand.ipynb")
    proc, seconds = _run(tmp_path, tmp_path / "out", timeout=90)
    assert proc.returncode == 0, proc.stderr
    fb = _feedback(tmp_path / "out", "03_mlp_backprop_by_hand.ipynb")
    assert "was skipped: did not finish within" in fb
    assert _totals(tmp_path / "out")["03_mlp_backprop_by_hand.ipynb"] == 10


FLOOD = """
import gc, io
_channel = [f for f in gc.get_objects() if isinstance(f, io.TextIOWrapper)
            and f.mode == "w" and f.fileno() > 2][0]
for _ in range(200):
    _channel.write("x" * 2**20)  # 200 MB and never a newline
"""


def test_an_endless_answer_is_cut_off(tmp_path):
    nbformat.write(_notebook(MASTERS, "03_mlp_backprop_by_hand", FLOOD),
                   tmp_path / "03_mlp_backprop_by_hand.ipynb")
    proc, seconds = _run(tmp_path, tmp_path / "out", timeout=90)
    assert proc.returncode == 0, proc.stderr
    assert "the answer was larger than 64 MB" in _feedback(
        tmp_path / "out", "03_mlp_backprop_by_hand.ipynb")
    assert _totals(tmp_path / "out")["03_mlp_backprop_by_hand.ipynb"] == 10


def test_slow_cells_and_crashes_share_one_time_budget(tmp_path):
    # Each cell keeps within its own limit, but every crash makes the grader re-run the slow
    # cells before it: without a budget for the whole notebook this takes half an hour.
    cells = ["import time\ntime.sleep(1.5)"] * 3 + ["import os\nos._exit(1)"] * 300
    nbformat.write(_notebook(MASTERS, "03_mlp_backprop_by_hand", *cells, at=2),
                   tmp_path / "03_mlp_backprop_by_hand.ipynb")
    proc, seconds = _run(tmp_path, tmp_path / "out", "--notebook-timeout", "8", timeout=90)
    assert proc.returncode == 0, proc.stderr
    assert seconds < 45
    fb = _feedback(tmp_path / "out", "03_mlp_backprop_by_hand.ipynb")
    assert "cells took more than 8 s together" in fb
    assert _totals(tmp_path / "out")["03_mlp_backprop_by_hand.ipynb"] == 0


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


def test_a_process_that_leaves_the_worker_dies_with_it(tmp_path):
    # It could eat the CPU the next submissions are timed on; one worker at a time, so the
    # next submission can look for it.
    nbformat.write(_notebook(MASTERS, "03_mlp_backprop_by_hand", STRAY),
                   tmp_path / "a_stray_03_mlp_backprop_by_hand.ipynb")
    nbformat.write(_notebook(MASTERS, "03_mlp_backprop_by_hand", LOOK_FOR_STRAY),
                   tmp_path / "b_look_03_mlp_backprop_by_hand.ipynb")
    proc, seconds = _run(tmp_path, tmp_path / "out", "--jobs", "1", timeout=90)
    assert proc.returncode == 0, proc.stderr
    assert "still running" not in _feedback(tmp_path / "out", "b_look_03_mlp_backprop_by_hand.ipynb")
    assert _totals(tmp_path / "out") == {"a_stray_03_mlp_backprop_by_hand.ipynb": 10,
                                         "b_look_03_mlp_backprop_by_hand.ipynb": 10}


WIDE_NETWORK = """
import numpy as np

def train_moons(X, y, steps):  # one hidden layer of 600,000 units: gigabytes in the grader
    width = 600_000
    return [np.zeros((2, width)), np.zeros(width), np.zeros((width, 2)), np.zeros(2)]
"""


MANY_ARRAYS = """
import numpy as np

def train_moons(X, y, steps):
    return [np.zeros(0)] * 20_000
"""


@pytest.mark.parametrize("attack, message", [
    (WIDE_NETWORK, "the network has 3000002 weights; the grader evaluates networks of up to"),
    (MANY_ARRAYS, "the answers could not be read: ValueError: more than 10000 arrays")],
    ids=["wide network", "many arrays"])
def test_a_huge_answer_is_refused_before_the_grader_evaluates_it(tmp_path, attack, message):
    nbformat.write(_notebook(MASTERS, "02_forward_backward_sgd", attack),
                   tmp_path / "02_forward_backward_sgd.ipynb")
    proc, seconds = _run(tmp_path, tmp_path / "out", timeout=90)
    assert proc.returncode == 0, proc.stderr
    fb = _feedback(tmp_path / "out", "02_forward_backward_sgd.ipynb")
    assert message in fb
    assert _totals(tmp_path / "out")["02_forward_backward_sgd.ipynb"] == 8


def test_a_giant_notebook_is_not_parsed(tmp_path):
    giant = tmp_path / "01_local_gradients.ipynb"
    with open(giant, "wb") as f:
        f.truncate(3 * 2**30)  # 3 GB (of nothing, on disk)
    proc, seconds = _run(tmp_path, tmp_path / "out", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "could not be read: ValueError: larger than 64 MB" in _feedback(
        tmp_path / "out", "01_local_gradients.ipynb")


# --- the grader's parts --------------------------------------------------------------------------


def test_a_grader_failure_on_one_submission_costs_only_that_one(tmp_path, monkeypatch):
    for label in ("boom", "fine"):
        nbformat.write(_notebook(MASTERS, "03_mlp_backprop_by_hand"),
                       tmp_path / f"{label}_03_mlp_backprop_by_hand.ipynb")
    real = cw.grade_submission

    def fragile(path, label, *args):
        if label.startswith("boom"):
            raise RuntimeError("the grader tripped")
        return real(path, label, *args)

    monkeypatch.setattr(cw, "grade_submission", fragile)
    results = cw.grade(tmp_path, tmp_path / "out", jobs=1, echo=lambda *a: None)
    by_label = {r.submission: r for r in results}
    assert by_label["fine_03_mlp_backprop_by_hand.ipynb"].points == 10
    boom = by_label["boom_03_mlp_backprop_by_hand.ipynb"]
    assert boom.points == 0 and "the grader tripped" in " ".join(boom.notes)


@pytest.mark.parametrize("hidden", sorted((MASTERS / "tests").glob("*_hidden.py")),
                         ids=lambda p: p.stem)
def test_the_worker_keeps_only_the_probes_of_the_hidden_tests(hidden):
    spec = importlib.util.spec_from_file_location("hidden_probe_only", hidden)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    questions = module.QUESTIONS
    probes = worker._only_probes(module)
    assert probes == {q: v["probe"] for q, v in questions.items()}
    left = vars(module)
    assert "QUESTIONS" not in left
    grader_side = [v[k] for v in questions.values() for k in ("expect", "cases", "compare")
                   if k in v]
    kept = [v for v in left.values() if callable(v)]
    assert not [f for f in grader_side if any(f is k for k in kept)]
    del module, questions, grader_side, kept
    gc.collect()


def test_without_the_sandbox_the_grader_says_so_and_still_grades(tmp_path):
    nbformat.write(_notebook(MASTERS, "03_mlp_backprop_by_hand"),
                   tmp_path / "03_mlp_backprop_by_hand.ipynb")
    proc, seconds = _run(tmp_path, tmp_path / "out", "--no-sandbox", timeout=90)
    assert proc.returncode == 0, proc.stderr
    assert "sandbox of the workers: off: switched off by the grader's options" in proc.stdout
    assert _totals(tmp_path / "out")["03_mlp_backprop_by_hand.ipynb"] == 10


@needs_landlock
@pytest.mark.parametrize("where", ["the folder above the submissions", "/"])
def test_no_sandbox_that_would_let_the_workers_read_what_it_protects(tmp_path, where):
    # PYTHONPATH puts a folder holding the submissions (or the masters) on the workers' import
    # path, which the sandbox would let them read: it refuses, and says so, not pretend.
    subs = tmp_path / "submissions"
    subs.mkdir()
    nbformat.write(_notebook(MASTERS, "03_mlp_backprop_by_hand"),
                   subs / "03_mlp_backprop_by_hand.ipynb")
    path = "/" if where == "/" else os.path.realpath(tmp_path)
    proc, seconds = _run(subs, tmp_path / "out", timeout=90,
                         env=dict(os.environ, PYTHONPATH=path))
    assert proc.returncode == 0, proc.stderr
    held = MASTERS if where == "/" else subs
    assert f"sandbox of the workers: off: {path} would be readable and holds {held}" in proc.stdout
