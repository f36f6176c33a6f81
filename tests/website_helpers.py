"""What the browser tests of the website share: Chromium, the built pages, and a local web server.

The tests drive Debian's Chromium through playwright's Python package (playwright's own browser
downloads are never used). Outside CI a test skips when Chromium, playwright or the built website
is missing; with CI=true it fails instead, so a CI run cannot pass by skipping.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]



def toc_pages() -> list[str]:
    """The documents in _toc.yml, root first, without suffix (e.g. 'chapters/01_loss_surfaces')."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    return [str(Path(p).with_suffix("")) for p in pages]


# The pages of the book (the introduction, the chapters, an appendix) and the search page.
PAGES = toc_pages()
ALL_PAGES = [*PAGES, "search"]
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1400, "height": 900}


def skip_or_fail(message: str):
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def require_built() -> None:
    if not (HTML / "index.html").exists():
        skip_or_fail("the website is not built: run `make book` first")


def chromium() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        skip_or_fail("Chromium is needed for the website checks: `sudo apt-get install chromium` "
                     "(or run `make test`, which installs it)")
    return path


@contextlib.contextmanager
def launched_browser():
    """Debian's Chromium, headless, with a fresh profile."""
    path = chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("the playwright package is missing: `make setup` installs requirements.txt")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def wait_for_math(tab) -> None:
    """MathJax has typeset the page, and course.js has had its turn after it."""
    tab.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    tab.evaluate("() => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)))")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served(directory: Path):
    """tools/serve.py serving `directory` on a free localhost port; yields the base URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "tools" / "serve.py"), "--port", str(port),
                             "--directory", str(directory)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"tools/serve.py did not start: {proc.stdout.read()}") from None
                time.sleep(0.1)
        yield url
    finally:
        stop(proc, timeout=10)


def stop(proc: subprocess.Popen, timeout: float) -> None:
    """Ask a server started by a test to stop; kill it if it is still running after ``timeout``."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
