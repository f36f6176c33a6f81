"""What a student sees after `make lab`: a chapter opened in JupyterLab, in headless Chromium.

tools/lab.py starts JupyterLab (with jupyterlab-myst) on a copy of a chapter, on a free localhost
port; Debian's Chromium opens the notebook and the test reads the page as a student would: the
MyST markup is rendered (math typeset, the {figure} shown, margin notes as notes, no raw
directives or roles), and every exercise solution is folded, with nothing of it readable until
the student opens it. The copy is folded with tools/clean_notebooks.py first, as committed
notebooks are (tests/test_notebooks_clean.py checks that they are).

Outside CI the test skips when Chromium, playwright or JupyterLab is missing; with CI=true it fails.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from website_helpers import ROOT, free_port, launched_browser, skip_or_fail, stop

LAB = ROOT / "tools" / "lab.py"
_spec = importlib.util.spec_from_file_location("clean_notebooks", ROOT / "tools" / "clean_notebooks.py")
clean_notebooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(clean_notebooks)


def _source(cell):
    src = cell["source"]
    return src if isinstance(src, str) else "".join(src)


def _chapter() -> Path:
    """The chapter that uses the most kinds of MyST markup: a figure, margin notes, solutions."""
    def score(path):
        text = path.read_text(encoding="utf-8")
        return sum(k in text for k in ("{figure}", "{margin}", "{eq}", "solution-start"))
    return max(sorted((ROOT / "chapters").glob("0*.ipynb")), key=score)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if importlib.util.find_spec("jupyterlab") is None or importlib.util.find_spec(
            "jupyterlab_myst") is None:
        skip_or_fail("JupyterLab with jupyterlab-myst is not installed: run `make setup`")
    with launched_browser() as browser:
        tmp = tmp_path_factory.mktemp("lab")
        (tmp / "chapters").mkdir()
        shutil.copytree(ROOT / "img", tmp / "img")
        chapter = _chapter()
        nb = clean_notebooks.clean(json.loads(chapter.read_text(encoding="utf-8")))
        (tmp / "chapters" / chapter.name).write_text(clean_notebooks.dumps(nb), encoding="utf-8")
        # The student's settings are not ours to read: a fresh settings folder, with every cell
        # in the page (no windowing) and without the news pop-up.
        settings = tmp / "settings" / "@jupyterlab"
        (settings / "notebook-extension").mkdir(parents=True)
        (settings / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
            json.dumps({"windowingMode": "none"}))
        (settings / "apputils-extension").mkdir(parents=True)
        (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        port, token = free_port(), secrets.token_hex(16)
        env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
                   JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"))
        log = (tmp / "lab.log").open("w")
        proc = subprocess.Popen([sys.executable, str(LAB), "--root", str(tmp),
                                 "--port", str(port), f"--IdentityProvider.token={token}",
                                 "--ServerApp.port_retries=0"],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5):
                        break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        pytest.fail("JupyterLab did not start:\n" + (tmp / "lab.log").read_text())
                    time.sleep(0.5)
            tab = browser.new_page(viewport={"width": 1400, "height": 1000})
            tab.goto(f"{base}/lab/tree/chapters/{chapter.name}?token={token}", wait_until="load")
            tab.wait_for_selector(".jp-Notebook .jp-MarkdownCell .jp-RenderedMarkdown, "
                                  ".jp-Notebook .jp-MarkdownCell .myst", timeout=120_000)
            n_cells = len(nb["cells"])
            tab.wait_for_function(f"() => document.querySelectorAll('.jp-Notebook .jp-Cell')"
                                  f".length >= {n_cells}", timeout=60_000)
            # Rendering is lazy: wait until every markdown cell is rendered and the math typeset.
            tab.wait_for_function("""() => Array.from(document.querySelectorAll(
                '.jp-Notebook .jp-MarkdownCell')).every(c => c.querySelector('.jp-Placeholder') ||
                c.classList.contains('jp-mod-rendered'))""", timeout=60_000)
            tab.wait_for_timeout(1500)
            yield tab, nb
            tab.screenshot(path=str(tmp / "lab.png"))
        finally:
            stop(proc, timeout=20)
            log.close()


def _cell(tab, k):
    return tab.locator(".jp-Notebook .jp-Cell").nth(k)


# What a reader sees of the notebook: rendered markdown and code, not the hidden editors.
_VISIBLE_TEXT = "() => document.querySelector('.jp-Notebook').innerText"


def test_myst_markup_is_rendered(lab):
    tab, nb = lab
    text = tab.evaluate(_VISIBLE_TEXT)
    raw = re.findall(r"\{(?:eq|doc|numref|ref)\}`|^`{3,}\{(?:margin|figure|exercise)\}", text,
                     re.MULTILINE)
    assert not raw, f"raw MyST in JupyterLab: {raw[:5]}"
    typeset = tab.locator(".jp-MarkdownCell mjx-container, .jp-MarkdownCell .katex").count()
    assert typeset >= 10, f"only {typeset} formulas typeset in the markdown cells"
    assert "$" not in "".join(
        tab.locator(".jp-MarkdownCell.jp-mod-rendered p").all_inner_texts()), "raw $...$ math"

    markdown = "\n".join(_source(c) for c in nb["cells"] if c["cell_type"] == "markdown")
    if "{figure}" in markdown:
        images = tab.locator(".jp-MarkdownCell figure img, .jp-MarkdownCell .myst img")
        assert images.count() >= 1, "the {figure} is not shown"
        widths = [images.nth(k).evaluate("i => i.complete && i.naturalWidth")
                  for k in range(images.count())]
        assert all(widths), f"a figure's image did not load: {widths}"
    # Margin notes: their title and text are shown, as notes, not as a code block.
    margins = re.findall(r"^`{3,}\{margin\}\s*(.*)\n(.*)\n", markdown, re.MULTILINE)
    assert margins or "{margin}" not in markdown
    asides = tab.locator(".jp-MarkdownCell aside")
    assert asides.count() >= len(margins), (
        f"{len(margins)} margin notes in the notebook, {asides.count()} shown as notes")
    shown = " ".join(" ".join(asides.all_inner_texts()).split())
    for title, _ in margins:
        assert title.strip() in shown, f"margin note {title!r} is not shown"


def test_solutions_are_folded_until_opened(lab):
    tab, nb = lab
    inside = clean_notebooks.solution_cells(nb)
    assert inside, "the chapter has no exercise solutions"
    for k in inside:
        cell = _cell(tab, k)
        cell.scroll_into_view_if_needed()
        assert cell.locator(".jp-Placeholder").count() >= 1, f"solution cell {k} is not folded"
        shown = " ".join(cell.inner_text().split())
        first = " ".join(_source(nb["cells"][k]).strip().splitlines()[0].split())[:25]
        assert first not in shown, f"solution cell {k} shows {first!r} while folded: {shown!r}"
        # Only the fold bar is there: no more than a short hint, none of the cell's words.
        assert len(shown) < 40, f"solution cell {k} shows {shown!r} while folded"

    # A click opens a folded solution: its text is then there to read.
    k = next(k for k in inside if nb["cells"][k]["cell_type"] == "markdown")
    cell = _cell(tab, k)
    cell.locator(".jp-Placeholder").first.click()
    tab.wait_for_timeout(800)
    words = re.sub(r"[`$*\\{}]", " ", _source(nb["cells"][k])).split()[:3]
    assert cell.locator(".jp-Placeholder").count() == 0, "a click did not unfold the solution"
    assert len(cell.inner_text().strip()) > 40, f"the opened solution shows nothing ({words})"


def test_make_lab_runs_tools_lab():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^lab:.*\n(\t.*\n)*\t.*tools/lab\.py", makefile, re.MULTILINE), (
        "`make lab` should start tools/lab.py")
