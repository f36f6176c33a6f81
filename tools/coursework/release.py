"""The student release: every master notebook with its solutions stubbed out.

A master notebook ``assignments/NAME.ipynb`` holds the instructions, the solution between
``# BEGIN SOLUTION`` and ``# END SOLUTION`` lines, and public tests (cells tagged ``public-test``).
The release replaces each solution region by ``raise NotImplementedError(...)``, drops cells
tagged ``hidden-test``, clears outputs, and stamps the notebook's metadata with its assignment id
(``coursework.assignment``), which the grader matches before it looks at the file name.
"""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
ASSIGNMENTS = ROOT / "assignments"

BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
TEST_TAGS = {"public-test", "hidden-test"}   # cells the grader never runs
SKIP_TAGS = TEST_TAGS | {"no-grade"}          # plus demonstrations (training runs, plots)


class ReleaseError(ValueError):
    """A master notebook whose solution markers do not pair up."""


def strip_solutions(source: str, where: str = "cell") -> tuple[str, list[str]]:
    """Replace every BEGIN/END SOLUTION region of ``source`` with a stub.

    The stub is ``raise NotImplementedError(...)`` at the indentation of the BEGIN line, naming
    the function it sits in. Returns the new source and the removed lines.
    """
    out, removed, inside, scope = [], [], None, []
    for n, line in enumerate(source.splitlines(), 1):
        stripped = line.strip()
        if inside is None:
            if stripped.startswith(BEGIN):
                indent = line[: len(line) - len(line.lstrip())]
                label = _enclosing(scope, len(indent))
                out.append(f'{indent}raise NotImplementedError("{label}: your code here")')
                inside = n
                continue
            if stripped.startswith(END):
                raise ReleaseError(f"{where}, line {n}: {END} without a {BEGIN} above it")
            m = re.match(r"(\s*)(?:async\s+)?(def|class)\s+(\w+)", line)
            if m:
                scope.append((len(m.group(1)), m.group(3)))
            out.append(line)
        else:
            if stripped.startswith(BEGIN):
                raise ReleaseError(f"{where}, line {n}: nested {BEGIN} (the one at line "
                                   f"{inside} is still open)")
            if stripped.startswith(END):
                inside = None
                continue
            removed.append(line)
    if inside is not None:
        raise ReleaseError(f"{where}, line {inside}: {BEGIN} is never closed by {END}")
    return "\n".join(out), removed


def _enclosing(scope: list[tuple[int, str]], indent: int) -> str:
    """Dotted name of the def/class blocks that contain a line indented by ``indent``."""
    names, level = [], indent
    for ind, name in reversed(scope):
        if ind < level:
            names.append(name)
            level = ind
    return ".".join(reversed(names)) or "this cell"


def student_notebook(master: nbformat.NotebookNode, name: str = "notebook"):
    """The student version of a master: solutions stubbed, hidden-test cells dropped, outputs
    and execution counts cleared, the assignment id stamped in the metadata. Returns
    (notebook, removed solution lines)."""
    nb = copy.deepcopy(master)
    cells, removed = [], []
    for i, cell in enumerate(nb.cells):
        tags = set(cell.get("metadata", {}).get("tags", []))
        if "hidden-test" in tags:
            continue
        if cell.cell_type == "code":
            cell.source, gone = strip_solutions(cell.source, f"{name}, cell {i}")
            removed += gone
            cell.outputs, cell.execution_count = [], None
        elif BEGIN in cell.source:
            raise ReleaseError(f"{name}, cell {i}: solution markers in a {cell.cell_type} cell")
        cell.metadata.pop("execution", None)
        cells.append(cell)
    nb.cells = cells
    stem = Path(name).stem
    if name != "notebook":
        nb.metadata.setdefault("coursework", {})["assignment"] = stem
    return nb, removed


def release(out: Path, assignments: Path = ASSIGNMENTS) -> list[Path]:
    """Write the student notebook of every master in ``assignments`` into ``out``."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    written = []
    for master in masters(assignments):
        nb, _ = student_notebook(nbformat.read(master, as_version=4), master.name)
        path = out / master.name
        nbformat.write(nb, path)
        written.append(path)
    return written


def masters(assignments: Path = ASSIGNMENTS) -> list[Path]:
    return sorted(p for p in assignments.glob("*.ipynb") if not p.name.startswith("."))
