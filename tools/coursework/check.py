"""The student's side: ``make check NOTEBOOK=path`` runs a notebook's public tests the way the
grader runs a submission (the same matching, the same worker with the same blocked modules and
switch-offs, the same limits), and prints what would fail.

The grader runs every code cell but the test and ``no-grade`` cells; here the cells run in the
notebook's order, public tests and demonstrations included (a public test may use what a
demonstration computed), and each is reported under the name JupyterLab shows it by.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

import isolation
from grading import Limits, Worker, WorkerLost, round_numbers
from matching import Submission, cell_labels, match
from release import ASSIGNMENTS, SKIP_TAGS, masters


def check(notebook: Path, assignments: Path = ASSIGNMENTS, limits: Limits | None = None,
          echo=print) -> int:
    """0 if every public test passes and every graded cell runs, 1 otherwise, 2 if the
    notebook cannot be checked at all."""
    names = [m.stem for m in masters(assignments)] if assignments.is_dir() else []
    sub = match(Submission(notebook, notebook.name), names, follow=True)
    if sub.error:
        echo(f"cannot check {notebook}: {sub.error}")
        return 2
    if sub.assignment is None:
        echo(f"the grader would not grade {notebook}: {sub.unmatched}")
        return 2
    hidden = assignments / "tests" / f"{sub.assignment}_hidden.py"
    # the same layers as the grader, but a student's own machine need not offer them
    limits = dataclasses.replace(limits or Limits(), require=False,
                                 protect=(notebook.resolve(),)).setup()
    echo(f"checking {notebook} as assignment {sub.assignment}")
    failed, t0 = 0, time.monotonic()
    with tempfile.TemporaryDirectory(prefix="check-", dir=isolation.workdir_base()) as tmp:
        try:
            worker = Worker(hidden if hidden.exists() else None, Path(tmp), limits,
                            limits.cell_timeout + 30)
        except (WorkerLost, isolation.SandboxError) as e:
            echo(f"the worker did not start: {e}")
            return 2
        deadline = t0 + limits.notebook_timeout
        try:
            for cell, label in zip(sub.notebook.cells, cell_labels(sub.notebook)):
                tags = set(cell.get("metadata", {}).get("tags", []))
                if cell.cell_type != "code" or not cell.source.strip() or "hidden-test" in tags:
                    continue
                kind = ("public test" if "public-test" in tags else
                        "demonstration (the grader skips it)" if tags & SKIP_TAGS else
                        "graded cell")
                left = deadline - time.monotonic()
                try:
                    if left <= 0:
                        raise WorkerLost(f"the notebook's cells took more than "
                                         f"{limits.notebook_timeout:g} s together", True)
                    r = worker.request({"cmd": "exec", "code": cell.source, "label": label},
                                       min(limits.cell_timeout, left))
                except WorkerLost as e:
                    echo(f"FAIL  {label} ({kind}): {e}")
                    failed += 1
                    break
                if r.get("ok"):
                    echo(f"ok    {label} ({kind})")
                elif "demonstration" not in kind:
                    failed += 1
                    echo(f"FAIL  {label} ({kind}): {round_numbers(str(r.get('error')))[:1000]}")
                else:
                    echo(f"note  {label} ({kind}): {str(r.get('error'))[:300]}")
        finally:
            worker.kill()
    echo(f"{'all public tests pass' if not failed else f'{failed} cell(s) would fail'} "
         f"({time.monotonic() - t0:.1f} s; isolation: {worker.isolation}). The hidden tests use "
         "other inputs: passing the public ones is necessary, not sufficient.")
    return 1 if failed else 0
