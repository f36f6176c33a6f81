"""Notebooks are stored without run-to-run noise and with their solutions folded for JupyterLab.

tools/clean_notebooks.py strips each cell's execution timestamps and the saved widget state
(outputs stay) and folds the cells of every exercise solution (jupyter.source_hidden /
outputs_hidden). The last test runs its --check over the committed notebooks: it fails until
`python tools/clean_notebooks.py` has been run on them (the pre-commit hook does it on commit).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "clean_notebooks.py"
_spec = importlib.util.spec_from_file_location("clean_notebooks", TOOL)
clean_notebooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(clean_notebooks)

STAMP = {"iopub.execute_input": "2026-11-26T04:11:17.249068Z",
         "shell.execute_reply": "2026-11-26T04:11:17.253805Z"}


def _notebook() -> dict:
    md = lambda text, **meta: {"cell_type": "markdown", "id": text[:8].strip("`{ ") or "m",  # noqa: E731
                               "metadata": meta, "source": text}
    code = {"cell_type": "code", "execution_count": 3, "id": "c1",
            "metadata": {"execution": dict(STAMP), "tags": ["hide-input"]},
            "outputs": [{"name": "stdout", "output_type": "stream", "text": "7.0\n"}],
            "source": "print(2 * 3 + 1.0)"}
    return {"cells": [
        md("````{exercise} Square\n:label: ex-sq\nWhat is d(x*x + x)/dx at 3?\n````"),
        md("````{solution-start} ex-sq\n:class: dropdown\n````"),
        md("It is 2x + 1 = 7."),
        code,
        md("````{solution-end}\n````"),
        md("After the exercises."),
    ], "metadata": {"kernelspec": {"name": "python3"}, "widgets": {"state": {"abc": {}}}},
        "nbformat": 4, "nbformat_minor": 5}


def test_clean_strips_timestamps_and_folds_only_the_solution():
    nb = clean_notebooks.clean(_notebook())
    cells = nb["cells"]
    assert "widgets" not in nb["metadata"] and nb["metadata"]["kernelspec"]
    assert "execution" not in cells[3]["metadata"] and cells[3]["metadata"]["tags"] == ["hide-input"]
    assert cells[3]["outputs"][0]["text"] == "7.0\n" and cells[3]["execution_count"] == 3
    assert cells[2]["metadata"]["jupyter"] == {"source_hidden": True}
    assert cells[3]["metadata"]["jupyter"] == {"source_hidden": True, "outputs_hidden": True}
    for k in (0, 1, 4, 5):  # the exercise, the start and end markers, what follows
        assert "jupyter" not in cells[k]["metadata"], k
    assert clean_notebooks.problems(nb) == []
    assert clean_notebooks.dumps(clean_notebooks.clean(json.loads(clean_notebooks.dumps(nb)))) \
        == clean_notebooks.dumps(nb), "cleaning twice changes the file"


def test_clean_merges_split_printing_and_drops_widget_views():
    view = "application/vnd.jupyter.widget-view+json"
    cell = {"cell_type": "code", "execution_count": 1, "id": "w", "metadata": {}, "source": "...",
            "outputs": [
                {"name": "stdout", "output_type": "stream", "text": ["step 1\n"]},
                {"name": "stdout", "output_type": "stream", "text": "step 2\n"},
                {"name": "stderr", "output_type": "stream", "text": "warning\n"},
                {"name": "stdout", "output_type": "stream", "text": "step 3\n"},
                {"output_type": "display_data", "metadata": {},
                 "data": {view: {"model_id": "5f1c", "version_major": 2},
                          "text/plain": "interactive(children=(...))"}},
                {"output_type": "display_data", "metadata": {}, "data": {view: {"model_id": "9a"}}},
            ]}
    nb = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    assert clean_notebooks.problems(nb)
    out = clean_notebooks.clean(nb)["cells"][0]["outputs"]
    assert [o.get("name") for o in out] == ["stdout", "stderr", "stdout", None]
    assert out[0]["text"] == "step 1\nstep 2\n" and out[2]["text"] == "step 3\n"
    assert out[3]["data"] == {"text/plain": "interactive(children=(...))"}
    assert clean_notebooks.problems(nb) == []


def test_problems_names_what_is_wrong():
    found = clean_notebooks.problems(_notebook())
    assert any("execution metadata" in f for f in found)
    assert any("widget" in f for f in found)
    assert any("2 solution cell(s) not folded" in f for f in found)


def test_check_mode_reports_and_changes_nothing(tmp_path):
    path = tmp_path / "nb.ipynb"
    text = json.dumps(_notebook(), indent=1)
    path.write_text(text)
    run = lambda *a: subprocess.run([sys.executable, str(TOOL), *a, str(path)],  # noqa: E731
                                    capture_output=True, text=True, timeout=60)
    out = run("--check")
    assert out.returncode == 1 and "not folded" in out.stdout
    assert path.read_text() == text
    out = run()
    assert out.returncode == 0 and "cleaned" in out.stdout
    assert run("--check").returncode == 0
    # Written as Jupyter writes notebooks, so a save from JupyterLab changes nothing more.
    assert path.read_text() == json.dumps(json.loads(path.read_text()), sort_keys=True, indent=1,
                                          ensure_ascii=False) + "\n"


def test_committed_notebooks_are_clean():
    """Fails until `python tools/clean_notebooks.py` has been run on the committed notebooks."""
    out = subprocess.run([sys.executable, str(TOOL), "--check"], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert out.returncode == 0, (
        "notebooks stored with execution metadata or unfolded solutions; run "
        "`.venv/bin/python tools/clean_notebooks.py`:\n" + out.stdout)
