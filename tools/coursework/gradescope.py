"""Gradescope: one autograder zip per assignment, in the format Gradescope documents for its
"Autograder" assignments, and the command its container runs.

The zip holds ``setup.sh`` (installs Python, the course's packages and dagprop while the image
is built), ``run_autograder`` (grades ``/autograder/submission/`` and writes
``/autograder/results/results.json``), the grader, the engine, and the assignment's master and
hidden tests. Gradescope unpacks it into ``/autograder/source`` and runs everything as root, so
each worker gets the uid layer: a uid of its own in a mount namespace where
``/autograder/source/assignments`` (master and hidden tests), the submission and the results
folder are covered, plus Landlock where the host kernel has it.

``COURSEWORK_AUTOGRADER_ROOT`` moves ``/autograder`` elsewhere and ``COURSEWORK_PYTHON`` names the
interpreter (both for a local test of the zip); neither changes the isolation.
"""

from __future__ import annotations

import json
import stat
import time
import zipfile
from pathlib import Path

from release import ASSIGNMENTS, ROOT, masters

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder's image (Ubuntu).
set -euo pipefail
apt-get update
apt-get install -y --no-install-recommends python3 python3-pip python3-venv graphviz
python3 -m venv /opt/coursework
/opt/coursework/bin/pip install --no-cache-dir -r /autograder/source/requirements.txt
/opt/coursework/bin/pip install --no-cache-dir /autograder/source/code
"""

RUN = """#!/usr/bin/env bash
# Gradescope runs this (as root) for every submission: it grades /autograder/submission/ and
# writes /autograder/results/results.json.
ROOT="${{COURSEWORK_AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{COURSEWORK_PYTHON:-/opt/coursework/bin/python}}"
exec "$PYTHON" "$ROOT/source/tools/coursework/coursework.py" gradescope-run --root "$ROOT" \\
    --assignment {name}
"""

REQUIREMENTS = """numpy
nbformat
matplotlib
graphviz
--extra-index-url https://download.pytorch.org/whl/cpu
torch
"""


def _add(z: zipfile.ZipFile, path: Path, arcname: str, executable: bool = False) -> None:
    info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    z.writestr(info, path.read_bytes() if isinstance(path, Path) else path)


def build(out: Path, assignments: Path = ASSIGNMENTS) -> list[Path]:
    """Write ``out/NAME_gradescope.zip`` for every master in ``assignments``."""
    out.mkdir(parents=True, exist_ok=True)
    tool = Path(__file__).resolve().parent
    engine = ROOT / "code"
    written = []
    for master in masters(assignments):
        name = master.stem
        zpath = out / f"{name}_gradescope.zip"
        with zipfile.ZipFile(zpath, "w") as z:
            _add(z, SETUP.encode(), "setup.sh", True)
            _add(z, RUN.format(name=name).encode(), "run_autograder", True)
            _add(z, REQUIREMENTS.encode(), "requirements.txt")
            for f in sorted(tool.glob("*.py")):
                _add(z, f, f"tools/coursework/{f.name}")
            _add(z, master, f"assignments/{master.name}")
            _add(z, assignments / "tests" / f"{name}_hidden.py",
                 f"assignments/tests/{name}_hidden.py")
            for f in sorted(engine.rglob("*")):
                if f.is_file() and "__pycache__" not in f.parts and ".egg-info" not in str(f):
                    _add(z, f, f"code/{f.relative_to(engine).as_posix()}")
        written.append(zpath)
    return written


def run(root: Path, name: str) -> int:
    """Grade the submission under ``root`` (Gradescope's /autograder) and write results.json."""
    from grading import Limits, SandboxError, grade

    t0 = time.monotonic()
    source, submission, results = root / "source", root / "submission", root / "results"
    results.mkdir(parents=True, exist_ok=True)
    report = {"score": 0.0, "tests": [], "stdout_visibility": "hidden"}
    try:
        private = [results] + [p for p in [root / "submission_metadata.json"] if p.exists()]
        graded = grade(submission, None, 1, Limits(), source / "assignments",
                       echo=lambda *a: None, protect=private)
    except SandboxError as e:
        report["output"] = ("The autograder could not isolate your notebook, so it graded "
                            "nothing; your instructor can see why in the autograder's log.")
        print(f"refusing to grade: {e}")
        _write(results, report, t0)
        return 0
    mine = [r for r in graded if r.status == "graded" and r.assignment == name]
    if not mine:
        found = ", ".join(r.submission for r in graded) or "no notebook"
        report["output"] = (f"No notebook for {name} was found in your submission ({found}). "
                            f"Upload the notebook the course handed out, {name}.ipynb.")
        _write(results, report, t0)
        return 0
    best = max(mine, key=lambda r: r.points)
    report["score"] = best.points
    for q in best.questions:
        report["tests"].append({
            "name": q.title, "number": q.question, "score": q.points,
            "max_score": q.max_points, "visibility": "visible",
            "output": "passed" if q.status == "passed" else
                      f"{q.status}:\n" + "\n".join(f"- {m}" for m in q.messages[:3])})
    notes = [f"Graded {best.submission}."] + [f"- {n}" for n in best.notes]
    report["output"] = "\n".join(notes)
    print(f"isolation: {best.isolation}; seed {best.seed}")
    _write(results, report, t0)
    return 0


def _write(results: Path, report: dict, t0: float) -> None:
    report["execution_time"] = round(time.monotonic() - t0, 1)
    (results / "results.json").write_text(json.dumps(report, indent=1))
