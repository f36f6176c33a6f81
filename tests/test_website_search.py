"""`make serve` serves the website over http, where search lists its hits with snippets.

From file:// the search page finds pages but cannot fetch their text for the snippets (Chromium
blocks those requests), so the README sends readers who want search to `make serve`.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from website_helpers import HTML, ROOT, launched_browser, require_built, served


@pytest.fixture(scope="module")
def browser():
    require_built()
    with launched_browser() as b:
        yield b


def test_serve_prints_its_url_and_refuses_an_unbuilt_site(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "serve.py"), "--directory",
                          str(tmp_path)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "make book" in out.stderr


def test_search_over_http_shows_snippets(browser):
    with served(HTML) as url:
        tab = browser.new_page()
        errors = []
        tab.on("console", lambda m: m.type == "error" and errors.append(m.text))
        tab.goto(url + "search.html?q=gradient", wait_until="load")
        hits = tab.locator("ul.search li")
        hits.first.wait_for(timeout=20_000)
        # Sphinx fills the hits one by one; wait until it says how many it found.
        tab.wait_for_function(
            "() => (document.querySelector('#search-results p.search-summary') || {}).textContent",
            timeout=20_000)
        n = hits.count()
        assert n >= 3, f"search for 'gradient' found {n} pages"
        snippets = [t.strip() for t in tab.locator("ul.search li p.context").all_inner_texts()]
        assert len(snippets) == n and all("gradient" in s.lower() for s in snippets), (
            f"hits without a snippet showing the word: {snippets}")
        assert not errors, f"console errors on the search page: {errors}"
        tab.close()


def test_serve_prints_the_url_it_serves_on():
    require_built()
    proc = subprocess.Popen([sys.executable, str(ROOT / "tools" / "serve.py"), "--port", "18431"],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = proc.stdout.readline()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert "_build/html at http://127.0.0.1:" in line, line
