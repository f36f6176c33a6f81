"""The repository address is set once, in _config.yml, and every notebook's Colab cell follows it."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "sync_repo_url.py"
_spec = importlib.util.spec_from_file_location("sync_repo_url", TOOL)
sync_repo_url = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sync_repo_url)

URL = sync_repo_url.configured_url()
NOTEBOOKS = sync_repo_url.notebooks()


def test_config_names_a_repository():
    assert URL.startswith("https://"), f"_config.yml repository url is {URL!r}"


def test_every_chapter_is_checked():
    names = {p.relative_to(ROOT).as_posix() for p in NOTEBOOKS}
    for n in (1, 2, 3, 4):
        assert any(name.startswith(f"chapters/0{n}_") for name in names), f"chapter {n} is missing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_setup_cell_installs_from_configured_repository(path):
    nb = nbformat.read(path, as_version=4)
    cell = sync_repo_url.setup_cell(nb)
    if cell is None and not sync_repo_url.needs_setup_cell(path):
        pytest.skip(f"{path.name} has no Colab setup cell")
    assert cell is not None, (
        f"{path.name}: the first code cell must be the Colab setup cell that pip-installs dagprop")
    assert "remove-cell" in cell.metadata.get("tags", []), (
        f"{path.name}: tag the Colab setup cell 'remove-cell' so the website hides it")
    assert sync_repo_url.urls_in(cell) == [URL], (
        f"{path.name} installs from {sync_repo_url.urls_in(cell)}, _config.yml says {URL}: "
        "run `python tools/sync_repo_url.py`")


def _notebook(url):
    nb = nbformat.v4.new_notebook()
    setup = nbformat.v4.new_code_cell(
        'import sys\n\nif "google.colab" in sys.modules:\n    import subprocess\n\n'
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q",\n'
        f'                    "dagprop @ git+{url}#subdirectory=code"],\n'
        '                   check=True)')
    setup.metadata["tags"] = ["remove-cell"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# Title\nSee {url} too."), setup,
                nbformat.v4.new_code_cell(f'print("{url}")')]
    return nb


def test_sync_rewrites_the_setup_cell_and_nothing_else(tmp_path):
    new = "https://example.org/someone/fork"
    (tmp_path / "_config.yml").write_text(f"repository:\n  url: {new}/\n")
    (tmp_path / "chapters").mkdir()
    (tmp_path / "assignments" / "a1").mkdir(parents=True)
    paths = [tmp_path / "chapters" / "c.ipynb", tmp_path / "assignments" / "a1" / "a.ipynb"]
    for p in paths:
        nbformat.write(_notebook("https://github.com/old/place"), p)
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "pyproject.toml").write_text(
        '[project.urls]\nHomepage = "https://github.com/old/place"\n'
        'Source = "https://github.com/old/place/tree/main/code"\n')
    (tmp_path / "CITATION.cff").write_text("title: T\nrepository-code: https://github.com/old/place\n")

    def run(*flags):
        return subprocess.run([sys.executable, str(TOOL), "--root", str(tmp_path), *flags],
                              check=False, capture_output=True, text=True)

    assert run("--check").returncode == 1
    assert run().returncode == 0
    assert run("--check").returncode == 0
    for p in paths:
        nb = nbformat.read(p, as_version=4)
        assert f"dagprop @ git+{new}#subdirectory=code" in nb.cells[1].source
        assert "old/place" in nb.cells[0].source and "old/place" in nb.cells[2].source
        assert nb.cells[1].metadata["tags"] == ["remove-cell"]
    assert (tmp_path / "code" / "pyproject.toml").read_text() == (
        f'[project.urls]\nHomepage = "{new}"\nSource = "{new}/tree/main/code"\n')
    assert (tmp_path / "CITATION.cff").read_text() == f"title: T\nrepository-code: {new}\n"


def test_package_and_citation_name_the_configured_repository():
    for name in sync_repo_url.URL_LINES:
        assert sync_repo_url.sync_file(ROOT, name, URL, write=False) is None, (
            f"{name} names another repository than _config.yml: run `python tools/sync_repo_url.py`")
