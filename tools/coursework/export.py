"""What a grading run leaves behind: grades.csv, totals.csv, one feedback file per submission
and a log of runs, merged with what earlier runs wrote (grading one student again leaves the
others' grades and feedback as they were); and the Canvas gradebook export.

Every text cell of a CSV is escaped against formula injection: a cell starting with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return gets a leading apostrophe, so a spreadsheet shows
it as text instead of running it.
"""

from __future__ import annotations

import csv
import datetime
import json
import os
from pathlib import Path

from matching import feedback_name

GRADES = ["submission", "assignment", "question", "points", "max_points", "status", "message",
          "seed", "isolation", "file", "graded_at"]
TOTALS = ["submission", "assignment", "points", "max_points", "status", "seconds", "seed",
          "isolation", "file", "graded_at"]


def escape(value) -> str:
    """A CSV cell a spreadsheet shows as text (OWASP's advice on CSV injection)."""
    s = str(value)
    return "'" + s if s[:1] in ("=", "+", "-", "@", "\t", "\r") else s


def _key(row: dict) -> str:
    return row.get("file") or row.get("submission", "")


def _read(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _merge(path: Path, columns: list, new_rows: list[dict], replaced: set) -> None:
    """Rewrite ``path``: the rows of earlier runs whose submission was not graded now, then
    the new rows (escaped), atomically."""
    old = [r for r in _read(path) if _key(r) not in replaced]
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, columns, extrasaction="ignore")
        w.writeheader()
        for r in old:
            w.writerow({c: r.get(c, "") for c in columns})
        for r in new_rows:
            w.writerow({c: escape(r.get(c, "")) for c in columns})
    os.replace(tmp, path)


def write_reports(results, out: Path, run: dict | None = None) -> None:
    """Merge ``results`` into ``out``: grades.csv, totals.csv, feedback/ and runs.jsonl."""
    out.mkdir(parents=True, exist_ok=True)
    fb = out / "feedback"
    fb.mkdir(exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    # a notebook graded again keeps the label an earlier run gave it (graded alone, it is
    # labelled by its file name; in its class folder, by its path there)
    known = {row["file"]: row["submission"].removeprefix("'")
             for row in _read(out / "totals.csv") if row.get("file")}
    for r in results:
        r.submission = known.get(r.file, r.submission)
    grades, totals, replaced = [], [], set()
    for r in results:
        replaced |= {r.file, r.submission}
        common = {"submission": r.submission, "assignment": r.assignment, "file": r.file,
                  "seed": "" if r.seed is None else r.seed, "graded_at": now,
                  "isolation": r.isolation}
        if r.status != "graded":
            grades.append({**common, "question": "", "points": "0", "max_points": "0",
                           "status": r.status, "message": (r.notes or [""])[0][:300]})
        for q in r.questions:
            msg = q.messages[0] if q.messages else ""
            grades.append({**common, "question": q.question, "points": f"{q.points:g}",
                           "max_points": f"{q.max_points:g}", "status": q.status,
                           "message": msg[:300]})
        totals.append({**common, "points": f"{r.points:g}", "max_points": f"{r.max_points:g}",
                       "status": r.status, "seconds": f"{r.seconds:.1f}"})
        if r.status == "graded":
            (fb / feedback_name(r.submission)).write_text(feedback(r))
    _merge(out / "grades.csv", GRADES, grades, replaced)
    _merge(out / "totals.csv", TOTALS, totals, replaced)
    if run is not None:
        with open(out / "runs.jsonl", "a") as f:
            f.write(json.dumps({"time": now, **run}) + "\n")


def feedback(r) -> str:
    """The feedback a student reads: the score, each question, and why a question failed."""
    lines = [f"# Feedback on {r.submission}", "",
             f"Assignment `{r.assignment}`: **{r.points:g} / {r.max_points:g} points**.", "",
             "| question | points | result |", "| --- | --- | --- |"]
    for q in r.questions:
        lines.append(f"| {q.title} | {q.points:g} / {q.max_points:g} | {q.status} |")
    for q in r.questions:
        if q.status == "passed":
            continue
        lines += ["", f"## {q.title}: {q.status}", ""]
        shown = q.messages[:3]
        lines += [f"- {m}" for m in shown]
        if len(q.messages) > len(shown):
            lines.append(f"- ... and {len(q.messages) - len(shown)} more failing cases")
    if r.notes:
        lines += ["", "## While running your notebook", ""]
        lines += [f"- {n}" for n in r.notes]
        lines += ["", ("The grader runs every code cell except test cells and cells tagged "
                       "`no-grade`; an error in a cell costs nothing by itself, but functions "
                       "it should have defined are then missing.")]
    return "\n".join(lines) + "\n"


# --- Canvas -----------------------------------------------------------------------------------

CANVAS_ID_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


def canvas(totals: Path, roster: Path, out: Path, names: list[str]) -> tuple[Path, list[str]]:
    """A gradebook CSV Canvas imports (Grades > Import): the roster's identity columns, then
    one column of points per assignment.

    The roster is a CSV with Canvas's identity columns (as its gradebook export has them: at
    least ``Student`` and ``ID``) and a ``submission`` column: the folder or file-name prefix of
    that student's submissions (``alice`` matches ``alice/01_local_gradients.ipynb`` and
    ``alice_01_local_gradients.ipynb``). Returns the file and the warnings (students without a
    submission, submissions without a student)."""
    rows = _read(totals)
    students = _read(roster)
    if not students or "submission" not in students[0] or "ID" not in students[0]:
        raise ValueError(f"{roster}: a roster needs the columns Student, ID and submission")
    ids = ["Student"] + [c for c in CANVAS_ID_COLUMNS[1:] if c in students[0]]
    warnings, used = [], set()
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(ids + names)
        # the row Canvas reads the points possible from (its own exports have one)
        w.writerow(["    Points Possible"] + [""] * (len(ids) - 1)
                   + [_points_possible(rows, n) for n in names])
        for s in students:
            key = s["submission"].strip()
            mine = [r for r in rows if key and _owns(key, r["submission"])
                    and r.get("status", "graded") == "graded"]
            used |= {r["submission"] for r in mine}
            scores = []
            for n in names:
                got = [float(r["points"]) for r in mine if r["assignment"] == n]
                scores.append(f"{max(got):g}" if got else "")
            if not mine:
                warnings.append(f"{s.get('Student', key)}: no graded submission")
            w.writerow([escape(s.get(c, "")) for c in ids] + scores)
    for r in rows:
        if r["submission"] not in used and r.get("status", "graded") == "graded":
            warnings.append(f"{r['submission']}: no student in the roster")
    return out, warnings


def _points_possible(rows, name) -> str:
    got = [float(r["max_points"]) for r in rows if r["assignment"] == name]
    return f"{max(got):g}" if got else ""


def _owns(key: str, label: str) -> bool:
    label = label.lstrip("'")
    first = label.split("/", 1)[0]
    return first == key or (("/" not in label) and label.startswith(key + "_"))
