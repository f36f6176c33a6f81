"""The exercises render on the website, and the students' edition (make book-students) has none of
their solutions: neither the solution boxes nor the text of any solution's code."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html" / "chapters"
STUDENTS = ROOT / "_build" / "students" / "_build" / "html" / "chapters"


def _numbered_chapters() -> list[Path]:
    """The chapters of the numbered part of _toc.yml: each ends with exercises (the appendix,
    optional reading, has none)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [c["file"] for part in toc.get("parts", []) if part.get("numbered")
             for c in part["chapters"]]
    return [ROOT / f"{f}.ipynb" for f in files]


CHAPTERS = _numbered_chapters()


def page_text(path: Path) -> str:
    """The page's text with tags removed, as a reader (or a search) would see it."""
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8")))


def solution_code_lines(nb_path: Path) -> list[str]:
    """Distinctive lines of code found only in the cells between {solution-start} and
    {solution-end}, not anywhere else in the chapter."""
    cells = json.loads(nb_path.read_text(encoding="utf-8"))["cells"]
    inside, in_solutions, elsewhere = False, [], []
    for cell in cells:
        src = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and "{solution-start}" in src:
            inside = True
        elif cell["cell_type"] == "markdown" and "{solution-end}" in src:
            inside = False
        lines = [ln.strip() for ln in src.splitlines()]
        if inside and cell["cell_type"] == "code":
            in_solutions += [ln for ln in lines if len(ln) > 25 and not ln.startswith("#")]
        else:
            elsewhere.append(" ".join(src.split()))
    rest = "\n".join(elsewhere)
    return [ln for ln in in_solutions if " ".join(ln.split()) not in rest]


def _built(path: Path, how: str):
    if not path.exists():
        pytest.fail(f"{path} is missing: run `{how}` first (make test does)")


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.stem)
def test_exercises_and_solutions_render_on_the_website(nb):
    page = SITE / f"{nb.stem}.html"
    _built(page, "make book")
    source = page.read_text(encoding="utf-8")
    n_ex = len(re.findall(r'class="exercise admonition', source))
    assert 4 <= n_ex <= 6, f"{nb.stem}: expected 4-6 exercises on the page, found {n_ex}"
    assert len(re.findall(r'class="solution dropdown admonition', source)) == n_ex
    text = page_text(page)
    lines = solution_code_lines(nb)
    assert lines, f"{nb.stem}: no solution code found between solution-start and solution-end"
    assert all(ln in text for ln in lines), "solution code is missing from the website"


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.stem)
def test_students_edition_has_exercises_but_no_solutions(nb):
    page = STUDENTS / f"{nb.stem}.html"
    _built(page, "make book-students")
    source = page.read_text(encoding="utf-8")
    assert len(re.findall(r'class="exercise admonition', source)) >= 4
    assert "solution" not in re.findall(r'class="([^"]*)"', source).__str__(), \
        f"{nb.stem}: a solution box is left in the students' edition"
    text = page_text(page)
    leaked = [ln for ln in solution_code_lines(nb) if ln in text]
    assert not leaked, f"{nb.stem}: solution code leaked into the students' edition: {leaked[:3]}"
