"""Which files are submissions, which assignment each answers, and how its cells are named.

Only regular files are opened: a FIFO would block the grader on ``open``, a device could be
endless, and a link inside a folder of submissions could point at a master or at someone else's
work. A notebook is matched by the assignment id the release stamps into its metadata
(``coursework.assignment``) first, by its file name second; a notebook matching neither gets a
row with status ``unmatched``.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import nbformat

from release import SKIP_TAGS

MAX_NOTEBOOK = 64 * 2**20  # bytes of a submitted notebook, outputs and pictures included


@dataclass
class Submission:
    path: Path
    label: str                  # the path relative to the folder graded (or the file name)
    skip: str = ""              # why it is not graded at all (not a regular file)
    assignment: str | None = None
    unmatched: str = ""         # why no assignment was found
    notebook: object = None
    error: str = ""             # why it could not be read


def find_submissions(path: Path) -> list[Submission]:
    """Every ``.ipynb`` at ``path`` (a file or a folder, not following linked folders), with
    the reason it is skipped if it is not a regular file."""
    if path.is_symlink() and path.is_file():  # named on the command line: the instructor's own
        return [Submission(path, path.name)]
    if path.exists() and not path.is_dir():
        return [Submission(path, path.name, skip=_not_regular(path))]
    if not path.is_dir():
        raise FileNotFoundError(f"no notebook or folder at {path}")
    found = []
    for folder, dirs, names in os.walk(path):  # does not descend into linked folders
        dirs[:] = [d for d in dirs if d != ".ipynb_checkpoints"]
        for d in dirs:
            if Path(folder, d).is_symlink():
                found.append(Path(folder, d))
        found += [Path(folder, n) for n in names if n.endswith(".ipynb")]
    subs = []
    for p in sorted(found):
        label = p.relative_to(path).as_posix()
        subs.append(Submission(p, label, skip=_not_regular(p)))
    return subs


def _not_regular(p: Path) -> str:
    try:
        mode = os.lstat(p).st_mode
    except OSError as e:
        return f"it cannot be examined ({e.strerror})"
    if stat.S_ISLNK(mode):
        return "a symbolic link (copy the notebook itself into the folder)"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not a notebook file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a notebook file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a notebook file"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    return ""


def read_notebook(path: Path, follow: bool = False):
    """Parse a notebook, opening it only if it is a regular file of at most MAX_NOTEBOOK bytes
    (checked on the open file, so it cannot be swapped for a FIFO in between)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow else os.O_NOFOLLOW)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("not a regular file")
        if st.st_size > MAX_NOTEBOOK:  # parsed, it would take ten times as much
            raise ValueError(f"larger than {MAX_NOTEBOOK // 2**20} MB")
        data = f.read(MAX_NOTEBOOK + 1)
    if len(data) > MAX_NOTEBOOK:
        raise ValueError(f"larger than {MAX_NOTEBOOK // 2**20} MB")
    return nbformat.reads(data.decode("utf-8"), as_version=4)


def match_assignment(path: Path, names, nb=None) -> str | None:
    """The assignment a submission answers: the id in its metadata if it names one, else the
    longest assignment name in its file name."""
    stamped = None
    if nb is not None:
        stamped = (nb.get("metadata", {}).get("coursework") or {}).get("assignment")
    if isinstance(stamped, str) and stamped in names:
        return stamped
    hits = [n for n in names if n in Path(path).stem]
    return max(hits, key=len) if hits else None


def match(sub: Submission, names, follow: bool = False) -> Submission:
    """Read and match one submission (in place)."""
    if sub.skip:
        return sub
    try:
        sub.notebook = read_notebook(sub.path, follow)
    except Exception as e:  # noqa: BLE001 - any unreadable file scores zero with a reason
        sub.error = f"the notebook could not be read: {type(e).__name__}: {e}"
    sub.assignment = match_assignment(sub.path, names, sub.notebook)
    if sub.assignment is None:
        sub.unmatched = ("neither its metadata (coursework.assignment) nor its file name names "
                         f"an assignment ({', '.join(names)})")
    return sub


def _heading(cell) -> str | None:
    for line in cell.source.splitlines():
        m = re.match(r"\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            return m.group(1).strip()
    return None


def cell_labels(nb) -> list[str]:
    """A name for every cell as a student finds it in JupyterLab: the heading it sits under
    and its place among the code cells there (``code cell 2 under "1. Topological order"``)."""
    labels, heading, k = [], None, 0
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            h = _heading(cell)
            if h:
                heading, k = h[:60], 0
            labels.append("")
            continue
        k += 1
        where = f'under "{heading}"' if heading else "at the top of the notebook"
        labels.append(f"code cell {k} {where}")
    return labels


def submission_cells(nb, tags=None) -> list[tuple[str, str]]:
    """(label, source) of the code cells the grader runs: all but test and demo cells; with
    ``tags``, only the cells carrying one of them (the public tests, for ``check``)."""
    cells = []
    for cell, label in zip(nb.cells, cell_labels(nb)):
        have = set(cell.get("metadata", {}).get("tags", []))
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        if (have & tags) if tags else not have & SKIP_TAGS:
            cells.append((label, cell.source))
    return cells


def feedback_name(label: str) -> str:
    """The feedback file of a submission: its label with ``%`` and ``/`` escaped, so that no
    two labels share a file (``alice/x.ipynb`` and ``alice__x.ipynb`` used to)."""
    stem = re.sub(r"\.ipynb$", "", label)
    return stem.replace("%", "%25").replace("/", "%2F") + ".md"
