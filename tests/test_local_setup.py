"""The doors for running the course on one's own machine: `make setup`, `make book`, the README.

`make setup` must stop at once, saying what to do, on a Python older than 3.11 (pip would
otherwise fail deep inside numpy's install), and say what it is about to download. The README's
"Without make" commands must be the ones the Makefile runs (the nbval line needs the sanitizer).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _make(*args, timeout=60):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), *args],
                          capture_output=True, text=True, timeout=timeout)


def _fake_python(tmp_path: Path, version: str) -> Path:
    fake = tmp_path / "bin" / "python3.10"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\n# a stand-in for an old interpreter\necho {version}\n")
    fake.chmod(0o755)
    return fake


def test_setup_stops_at_once_on_an_old_python(tmp_path):
    fake = _fake_python(tmp_path, "3.10")
    venv = tmp_path / "venv"
    start = time.monotonic()
    out = _make("setup", f"PYTHON={fake}", f"VENV={venv}")
    assert out.returncode != 0
    assert time.monotonic() - start < 30
    assert "3.10" in out.stderr and "3.11 or newer" in out.stderr, out.stderr
    assert "make setup PYTHON=python3.12" in out.stderr
    assert not venv.exists(), "setup created a virtual environment with the old interpreter"


def test_an_old_existing_venv_is_named(tmp_path):
    fake = _fake_python(tmp_path, "3.9")
    out = subprocess.run([str(ROOT / "tools" / "check-python.sh"), str(fake)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "3.9" in out.stderr
    venv_python = tmp_path / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    shutil.copy(fake, venv_python)
    out = subprocess.run([str(ROOT / "tools" / "check-python.sh"), str(venv_python)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "rm -rf .venv" in out.stderr


def test_this_python_passes_the_check():
    out = subprocess.run([str(ROOT / "tools" / "check-python.sh"), sys.executable],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr


def test_first_setup_says_what_it_installs(tmp_path):
    out = _make("-n", "setup", f"VENV={tmp_path / 'venv'}")
    assert re.search(r"about [\d.]+ GB, a minute or more", out.stdout), out.stdout
    out = _make("-n", "setup", f"VENV={tmp_path / 'venv'}",
                "TORCH_INDEX=https://download.pytorch.org/whl/cpu")
    assert re.search(r"pip install -q .*torch==.* --index-url https://download.pytorch.org/whl/cpu",
                     out.stdout), out.stdout


def test_requires_python_is_stated_where_pip_and_readers_look():
    project = tomllib.loads((ROOT / "code" / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["requires-python"] == ">=3.11"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "Python 3.11" in readme


def _without_make_block() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Without make", 1)[1].split("\n## ", 1)[0]
    return "\n".join(re.findall(r"```bash\n(.*?)```", section, re.DOTALL))


def test_readme_without_make_runs_what_make_runs():
    block = _without_make_block()
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    nbval_flags = re.search(r"^NBVAL := (.*)$", makefile, re.MULTILINE).group(1).split()
    nbval_lines = [line for line in block.splitlines() if "--nbval" in line]
    assert nbval_lines, "the README has no nbval command"
    for line in nbval_lines:
        for flag in nbval_flags:
            assert flag in line.split(), f"README's nbval command lacks {flag}: {line}"
    assert "requires Python 3.11" in block or "python3.11" in block or "python3 " in block
    book = [line for line in block.splitlines() if "jupyter-book build" in line]
    assert book and all("--warningiserror" in line for line in book)


def test_book_build_does_not_dump_its_configuration():
    out = _make("-n", "book")
    assert re.search(r"jupyter-book build -q ", out.stdout), out.stdout
