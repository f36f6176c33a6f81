"""Store notebooks without run-to-run noise, and with exercise solutions folded in JupyterLab.

    python tools/clean_notebooks.py [NOTEBOOK ...]          # rewrite in place
    python tools/clean_notebooks.py --check [NOTEBOOK ...]  # only report; exit 1 if any needs it

Without names it treats chapters/*.ipynb and assignments/*.ipynb. Outputs stay: the website is
built from them and nbval compares them. What goes:

- each cell's ``execution`` metadata (the kernel's timestamps, new on every run: re-running a
  chapter would otherwise change ~150 lines that say nothing);
- the notebook's ``widgets`` metadata (the saved state of ipywidgets, with fresh random ids on
  every run; the explorables rebuild their widgets when run), and with it the widget views in
  the outputs (each names a random model id; without the saved state they could not be drawn
  anyway, so the output keeps only its text form);
- the split of printed text into pieces: consecutive stream outputs of a cell (stdout, stderr)
  are merged into one, as the website and nbval merge them, so a run that happened to flush
  twice does not differ from one that flushed once.

What is set: in a chapter, every cell between a ``{solution-start}`` and its ``{solution-end}``
markdown cell (the sphinx-exercise gated markup, unchanged) gets ``jupyter.source_hidden`` and, for
code, ``jupyter.outputs_hidden``. JupyterLab then shows the solution as folded cells under the
"Solution to Exercise N" heading that jupyterlab-myst renders; a click on the bar at the cell's
left unfolds it. The website ignores this metadata: there the solutions are dropdowns.

The file is written the way Jupyter itself writes notebooks (sorted keys, one-space indent), so
saving from JupyterLab and cleaning give the same bytes. Only the standard library is used, so
the pre-commit hook needs no environment.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_START = re.compile(r"^\s*(`{3,}|:{3,})\s*\{solution-start\}", re.MULTILINE)
_END = re.compile(r"^\s*(`{3,}|:{3,})\s*\{solution-end\}", re.MULTILINE)


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return src if isinstance(src, str) else "".join(src)


def solution_cells(nb: dict) -> list[int]:
    """Indices of the cells strictly between a solution-start and its solution-end cell."""
    inside, found = False, []
    for k, cell in enumerate(nb.get("cells", [])):
        markdown = cell.get("cell_type") == "markdown"
        if markdown and _START.search(_source(cell)):
            inside = True
        elif markdown and _END.search(_source(cell)):
            inside = False
        elif inside:
            found.append(k)
    return found


def problems(nb: dict) -> list[str]:
    """What clean() would change, in words."""
    found = []
    timed = [k for k, c in enumerate(nb.get("cells", [])) if "execution" in c.get("metadata", {})]
    if timed:
        found.append(f"execution metadata in {len(timed)} cell(s), e.g. cell {timed[0]}")
    if "widgets" in nb.get("metadata", {}):
        found.append("saved widget state (metadata.widgets)")
    noisy = [k for k, c in enumerate(nb.get("cells", [])) if _noisy_outputs(c)]
    if noisy:
        found.append(f"split printed output or widget views in {len(noisy)} cell(s), "
                     f"e.g. cell {noisy[0]}")
    unfolded = []
    for k in solution_cells(nb):
        cell = nb["cells"][k]
        jupyter = cell.get("metadata", {}).get("jupyter", {})
        if not jupyter.get("source_hidden") or (
                cell.get("cell_type") == "code" and not jupyter.get("outputs_hidden")):
            unfolded.append(k)
    if unfolded:
        found.append(f"{len(unfolded)} solution cell(s) not folded, e.g. cell {unfolded[0]}")
    return found


_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _text(value) -> str:
    return value if isinstance(value, str) else "".join(value)


def _clean_outputs(outputs: list) -> list:
    """Merge consecutive stream outputs of the same name; drop widget views."""
    cleaned = []
    for out in outputs:
        data = out.get("data")
        if data and _WIDGET_VIEW in data:
            data.pop(_WIDGET_VIEW)
            if not data:
                continue
        last = cleaned[-1] if cleaned else None
        if (out.get("output_type") == "stream" and last is not None
                and last.get("output_type") == "stream" and last.get("name") == out.get("name")):
            last["text"] = _text(last["text"]) + _text(out["text"])
            continue
        cleaned.append(out)
    return cleaned


def _noisy_outputs(cell: dict) -> bool:
    outputs = cell.get("outputs", [])
    return _clean_outputs(json.loads(json.dumps(outputs))) != outputs


def clean(nb: dict) -> dict:
    for cell in nb.get("cells", []):
        cell.get("metadata", {}).pop("execution", None)
        if "outputs" in cell:
            cell["outputs"] = _clean_outputs(cell["outputs"])
    nb.get("metadata", {}).pop("widgets", None)
    for k in solution_cells(nb):
        cell = nb["cells"][k]
        jupyter = cell.setdefault("metadata", {}).setdefault("jupyter", {})
        jupyter["source_hidden"] = True
        if cell.get("cell_type") == "code":
            jupyter["outputs_hidden"] = True
    return nb


def dumps(nb: dict) -> str:
    return json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; list what needs cleaning and exit 1 if anything does")
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted([*ROOT.glob("chapters/*.ipynb"),
                                      *ROOT.glob("assignments/*.ipynb")])
    dirty = 0
    for path in paths:
        text = path.read_text(encoding="utf-8")
        nb = json.loads(text)
        if args.check:
            found = problems(nb)
            if found:
                dirty += 1
                print(f"{_shown(path)}: " + "; ".join(found))
            continue
        new = dumps(clean(nb))
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"cleaned {_shown(path)}")
    if args.check and dirty:
        print(f"{dirty} notebook(s) need `python tools/clean_notebooks.py`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
