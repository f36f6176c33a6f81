"""The student's side: ``make check NOTEBOOK=path`` runs a notebook the way the grader will and
prints what would fail.

Two passes, each in a worker like the grader's (same matching, same limits, same layers where
the machine has them):

1. the cells the grader runs (all code cells but tests and ``no-grade`` demonstrations), with the
   assignment's blocked modules and switch-offs exactly as when grading: an error here is an
   error the grader meets (a blocked import, a name the hidden tests call that is missing);
2. every code cell in the notebook's order, public tests included, as in JupyterLab (public
   tests may compare with torch, which the graded cells may not use): a failing public test.

Cells are named as JupyterLab shows them (``code cell 2 under "1. Column sums"``).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

import isolation
from grading import Limits, Worker, WorkerLost, round_numbers
from matching import Submission, cell_labels, match, submission_cells
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
    t0 = time.monotonic()
    graded = [(label, src, "graded cell") for label, src in submission_cells(sub.notebook)]
    echo("1. the cells the grader runs, as it runs them:")
    failed, layers = _run(graded, hidden if hidden.exists() else None, limits, echo)
    cells = []
    for cell, label in zip(sub.notebook.cells, cell_labels(sub.notebook)):
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell.cell_type == "code" and cell.source.strip() and "hidden-test" not in tags:
            cells.append((label, cell.source, "public test" if "public-test" in tags else
                          "demonstration" if tags & SKIP_TAGS else "graded cell"))
    echo("2. the whole notebook in order, public tests included:")
    more, _ = _run(cells, None, limits, echo, only="public test")
    failed += more
    echo(f"{'all public tests pass' if not failed else f'{failed} cell(s) would fail'} "
         f"({time.monotonic() - t0:.1f} s; isolation: {layers}). The hidden tests use other "
         "inputs: passing the public ones is necessary, not sufficient.")
    return 1 if failed else 0


def _run(cells, hidden, limits, echo, only=None) -> tuple[int, str]:
    """Run ``cells`` (label, source, kind) in one worker; report those of kind ``only`` (all
    if None). Returns the number that failed and the worker's isolation."""
    failed = 0
    with tempfile.TemporaryDirectory(prefix="check-", dir=isolation.workdir_base()) as tmp:
        try:
            worker = Worker(hidden, Path(tmp), limits, limits.cell_timeout + 30)
        except (WorkerLost, isolation.SandboxError) as e:
            echo(f"FAIL  the worker did not start: {e}")
            return 1, "none"
        deadline = time.monotonic() + limits.notebook_timeout
        try:
            for label, src, kind in cells:
                shown = only is None or kind == only
                left = deadline - time.monotonic()
                try:
                    if left <= 0:
                        raise WorkerLost(f"the notebook's cells took more than "
                                         f"{limits.notebook_timeout:g} s together", True)
                    r = worker.request({"cmd": "exec", "code": src, "label": label},
                                       min(limits.cell_timeout, left))
                except WorkerLost as e:
                    echo(f"FAIL  {label} ({kind}): {e}")
                    return failed + 1, worker.isolation
                if r.get("ok"):
                    if shown:
                        echo(f"ok    {label} ({kind})")
                elif shown:
                    failed += 1
                    echo(f"FAIL  {label} ({kind}): {round_numbers(str(r.get('error')))[:1000]}")
        finally:
            worker.kill()
    return failed, worker.isolation
