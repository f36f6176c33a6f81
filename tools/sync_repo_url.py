"""Copy the repository address from _config.yml into every place that names it.

    python tools/sync_repo_url.py           # rewrite the notebooks that name another address
    python tools/sync_repo_url.py --check   # only report them; exit status 1 if there are any

The address lives in one place, ``repository: url:`` in _config.yml; the launch buttons read it
from there. The first code cell of each notebook in chapters/ and assignments/ (tagged
``remove-cell``) installs the engine on Colab with
``pip install "dagprop @ git+<url>#subdirectory=code"``; this script keeps ``<url>`` equal to the
configured one. Nothing else in a notebook is touched. Every chapter must have the setup cell; an
assignment without one is left alone. The package's links (``[project.urls]`` in code/pyproject.toml)
and the citation file (``repository-code`` in CITATION.cff) are kept equal to it too.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIRS = ("chapters", "assignments")
REQUIRED_IN = ("chapters",)  # folders whose notebooks must all start with the setup cell
# The pip requirement inside the setup cell: dagprop @ git+<url>#subdirectory=code
PIP_URL = re.compile(r"(dagprop @ git\+)([^\s\"'#]+)(#subdirectory=code)")


# Other files that name the repository: a line per key, its value the address plus a fixed suffix.
URL_LINES = {
    "code/pyproject.toml": {"Homepage": "", "Source": "/tree/main/code", "Issues": "/issues"},
    "CITATION.cff": {"repository-code": ""},
}


def configured_url(root: Path = ROOT) -> str:
    """``repository: url:`` from _config.yml, without a trailing slash."""
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    try:
        url = config["repository"]["url"]
    except (KeyError, TypeError):
        raise SystemExit("_config.yml has no `repository: url:` entry") from None
    return str(url).rstrip("/")


def notebooks(root: Path = ROOT) -> list[Path]:
    """Every notebook under chapters/ and assignments/ (not checkpoints)."""
    found = []
    for folder in NOTEBOOK_DIRS:
        found += [p for p in sorted((root / folder).rglob("*.ipynb"))
                  if ".ipynb_checkpoints" not in p.parts]
    return found


def setup_cell(nb) -> nbformat.NotebookNode | None:
    """The Colab setup cell: the first code cell, if it installs dagprop on Colab."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    if code and "google.colab" in code[0].source and PIP_URL.search(code[0].source):
        return code[0]
    return None


def needs_setup_cell(path: Path) -> bool:
    return any(folder in path.parts for folder in REQUIRED_IN)


def urls_in(cell) -> list[str]:
    return [m.group(2) for m in PIP_URL.finditer(cell.source)]


def sync(path: Path, url: str, write: bool) -> str | None:
    """Bring one notebook in line; return a line describing the problem or change, or None."""
    nb = nbformat.read(path, as_version=4)
    cell = setup_cell(nb)
    if cell is None:
        if needs_setup_cell(path):
            return f"{path}: the first code cell is not the Colab setup cell that installs dagprop"
        return None
    if all(u == url for u in urls_in(cell)):
        return None
    old = ", ".join(sorted(set(urls_in(cell))))
    if write:
        cell.source = PIP_URL.sub(lambda m: m.group(1) + url + m.group(3), cell.source)
        nbformat.write(nb, path)
        return f"{path}: {old} -> {url}"
    return f"{path}: names {old}, _config.yml says {url}"


def sync_file(root: Path, name: str, url: str, write: bool) -> str | None:
    """Bring the address lines of one text file in line; a line describing the change, or None."""
    path = root / name
    if not path.exists():
        return None
    text = path.read_text(encoding="utf-8")
    new = text
    for key, suffix in URL_LINES[name].items():
        # key = "value" (TOML) or key: "value" / key: value (YAML)
        pattern = re.compile(rf'^(\s*{re.escape(key)}\s*[:=]\s*"?)([^"\s]+)("?\s*)$', re.MULTILINE)
        new = pattern.sub(lambda m, s=suffix: m.group(1) + url + s + m.group(3), new)
    if new == text:
        return None
    if write:
        path.write_text(new, encoding="utf-8")
        return f"{path}: now names {url}"
    return f"{path}: names another address than _config.yml's {url}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report only, change nothing")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    url = configured_url(args.root)
    problems = 0
    for path in notebooks(args.root):
        message = sync(path, url, write=not args.check)
        if message:
            print(message)
            problems += args.check or "not the Colab setup cell" in message
    for name in URL_LINES:
        message = sync_file(args.root, name, url, write=not args.check)
        if message:
            print(message)
            problems += args.check
    if args.check and problems:
        print("run `python tools/sync_repo_url.py` to rewrite the setup cells", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
