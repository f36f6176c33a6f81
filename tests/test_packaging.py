"""dagprop can be published as it is: `python -m build` and `twine check` pass, offline.

The wheel and sdist are built without build isolation (setuptools comes from the course's pinned
environment), so the test needs no network. The metadata must say what a user of PyPI relies on.
"""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import dagprop

ROOT = Path(__file__).resolve().parent.parent
CODE = ROOT / "code"


def _git_status(path: Path) -> str:
    return subprocess.run(["git", "status", "--porcelain", "--ignored=no", str(path)], cwd=ROOT,
                          capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    if shutil.which("git") is None:
        pytest.skip("git is missing")
    before = _git_status(CODE)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out),
                    str(CODE)], check=True, capture_output=True, text=True)
    assert _git_status(CODE) == before, "building the package left files git does not ignore"
    return out


def test_build_makes_a_wheel_and_an_sdist_that_twine_accepts(dist):
    files = sorted(p.name for p in dist.iterdir())
    version = dagprop.__version__
    assert files == [f"dagprop-{version}-py3-none-any.whl", f"dagprop-{version}.tar.gz"]
    check = subprocess.run([sys.executable, "-m", "twine", "check", "--strict",
                            *map(str, dist.iterdir())],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_wheel_metadata(dist):
    wheel = next(dist.glob("*.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = email.message_from_bytes(z.read(f"dagprop-{dagprop.__version__}.dist-info/METADATA"))
    assert "dagprop/py.typed" in names, "the wheel does not say it is typed"
    assert any(n.endswith("licenses/LICENSE") for n in names), "the wheel lacks its license file"
    assert meta["Version"] == dagprop.__version__  # one source: dagprop.__version__
    assert meta["License-Expression"] == "MIT"
    assert meta["Requires-Python"] == ">=3.11"
    assert "Typing :: Typed" in meta.get_all("Classifier")
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
    assert {"Homepage", "Source", "Issues"} <= set(urls)
    assert meta["Description-Content-Type"] == "text/markdown"
    assert "import dagprop as dp" in meta.get_payload()  # the README is the package description
    requires = meta.get_all("Requires-Dist")
    assert not any(r.startswith("torch") for r in requires), "the engine must not need torch"
