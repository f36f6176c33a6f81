"""Coursework tools for the course's programming assignments: release, grading, the student's
check, and the bridges to Gradescope and Canvas.

    python tools/coursework/coursework.py student [--out _build/student]
    python tools/coursework/coursework.py grade PATH [--out _build/grades] [--jobs N] [--seed N]
    python tools/coursework/coursework.py check NOTEBOOK          (the student's side)
    python tools/coursework/coursework.py gradescope [--out _build/gradescope]
    python tools/coursework/coursework.py canvas --roster ROSTER.csv [--grades _build/grades]
    python tools/coursework/coursework.py report [--grades _build/grades]
    python tools/coursework/coursework.py execute [NAME ...]   (re-run masters, store outputs)

The pieces: release.py (the student release), matching.py (which files, which assignment),
grading.py (hidden tests, inputs, scores), supervisor.py (a worker seen from the grader),
worker.py and sandbox.py (the worker and the layers that lock it in), isolation.py (the
grader's side of those layers), export.py (CSV, feedback,
run log, Canvas), gradescope.py, report.py, check.py. See tools/coursework/README.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the modules next to this one

import nbformat  # noqa: E402

from export import canvas, feedback, write_reports  # noqa: E402,F401
from grading import (Assignment, Limits, SandboxError, Worker, WorkerLost,  # noqa: E402,F401
                     grade, grade_submission, load_assignments, question_rng, round_numbers)
from matching import (MAX_NOTEBOOK, feedback_name, find_submissions,  # noqa: E402,F401
                      match_assignment, submission_cells)
from release import (ASSIGNMENTS, BEGIN, END, ROOT, ReleaseError, masters,  # noqa: E402,F401
                     release, strip_solutions, student_notebook)

HERE = Path(__file__).resolve().parent
LAYERS = ("landlock", "uid", "cgroup")


# --- executing the masters ------------------------------------------------------------------------


def execute_masters(names: list[str], assignments: Path = ASSIGNMENTS) -> None:
    """Run master notebooks top to bottom and store their outputs (for the instructor)."""
    from nbclient import NotebookClient
    for master in masters(assignments):
        if names and master.stem not in names:
            continue
        nb = nbformat.read(master, as_version=4)
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(assignments)}}).execute()
        for cell in nb.cells:
            cell.metadata.pop("execution", None)
            if cell.cell_type == "code":
                cell.outputs = _coalesce(cell.outputs)
        nbformat.write(nb, master)
        print(f"executed {master.name}")


def _coalesce(outputs):
    """Merge consecutive stream outputs, so a stored notebook does not depend on when the
    kernel flushed its prints."""
    merged = []
    for out in outputs:
        if (merged and out.output_type == "stream" and merged[-1].output_type == "stream"
                and merged[-1].name == out.name):
            merged[-1].text += out.text
        else:
            merged.append(out)
    return merged


def _limit_options(g) -> None:
    g.add_argument("--timeout", type=float, default=Limits.timeout, help="seconds per question")
    g.add_argument("--cell-timeout", type=float, default=Limits.cell_timeout,
                   help="seconds per notebook cell")
    g.add_argument("--notebook-timeout", type=float, default=Limits.notebook_timeout,
                   help="seconds for all cells of a notebook together")
    g.add_argument("--budget", type=float, default=Limits.budget,
                   help="seconds for one notebook, everything included (default 300)")
    g.add_argument("--memory-mb", type=int, default=Limits.memory_mb)


def _limits(args, **kw) -> Limits:
    return Limits(timeout=args.timeout, cell_timeout=args.cell_timeout,
                  notebook_timeout=args.notebook_timeout, memory_mb=args.memory_mb,
                  budget=args.budget, **kw)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="coursework", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("student", help="write the student release")
    s.add_argument("--out", type=Path, default=ROOT / "_build" / "student")
    g = sub.add_parser("grade", help="grade a notebook or a folder of notebooks")
    g.add_argument("path", type=Path)
    g.add_argument("--out", type=Path, default=ROOT / "_build" / "grades")
    g.add_argument("--jobs", type=int, default=None, help="parallel workers (default: cores)")
    g.add_argument("--seed", type=int, default=None,
                   help="seed of the hidden inputs (default: a new one, recorded in grades.csv "
                        "and runs.jsonl; pass it again to regrade with the same inputs)")
    g.add_argument("--no-sandbox", dest="sandbox", action="store_false",
                   help="grade without isolation (submissions can read the masters and hidden "
                        "tests); every row of grades.csv then says so")
    g.add_argument("--without", action="append", choices=LAYERS, default=[],
                   help="switch one layer off, to see that the others hold (repeatable)")
    _limit_options(g)
    c = sub.add_parser("check", help="run a notebook's public tests as the grader would")
    c.add_argument("notebook", type=Path)
    _limit_options(c)
    gs = sub.add_parser("gradescope", help="write one Gradescope autograder zip per assignment")
    gs.add_argument("--out", type=Path, default=ROOT / "_build" / "gradescope")
    gr = sub.add_parser("gradescope-run", help="(inside Gradescope's container) grade "
                                               "/autograder/submission")
    gr.add_argument("--root", type=Path, default=Path("/autograder"))
    gr.add_argument("--assignment", required=True)
    cv = sub.add_parser("canvas", help="a Canvas gradebook CSV from totals.csv and a roster")
    cv.add_argument("--roster", type=Path, required=True)
    cv.add_argument("--grades", type=Path, default=ROOT / "_build" / "grades")
    cv.add_argument("--out", type=Path, default=None)
    rp = sub.add_parser("report", help="the class report: _build/grades/report.html")
    rp.add_argument("--grades", type=Path, default=ROOT / "_build" / "grades")
    e = sub.add_parser("execute", help="run master notebooks and store their outputs")
    e.add_argument("names", nargs="*")
    for q in (s, g, c, gs, cv, e):
        q.add_argument("--assignments", type=Path, default=ASSIGNMENTS)
    args = p.parse_args(argv)
    if args.cmd == "student":
        for path in release(args.out, args.assignments):
            print(f"wrote {path}")
    elif args.cmd == "grade":
        return _grade(args)
    elif args.cmd == "check":
        import check
        return check.check(args.notebook, args.assignments, _limits(args))
    elif args.cmd == "gradescope":
        import gradescope
        for path in gradescope.build(args.out, args.assignments):
            print(f"wrote {path}")
    elif args.cmd == "gradescope-run":
        import gradescope
        return gradescope.run(args.root, args.assignment)
    elif args.cmd == "canvas":
        out, warnings = canvas(args.grades / "totals.csv", args.roster,
                               args.out or args.grades / "canvas.csv",
                               [m.stem for m in masters(args.assignments)])
        for w in warnings:
            print(f"warning: {w}")
        print(f"wrote {out} (Canvas: Grades > Import)")
    elif args.cmd == "report":
        import report
        print(f"wrote {report.build(args.grades)}")
    else:
        execute_masters(args.names, args.assignments)
    return 0


def _grade(args) -> int:
    t0 = time.monotonic()
    limits = _limits(args, sandbox=args.sandbox, require=args.sandbox,
                     without=tuple(args.without))
    try:
        results = grade(args.path, args.out, args.jobs, limits, args.assignments,
                        seed=args.seed)
    except SandboxError as e:
        print(f"refusing to grade: {e}", file=sys.stderr)
        return 2
    if not args.sandbox:
        for r in results:
            r.isolation = "OFF (--no-sandbox)"
    seeds = sorted({r.seed for r in results if r.seed is not None})
    seconds = time.monotonic() - t0
    write_reports(results, args.out, run={
        "path": str(args.path.resolve()), "seed": seeds[0] if seeds else args.seed,
        "graded": sum(r.status == "graded" for r in results),
        "unmatched": sum(r.status == "unmatched" for r in results),
        "skipped": sum(r.status == "skipped" for r in results),
        "isolation": sorted({r.isolation for r in results if r.isolation}),
        "options": {k: v for k, v in vars(args).items()
                    if k in ("jobs", "timeout", "cell_timeout", "notebook_timeout", "budget",
                             "memory_mb", "sandbox", "without")},
        "seconds": round(seconds, 1)})
    print(f"graded {sum(r.status == 'graded' for r in results)} submission(s) in "
          f"{seconds:.1f} s (seed {seeds[0] if seeds else '-'}); wrote "
          f"{args.out / 'grades.csv'} and {args.out / 'feedback'}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
