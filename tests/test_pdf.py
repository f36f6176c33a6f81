"""The PDF edition (`make pdf`) holds the whole course, typeset, with page numbers.

Run after `make pdf`. Poppler's pdftotext and pdftoppm (Debian's poppler-utils, installed by
`make pdf`) read the file as a reader's viewer would. Outside CI the checks skip when the PDF or
poppler is missing; with CI=true they fail instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PDF = ROOT / "_build" / "pdf" / "backprop-in-dags.pdf"
IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def _need(condition: bool, why: str) -> None:
    if not condition:
        if IN_CI:
            pytest.fail(why)
        pytest.skip(why)


@pytest.fixture(scope="module")
def pages() -> list[str]:
    """The text of every page, in order."""
    _need(PDF.exists(), "the PDF edition is not built: run `make pdf` first")
    _need(shutil.which("pdftotext") is not None, "pdftotext is missing (Debian: poppler-utils)")
    text = subprocess.run(["pdftotext", "-layout", str(PDF), "-"], check=True,
                          capture_output=True, text=True).stdout
    return text.split("\f")[:-1] if text.endswith("\f") else text.split("\f")


def _chapter_titles() -> list[str]:
    """The title of every chapter listed in _toc.yml: the first '# ' heading of its notebook."""
    import json

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [c["file"] for c in toc.get("chapters", [])]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part.get("chapters", [])]
    titles = []
    for f in files:
        nb = json.loads((ROOT / f"{f}.ipynb").read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            m = re.search(r"^# (.+)$", "".join(cell["source"]), re.MULTILINE)
            if cell["cell_type"] == "markdown" and m:
                titles.append(m.group(1).strip())
                break
    return titles


def test_every_chapter_is_in_the_pdf_and_in_its_contents(pages):
    text = "\n".join(pages)
    contents = pages[0] + pages[1] if len(pages) > 1 else pages[0]
    assert "Contents" in contents
    for title in _chapter_titles():
        words = re.sub(r"\s+", " ", title)
        assert words in re.sub(r"\s+", " ", contents), f"'{title}' is not in the table of contents"
        # The chapter itself starts later, on a page of its own.
        later = [i for i, p in enumerate(pages[2:], start=2) if words in re.sub(r"\s+", " ", p)]
        assert later, f"chapter '{title}' is not in the PDF's text"
    assert len(pages) > 40, f"only {len(pages)} pages: a chapter is missing"
    assert text.count("Exercise") >= 4


def test_pages_are_numbered(pages):
    total = len(pages)
    for i in (0, total // 2, total - 1):
        assert re.search(rf"page {i + 1} of {total}\b", pages[i]), f"page {i + 1} has no number"


def test_no_raw_tex_is_left(pages):
    text = "\n".join(pages)
    # Sphinx writes math between \( \) and \[ \] for MathJax; the delimiters, or an environment,
    # left in the text mean MathJax did not typeset it. (Code may contain TeX in strings, as a plot
    # title does; it has no such delimiters.)
    raw = re.findall(r"\\[()\[\]]|\\begin\{|\$\$", text)
    assert not raw, f"untypeset TeX in the PDF: {sorted(set(raw))}"


def _ink(pgm: bytes) -> float:
    """Share of dark pixels of a binary PGM image (what `pdftoppm -gray` writes)."""
    magic, width, height, maxval, pixels = pgm.split(maxsplit=4)
    assert magic == b"P5" and maxval == b"255"
    pixels = pixels[: int(width) * int(height)]
    return sum(1 for v in pixels if v < 200) / len(pixels)


def test_a_page_with_an_equation_is_rendered(pages, tmp_path):
    _need(shutil.which("pdftoppm") is not None, "pdftoppm is missing (Debian: poppler-utils)")
    # The empirical loss, equation (1.1), is the first numbered equation of the course.
    hits = [i for i, p in enumerate(pages) if "(1.1)" in p and i > 1]
    assert hits, "no page shows equation (1.1)"
    page = hits[0] + 1
    out = tmp_path / "page"
    subprocess.run(["pdftoppm", "-gray", "-r", "50", "-f", str(page), "-l", str(page),
                    "-singlefile", str(PDF), str(out)], check=True)
    ink = _ink((tmp_path / "page.pgm").read_bytes())
    # A typeset page of prose and math: ink on a few percent of it, neither blank nor a black box.
    assert 0.01 < ink < 0.4, f"page {page} looks wrong: {ink:.1%} of it is ink"
    # The sum and the fraction of (1.1) came out as symbols, not as TeX source.
    assert "∑" in pages[hits[0]] or "Σ" in pages[hits[0]], "the sum sign of (1.1) is missing"
