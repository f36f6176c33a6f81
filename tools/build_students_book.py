"""Build the students' edition of the website: the same book with every exercise solution removed.

This script writes a copy of _config.yml (under _build/, so there is still one config to edit) with
sphinx-exercise's ``hide_solutions`` option set and tools/students_edition.py loaded, which also
removes gated solutions, and builds the book into _build/students/html.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config.setdefault("sphinx", {}).setdefault("config", {})["hide_solutions"] = True
    config["title"] = f"{config.get('title', 'Book')} (students' edition)"
    # The copy lives under _build/, so paths in it that are relative to the repository become absolute.
    local = dict(config["sphinx"].get("local_extensions") or {}, students_edition="tools/")
    config["sphinx"]["local_extensions"] = {name: str(ROOT / path) for name, path in local.items()}
    extensions = config["sphinx"]["config"].setdefault("extensions", [])
    extensions.append("students_edition")
    out = ROOT / "_build" / "students"
    out.mkdir(parents=True, exist_ok=True)
    cfg = out / "_config.yml"
    cfg.write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", "-q", "--warningiserror",
           "--keep-going", "--config", str(cfg), "--path-output", str(out), str(ROOT)]
    # jupyter-book puts the site in <path-output>/_build/html; keep it at _build/students/html.
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
